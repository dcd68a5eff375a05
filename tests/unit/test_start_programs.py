"""The start command resolves in the runtime image, or the plan refuses, naming why.

Fixtures: `start-programs` (npm: cross-env and dotenv dev-only, semver a production command)
and `pnpm-start` (pnpm 10: the root's start runs pnpm, which runs a workspace package's script
behind cross-env with tsx preloaded), plus the workspace monorepos of each manager.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.project import NodeProject
from pipelines.project.shape import Shape, shape_of
from pipelines.project.start import node_preloads, strip_env
from pipelines.settings import load_settings
from tests.conftest import REPO

SERVICES = REPO / "tests" / "fixtures" / "services"


def copy(tmp_path: Path, fixture: str, **scripts: str) -> Path:
    """A copy of a service fixture with the root's scripts replaced by `scripts`, if given."""
    source = tmp_path / fixture
    shutil.copytree(SERVICES / fixture, source)
    if scripts:
        manifest = json.loads((source / "package.json").read_text())
        manifest["scripts"] = {**manifest.get("scripts", {}), **scripts}
        (source / "package.json").write_text(json.dumps(manifest, indent=2))
    return source


def shape(source: Path, **flags: object) -> Shape:
    """The shape of `source` with `flags`."""
    settings = load_settings({"source": str(source), **flags}, {})
    return shape_of(settings, NodeProject.load(source, settings.workspace))


def refusal(source: Path, **flags: object) -> str:
    """The blockers' sentences, joined; fails when the shape is accepted."""
    with pytest.raises(ExceptionGroup) as caught:
        shape(source, **flags)
    return " | ".join(str(e) for e in caught.value.exceptions)


def test_cross_env_prefix_becomes_image_env(tmp_path: Path) -> None:
    """`cross-env NODE_ENV=production node index.js` (cross-env a devDependency) runs node."""
    found = shape(copy(tmp_path, "start-programs"))
    assert found.start.cmd == ("node", "index.js")
    assert found.env["NODE_ENV"] == "production"
    assert found.warnings == ()


@pytest.mark.parametrize(("start", "wanted"), [
    ("cross-env-shell node index.js", "a command of cross-env, which is a devDependency"),
    # npm records each package's commands: node-which is the `which` package's (dev-only).
    ("node-which node", "a command of which, which is a devDependency"),
    ("node --require dotenv/config index.js", "node load dotenv/config; dotenv is a "
                                             "devDependency"),
    ("nodemon index.js", "runs nodemon, which no production dependency in the lockfile provides"),
    ("pnpm exec node index.js", "runs pnpm, the package manager, which the runtime image does "
                                "not carry"),
    ("./bin/serve --port 1", "runs ./bin/serve, a file that is not in the image"),
])
def test_start_program_the_image_lacks_is_refused(tmp_path: Path, start: str,
                                                  wanted: str) -> None:
    """Each program the image would lack is named with why it is absent and the fix."""
    message = refusal(copy(tmp_path, "start-programs", start=start))
    assert wanted in message, message
    assert "--start-command" in message


@pytest.mark.parametrize("start", [
    "semver 1.2.3",  # a production dependency's command
    "node --require ./preload.js index.js",
    "npx semver 1.2.3",
    "env NODE_ENV=production node index.js",
])
def test_start_program_the_image_has_is_accepted(tmp_path: Path, start: str) -> None:
    """node, production commands, files that ship and `env VAR=v` prefixes plan."""
    source = copy(tmp_path, "start-programs", start=start)
    (source / "preload.js").write_text("")
    assert shape(source).start.cmd[0] in ("node", "semver", "npx")


def test_bash_is_a_debian_base_program_not_an_alpine_one(tmp_path: Path) -> None:
    """bash is essential on a Debian base (a real service starts `bash entrypoint.sh`);
    on Alpine it is not there, and the plan says so."""
    source = copy(tmp_path, "start-programs", start="bash -c 'node index.js'")
    assert shape(source, start_command="bash,entrypoint.sh").start.cmd[0] == "bash"
    message = refusal(source, start_command="bash,entrypoint.sh", base_image="node:22-alpine")
    assert "runs bash" in message


def test_declared_system_package_provides_a_program(tmp_path: Path) -> None:
    """A program named like a declared apt package resolves; another is a warning only."""
    source = copy(tmp_path, "start-programs", start="jq --version")
    assert shape(source, apt_packages="jq").warnings == ()
    warned = shape(source, apt_packages="ffmpeg").warnings
    assert any("taken to come from the declared system packages" in w for w in warned)


def test_start_command_setting_is_checked_too(tmp_path: Path) -> None:
    """An explicit --start-command naming a devDependency's command is refused as well."""
    source = copy(tmp_path, "start-programs")
    assert "devDependency" in refusal(source, start_command="cross-env-shell,node,index.js")


def test_pnpm_start_is_followed_into_the_workspace_package(tmp_path: Path) -> None:
    """`pnpm run prod` -> `pnpm --filter web run prod` -> cross-env ... node --require tsx/cjs:
    the image starts node in packages/web, with tsx a production dependency."""
    found = shape(copy(tmp_path, "pnpm-start"))
    assert found.start.cmd == ("node", "--require", "tsx/cjs", "node/server.ts")
    assert found.workdir == "packages/web"
    assert found.env["NODE_ENV"] == "production"
    assert found.start.origin == "scripts.start -> prod -> prod (packages/web)"


@pytest.mark.parametrize("start", [
    "corepack pnpm --filter web prod",
    "pnpm -F web run prod",
    "pnpm --filter=web run prod",
    "pnpm --dir packages/web prod",
    "pnpm -C packages/web run prod",
    "NODE_ENV=production pnpm --silent --filter web prod",
])
def test_pnpm_forms_reach_the_same_script(tmp_path: Path, start: str) -> None:
    """Every pnpm form that selects a package runs its script in its folder."""
    found = shape(copy(tmp_path, "pnpm-start", start=start))
    assert (found.start.cmd[0], found.workdir) == ("node", "packages/web")


def test_pnpm_form_not_followed_is_refused(tmp_path: Path) -> None:
    """`pnpm --filter web exec ...` runs pnpm itself, which the image does not have."""
    message = refusal(copy(tmp_path, "pnpm-start", start="pnpm --filter web exec node x.js"))
    assert "runs pnpm, the package manager, which the runtime image does not carry" in message


@pytest.mark.parametrize(("fixture", "start"), [
    ("npm-workspace", "npm run start -w @demo/api"),
    ("npm-workspace", "npm --workspace=packages/api start"),
    ("yarn1-workspace", "yarn workspace @demo/api start"),
    ("yarn4-workspace", "yarn workspace @demo/api run start"),
    ("pnpm-workspace", "corepack pnpm --filter @demo/api start"),
])
def test_each_manager_form_follows_into_the_package(tmp_path: Path, fixture: str,
                                                    start: str) -> None:
    """npm -w, yarn workspace and pnpm --filter forms run @demo/api's own start there."""
    source = copy(tmp_path, fixture, start=start, build="node packages/api/build.js")
    found = shape(source)
    assert (found.start.cmd, found.workdir) == (("node", "dist/server.js"), "packages/api")


def test_yarn_classic_runs_with_the_images_yarn(tmp_path: Path) -> None:
    """The official Node images before 26 carry yarn 1: a yarn 1 project's `yarn node` plans;
    a yarn 4 project's is refused."""
    classic = copy(tmp_path, "yarn1-workspace", start="yarn node index.js")
    (classic / "index.js").write_text("")
    assert shape(classic).start.cmd[0] == "yarn"
    berry = copy(tmp_path, "yarn4-workspace", start="yarn node index.js")
    assert "the package manager" in refusal(berry)
    assert "the package manager" in refusal(classic, node_major=26)


def test_print_exits_2_naming_the_program(tmp_path: Path) -> None:
    """`--print` on a start that needs a devDependency exits 2 with the sentence, no traceback;
    the followed pnpm start plans with exit 0."""
    bad = copy(tmp_path, "start-programs", start="cross-env-shell node index.js")
    good = copy(tmp_path, "pnpm-start")
    runs = [subprocess.run([sys.executable, "-m", "pipelines.build", str(s), "--print",
                            "--audit", "offline"], capture_output=True, text=True,
                           check=False, cwd=REPO, timeout=120) for s in (bad, good)]
    assert runs[0].returncode == 2, runs[0].stderr
    assert "ERROR the start command" in runs[0].stderr
    assert "Traceback" not in runs[0].stderr
    assert runs[1].returncode == 0, runs[1].stderr
    plan = json.loads(runs[1].stdout)
    assert plan["image"]["workdir"] == "/app/packages/web", plan["image"]


@pytest.mark.parametrize(("words", "env", "rest"), [
    (["cross-env", "A=1", "B=2", "node", "x"], {"A": "1", "B": "2"}, ["node", "x"]),
    (["A=1", "env", "B=2", "node"], {"A": "1", "B": "2"}, ["node"]),
    (["env", "-i", "node"], {}, ["env", "-i", "node"]),
    (["cross-env-shell", "A=1"], {}, ["cross-env-shell", "A=1"]),
])
def test_strip_env(words: list[str], env: dict, rest: list[str]) -> None:
    """VAR=v, cross-env VAR=v and env VAR=v prefixes are environment; nothing else is."""
    assert strip_env(words) == (env, rest)


def test_node_preloads() -> None:
    """The modules node loads before the script; the script's own flags are not node's."""
    assert node_preloads(("--require", "tsx/cjs", "a.ts", "--require", "x")) == ("tsx/cjs",)
    assert node_preloads(("--import=tsx", "-r", "dotenv/config", "a.js")) == (
        "tsx", "dotenv/config")


def test_start_command_setting_runs_a_script_through_the_manager(tmp_path: Path) -> None:
    """--start-command pnpm,run,prod is followed like a start script: no pnpm in the image."""
    source = copy(tmp_path, "pnpm-start")
    found = shape(source, start_command="pnpm,run,prod")
    assert (found.start.cmd[0], found.workdir) == ("node", "packages/web")
    assert found.start.origin == "start_command -> prod -> prod (packages/web)"


def test_refusal_suggests_a_production_script_that_resolves(tmp_path: Path) -> None:
    """When `start` needs a devDependency and `start:prod` runs in the image, the sentence
    names the setting that uses it."""
    source = copy(tmp_path, "start-programs", start="cross-env-shell node index.js",
                  **{"start:prod": "node index.js"})
    message = refusal(source)
    assert ("scripts.start:prod (node index.js) runs in the image: pass --start-command "
            "node,index.js") in message


@pytest.mark.parametrize(("scripts", "wanted"), [
    ({"prepare": "npm run build", "build": "node -e 0"}, ["build"]),
    ({"prepare": "node  -e 0", "build": "node -e 0"}, ["build"]),
    ({"postinstall": "yarn build", "prepare": "node -e 2", "build": "node -e 0"},
     ["prepare", "build"]),
    ({"prepare": "node -e 1", "build": "node -e 0"}, ["prepare", "build"]),
])
def test_a_lifecycle_script_that_runs_the_build_runs_once(
        tmp_path: Path, scripts: dict, wanted: list[str]) -> None:
    """A lifecycle script that comes down to the build step's command is left to the build
    step: the build runs once, and the plan says why."""
    found = shape(copy(tmp_path, "start-programs", **scripts))
    assert [s.script for s in found.steps] == wanted
    if "node -e 1" not in scripts.values():
        assert any("runs the same command as" in w for w in found.warnings), found.warnings


def test_patch_package_in_a_lifecycle_script_is_said_not_to_reach_the_image(
        tmp_path: Path) -> None:
    """`postinstall: patch-package` patches the build stage's node_modules only: the plan
    warns, naming the packages patches/ holds; without it, no such warning."""
    source = copy(tmp_path, "start-programs", postinstall="patch-package")
    (source / "patches").mkdir()
    (source / "patches" / "ms+2.1.3.patch").write_text("diff --git a/x b/x\n")
    (source / "patches" / "@scope+pkg+1.0.0.patch").write_text("diff --git a/x b/x\n")
    (warning,) = [w for w in shape(source).warnings if "patch-package" in w]
    assert warning.startswith("scripts.postinstall runs patch-package: it patches the build "
                              "stage's node_modules only")
    assert "(@scope/pkg, ms ship unpatched)" in warning
    assert not [w for w in shape(copy(tmp_path / "b", "start-programs")).warnings
                if "patch-package" in w]


def test_a_workspace_prepare_that_filters_into_the_service_runs_once(tmp_path: Path) -> None:
    """The root's `prepare: pnpm --filter @demo/api build` in a workspace build of @demo/api
    is the service's build: it runs once, as the service's build step, after @demo/shared's."""
    source = copy(tmp_path, "pnpm-workspace", prepare="pnpm --filter @demo/api build")
    found = shape(source, workspace="@demo/api")
    commands = [(s.directory, s.script) for s in found.steps]
    assert ("", "prepare") not in commands
    assert commands[-1] == ("packages/api", "build")


def test_runtime_package_manager_lets_the_start_run_pnpm(tmp_path: Path) -> None:
    """`pnpm --filter web exec ...` is refused naming --runtime-package-manager, and plans with
    it, the plan showing pnpm at its pinned version."""
    source = copy(tmp_path, "pnpm-start", start="pnpm --filter web exec node node/server.ts")
    assert "--runtime-package-manager" in refusal(source)
    found = shape(source, runtime_package_manager=True)
    assert (found.start.cmd[0], found.runtime_package_manager) == ("pnpm", "pnpm@10.34.9")
    assert shape(source, runtime_package_manager=True,
                 start_command="node,-e,0").runtime_package_manager == "pnpm@10.34.9"


def test_no_start_script_suggests_the_production_script(tmp_path: Path) -> None:
    """Without `start`, a `prod` script is named with the --start-command that follows it."""
    source = copy(tmp_path, "pnpm-start")
    manifest = json.loads((source / "package.json").read_text())
    del manifest["scripts"]["start"]
    (source / "package.json").write_text(json.dumps(manifest))
    message = refusal(source)
    assert ("scripts.prod -> prod (packages/web) (node --require tsx/cjs node/server.ts) looks "
            "like the production start: pass --start-command pnpm,run,prod") in message
