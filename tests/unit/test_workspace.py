"""`--workspace NAME`: which package is the service, what its build runs, what its image holds,
how each manager installs its production closure alone, and what the audit sees of it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.audit import Target, audit_source
from pipelines.errors import EXIT_USAGE, InputError
from pipelines.packagers import TargetSpec
from pipelines.plan.describe import describe_plan
from pipelines.plan.model import Plan
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.project import NodeProject
from pipelines.project.shape import ScriptStep, shape_of
from pipelines.run import graph as run
from pipelines.settings import load_settings
from tests.conftest import REPO
from tests.graph import query

SERVICES = REPO / "tests" / "fixtures" / "services"
LOCKFILES = REPO / "tests" / "fixtures" / "lockfiles"
MANAGERS = ("npm", "pnpm", "yarn4", "yarn1")
ARM64 = TargetSpec("linux", "arm64", "glibc")


def plan_for(manager: str, workspace: str = "@demo/api", **flags: str) -> Plan:
    settings = load_settings({"source": str(SERVICES / f"{manager}-workspace"),
                              "workspace": workspace, **flags}, {})
    return prepare(settings, Platform.parse("linux/amd64"), audit={})


@pytest.mark.parametrize("manager", MANAGERS)
def test_the_service_is_the_workspace_package_with_its_local_packages(manager: str) -> None:
    """By name or by folder: @demo/api, with @demo/shared (a production dependency) before it
    and nothing of @demo/web; its scripts, start command and folder are the package's."""
    for wanted in ("@demo/api", "packages/api", "./packages/api/"):
        project = NodeProject.load(SERVICES / f"{manager}-workspace", wanted)
        assert project.workspace is not None
        assert [m.path for m in project.workspace.members] == ["packages/shared", "packages/api"]
        assert project.name == "@demo/api" and "build" in project.scripts
        assert project.packager.focus is not None
        assert project.packager.focus.paths == ("packages/shared", "packages/api")
    plan = plan_for(manager)
    assert plan.workdir == "/app/packages/api"
    assert plan.shape.start.cmd == ("node", "dist/server.js")
    assert plan.shape.steps == (ScriptStep("packages/api", "build"),)
    assert plan.shape.module_dirs == ("node_modules", "packages/shared/node_modules",
                                      "packages/api/node_modules")
    assert plan.shape.files.only == ("package.json", "packages/shared", "packages/api")
    assert plan.shape.files.listing(plan.source) == ["package.json", "packages/api/",
                                                     "packages/shared/"]


def test_without_workspace_the_root_is_the_service_and_every_package_folder_is_installed() -> None:
    """A workspace root built as it is keeps today's behaviour, and every package's own
    node_modules (pnpm links each one's dependencies there) is copied as well."""
    settings = load_settings({"source": str(SERVICES / "pnpm-workspace")}, {})
    project = NodeProject.load(settings.source)
    assert project.workspace is None and project.packager.focus is None
    with pytest.raises(ExceptionGroup):  # the root has no start script, main or server.js
        shape_of(settings, project)
    with_start = load_settings({"source": str(SERVICES / "pnpm-workspace"),
                                "start_command": "node,packages/api/src/server.js",
                                "build_script": "none"}, {})
    shape = shape_of(with_start, project)
    assert shape.module_dirs == ("node_modules", "packages/api/node_modules",
                                 "packages/shared/node_modules", "packages/web/node_modules")
    assert shape.workdir == "" and shape.files.only == ()


def test_a_name_no_package_has_is_one_sentence_listing_the_packages() -> None:
    with pytest.raises(InputError) as caught:
        NodeProject.load(SERVICES / "npm-workspace", "@demo/nope")
    assert str(caught.value) == (
        f"--workspace @demo/nope: no workspace package of {SERVICES / 'npm-workspace'} has that "
        "name or folder (packages: @demo/api, @demo/shared, @demo/web)")


def test_a_project_without_workspaces_says_so(tmp_path: Path) -> None:
    shutil.copytree(SERVICES / "plain-js", tmp_path / "app")
    with pytest.raises(InputError, match=r"declares no workspaces \(in package.json\)"):
        NodeProject.load(tmp_path / "app", "api")


@pytest.mark.parametrize(("tool", "args"), [("build", ["--print"]), ("audit", ["--offline"])])
def test_the_command_lines_refuse_an_unknown_workspace_with_exit_2(
    tool: str, args: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"pipelines.{tool}", str(SERVICES / "yarn4-workspace"),
         "--workspace", "web-app", *args],
        capture_output=True, text=True, check=False, timeout=120, cwd=REPO)
    assert done.returncode == EXIT_USAGE, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "no workspace package" in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_each_manager_installs_the_focus_alone() -> None:
    """npm --workspace, pnpm --filter-prod NAME..., yarn workspaces focus NAME; yarn 1 lists
    only the closure's folders in package.json meanwhile and puts the file back."""
    commands = {m: plan_for(m).packager.install_production(ARM64).commands for m in MANAGERS}
    assert "--workspace=@demo/api" in commands["npm"][0]
    (pnpm,) = [c for c in commands["pnpm"] if c[0] == "pnpm"]
    assert pnpm[:3] == ("pnpm", "--filter-prod=@demo/api...", "install") and "--prod" in pnpm
    assert ("yarn", "workspaces", "focus", "@demo/api", "--production") in commands["yarn4"]
    yarn1 = commands["yarn1"]
    assert yarn1[0][:2] == ("node", "-e") and yarn1[0][-2:] == ("packages/shared",
                                                                 "packages/api")
    assert yarn1[-1] == ("mv", ".package.json.nodepipe", "package.json")
    assert any("--production" in c for c in yarn1)
    # The prune of foreign platform packages walks the packages' own node_modules too.
    (prune,) = [c for c in yarn1 if c[:2] == ("node", "-e") and "linux" in c]
    assert prune[-2:] == ("packages/shared", "packages/api")


def test_print_names_the_workspace_and_each_build_step_folder() -> None:
    described = describe_plan(plan_for("pnpm"))
    assert described["workspace"] == {"package": "@demo/api", "folder": "packages/api",
                                      "local_packages": ["packages/shared"]}
    (step,) = [s for s in described["build"]["stages"] if s["name"] == "build"]
    assert step["dir"] == "packages/api"
    assert described["image"]["workdir"] == "/app/packages/api"
    json.dumps(described)


@pytest.mark.parametrize("manager", ["", "pnpm9-", "yarn4-", "yarn1-"])
def test_the_audit_sees_what_the_focused_install_installs(manager: str) -> None:
    """The lockfile fixtures' @fixture/api reaches bcrypt and, through @fixture/lib, sharp;
    @fixture/lib alone reaches sharp only; the root's devDependency esbuild is in neither."""
    source = LOCKFILES / f"{manager}workspace"
    targets = (Target("linux/amd64"), Target("linux/arm64"))
    whole = {p.name for p in audit_source(source, targets).packages}
    assert "esbuild" in whole
    api = audit_source(source, targets, workspace="@fixture/api")
    assert {p.name for p in api.native()} == {"bcrypt", "sharp"}
    assert "esbuild" not in {p.name for p in api.packages}
    lib = audit_source(source, targets, workspace="packages/lib")
    assert {p.name for p in lib.native()} == {"sharp"}
    assert {p.name for p in lib.packages} & {"bcrypt", "esbuild"} == set()


def test_a_local_package_of_another_workspace_is_not_an_own_addon(tmp_path: Path) -> None:
    """A binding.gyp in packages/web is none of @demo/api's business."""
    app = tmp_path / "npm-workspace"
    shutil.copytree(SERVICES / "npm-workspace", app)
    (app / "packages" / "web" / "native").mkdir()
    (app / "packages" / "web" / "native" / "binding.gyp").write_text("{}")
    targets = (Target("linux/amd64"),)
    assert any(p.own for p in audit_source(app, targets).packages)
    assert not any(p.own for p in audit_source(app, targets, workspace="@demo/api").packages)


def test_a_workspace_package_lifecycle_script_runs_once_in_the_build_stage(
    tmp_path: Path,
) -> None:
    """@demo/api's own postinstall runs in the build stage, in its folder, and no target runs
    it again (it was a per-target `scripts` stage, emulated on arm64, seen on hoppscotch)."""
    app = tmp_path / "npm-workspace"
    shutil.copytree(SERVICES / "npm-workspace", app)
    manifest = app / "packages" / "api" / "package.json"
    data = json.loads(manifest.read_text())
    data["scripts"]["postinstall"] = "node -e 1"
    manifest.write_text(json.dumps(data))
    settings = load_settings({"source": str(app), "workspace": "@demo/api",
                              "audit": "offline"}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"))
    assert plan.shape.steps == (ScriptStep("packages/api", "postinstall"),
                                ScriptStep("packages/api", "build"))
    for target in plan.targets:
        assert target.scripted == (), target
        assert target.emulated_work(compile_bindings=False, apt=False) == ()
    report = audit_source(app, (Target("linux/arm64"),), workspace="@demo/api")
    assert "@demo/api" not in {p.name for p in report.packages}


def test_the_upload_keeps_the_manifests_a_dockerignore_drops(tmp_path: Path) -> None:
    """A workspace .dockerignore drops (linkwarden's apps/mobile) is still in the lockfile: its
    package.json reaches the install, while the image's files still follow .dockerignore."""
    app = tmp_path / "npm-workspace"
    shutil.copytree(SERVICES / "npm-workspace", app)
    (app / ".dockerignore").write_text("packages/web\n")
    plan = prepare(load_settings({"source": str(app), "workspace": "@demo/api"}, {}),
                   Platform.parse("linux/amd64"), audit={})
    (call,) = query.named(run.source_directory(plan), "directory")
    exclude = call.args["exclude"]
    assert exclude.index("packages/web") < exclude.index("!**/package.json") < exclude.index(
        "**/node_modules", exclude.index("!**/package.json"))
    assert exclude[-2:] == [".git", ".nodepipe-cache"]
    assert plan.shape.files.ships(app, "packages/web/index.js") is False
