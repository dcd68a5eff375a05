"""Code a dependency's install script generates (Prisma's client): found from the lockfile and
the schema, run by the build itself, and refused with its sentence when it cannot run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.plan.describe import describe_plan
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.project import NodeProject
from pipelines.project.generated import Generate, GenerateError, find_generate
from pipelines.settings import load_settings
from tests.conftest import REPO

LOCKFILES = REPO / "tests" / "fixtures" / "lockfiles"
PRISMA6 = LOCKFILES / "prisma6-client"  # npm, @prisma/client and prisma 6.19.3
PRISMA_PNPM = LOCKFILES / "prisma-pnpm"  # pnpm 10, the same versions
PRISMA7 = REPO / "tests" / "fixtures" / "services" / "prisma-client"  # npm, Prisma 7.10.1


def generate_of(source: Path) -> Generate | None:
    """What the project at `source` needs generated."""
    project = NodeProject.load(source)
    entries = project.packager.read_lockfile(project.source, project.manifest)
    return find_generate(project.source, "", project.manifest, entries)


def copy(source: Path, tmp_path: Path) -> Path:
    """A copy of a fixture the test may change."""
    return Path(shutil.copytree(source, tmp_path / source.name))


def test_prisma_6_generates_in_the_build_and_again_on_each_target() -> None:
    """Before Prisma 7 the client holds the query engine of the machine that generates it:
    each target generates its own, and its smoke test wants that engine and the client."""
    generate = generate_of(PRISMA6)
    assert generate is not None and generate.per_target and generate.in_build
    assert generate.command("/app") == ("node", "/app/node_modules/prisma/build/index.js",
                                        "generate", "--schema", "prisma/schema.prisma")
    assert generate.engine_globs() == ("node_modules/.prisma/client/libquery_engine-*.so.node",)
    assert generate.checked() == ("node_modules/.prisma/client/schema.prisma",)


def test_prisma_7_generates_once_for_every_target() -> None:
    """Prisma 7's client holds no engine: generated once, in the build, for all targets."""
    generate = generate_of(PRISMA7)
    assert generate is not None and not generate.per_target
    assert generate.engine_globs() == ()
    assert generate.checked() == ("node_modules/.prisma/client/schema.prisma",)


def test_pnpm_writes_the_client_beside_its_own_copy_of_prisma_client() -> None:
    """pnpm's @prisma/client sits in its .pnpm store, and Prisma writes .prisma/client next to
    it; the CLI is pnpm's copy of prisma."""
    generate = generate_of(PRISMA_PNPM)
    assert generate is not None
    (output,) = generate.outputs
    assert output.path.startswith("node_modules/.pnpm/@prisma+client@6.19.3")
    assert output.path.endswith("/node_modules/.prisma/client")
    assert generate.cli == "node_modules/.pnpm/prisma@6.19.3/node_modules/prisma/build/index.js"


def test_the_schema_may_be_named_and_its_generators_write_elsewhere(tmp_path: Path) -> None:
    """package.json's prisma.schema names the schema; a generator's `output` is relative to
    the schema's folder; engineType client holds no engine; other generators are not ours."""
    source = copy(PRISMA6, tmp_path)
    (source / "prisma" / "schema.prisma").rename(source / "db.prisma")
    (source / "db.prisma").write_text(
        'generator client {\n  provider   = "prisma-client-js"\n  output     = "src/gen"\n'
        '  engineType = "client"\n}\n'
        '// generator old {\n//  provider = "prisma-client-js"\n// }\n'
        'generator docs {\n  provider = "prisma-docs-generator"\n}\n'
        'datasource db {\n  provider = "sqlite"\n}\n')
    manifest = json.loads((source / "package.json").read_text())
    manifest["prisma"] = {"schema": "db.prisma"}
    (source / "package.json").write_text(json.dumps(manifest))
    generate = generate_of(source)
    assert generate is not None and generate.schema == "db.prisma"
    assert [(o.path, o.engine) for o in generate.outputs] == [("src/gen", "client")]
    assert not generate.per_target, "engineType client holds no engine"


def test_a_schema_folder_is_read_file_by_file(tmp_path: Path) -> None:
    """prisma/schema/ (multi-file schemas): every .prisma file in it is read."""
    source = copy(PRISMA6, tmp_path)
    folder = source / "prisma" / "schema"
    folder.mkdir()
    (source / "prisma" / "schema.prisma").rename(folder / "main.prisma")
    (source / "prisma" / "schema.prisma").unlink(missing_ok=True)
    generate = generate_of(source)
    assert generate is not None and generate.schema == "prisma/schema"
    assert [o.path for o in generate.outputs] == ["node_modules/.prisma/client"]


def test_a_build_script_that_generates_is_not_doubled(tmp_path: Path) -> None:
    """`build: prisma generate && tsc` generates already: the build stage does not again."""
    source = copy(PRISMA6, tmp_path)
    project = NodeProject.load(source)
    entries = project.packager.read_lockfile(project.source, project.manifest)
    generate = find_generate(source, "", project.manifest, entries,
                             ("prisma generate && tsc",))
    assert generate is not None and not generate.in_build


def test_no_schema_and_no_cli_are_refused_with_what_to_add(tmp_path: Path) -> None:
    """Without a schema there is nothing to generate from; without the prisma package nothing
    to run: one sentence each, naming the fix."""
    source = copy(PRISMA6, tmp_path)
    shutil.rmtree(source / "prisma")
    with pytest.raises(GenerateError, match=r"not at prisma/schema\.prisma.*\"prisma\": "):
        generate_of(source)
    cli_less = copy(LOCKFILES / "executable-download", tmp_path)  # prisma is there: drop it
    lock = json.loads((cli_less / "package-lock.json").read_text())
    lock["packages"].pop("node_modules/prisma")
    (cli_less / "package-lock.json").write_text(json.dumps(lock))
    (cli_less / "schema.prisma").write_text('generator c {\n provider = "prisma-client-js"\n}\n')
    with pytest.raises(GenerateError, match=r"add prisma 6\.19\.3 to devDependencies"):
        generate_of(cli_less)


def test_a_service_without_prisma_client_generates_nothing() -> None:
    """The bundled example has no @prisma/client."""
    assert generate_of(REPO / "examples" / "native-service") is None


def test_the_plan_generates_on_each_target_and_says_arm64_is_emulated_for_it() -> None:
    """--print: the build stage generates after the install; each Prisma 6 target generates
    again on its own platform, which is arm64's emulated work."""
    settings = load_settings({"source": str(PRISMA6)}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    described = describe_plan(plan)
    names = [s["name"] for s in described["build"]["stages"]]
    assert names[:2] == ["deps", "generate"], names
    for target in described["targets"]:
        (generate,) = [s for s in target["stages"] if s["name"] == "generate"]
        assert generate["platform"] == target["platform"]
    arm = next(t for t in described["targets"] if t["platform"] == "linux/arm64")
    assert "generate" in arm["emulated_work"]
    prisma7 = describe_plan(prepare(load_settings({"source": str(PRISMA7)}, {}),
                                    Platform.parse("linux/amd64"), audit={}))
    assert all(s["name"] != "generate" for t in prisma7["targets"] for s in t["stages"])
    assert [s["name"] for s in prisma7["build"]["stages"]][:2] == ["deps", "generate"]
