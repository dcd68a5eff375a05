"""How the project's shape is read: build step, start command, files, Node version, blockers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.project import NodeProject
from pipelines.project.files import app_files, excluded
from pipelines.project.node_version import major_for_range, node_version
from pipelines.project.shape import ShapeError, shape_of
from pipelines.project.start import derive_start
from pipelines.settings import SettingsError, load_settings, read_config_file

LOCK = Path(__file__).resolve().parents[1] / "fixtures" / "lockfiles" / "pure-js"


def service(tmp_path: Path, manifest: dict, files: dict[str, str] | None = None) -> Path:
    """A project dir with `manifest`, the pure-js fixture's lockfile and `files`."""
    base = json.loads((LOCK / "package.json").read_text())
    (tmp_path / "package.json").write_text(json.dumps({**base, **manifest}))
    (tmp_path / "package-lock.json").write_text((LOCK / "package-lock.json").read_text())
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def shape(source: Path, **flags: object):
    settings = load_settings({"source": str(source), **flags}, {})
    return shape_of(settings, NodeProject.load(source))


@pytest.mark.parametrize(("scripts", "wanted"), [
    ({"build": "tsc", "compile": "tsc -b"}, "build"),
    ({"compile": "tsc"}, "compile"),
    ({"test": "jest"}, None),
])
def test_build_step_is_build_then_compile_then_none(
    tmp_path: Path, scripts: dict, wanted: str | None
) -> None:
    """`build` by default, `compile` when only that exists, nothing for plain JavaScript."""
    src = service(tmp_path, {"scripts": {**scripts, "start": "node server.js"}},
                  {"server.js": ""})
    assert shape(src).build_script == wanted


def test_build_script_setting_names_another_or_none(tmp_path: Path) -> None:
    """--build-script picks a script, `none` turns the step off, an unknown one is refused."""
    src = service(tmp_path, {"scripts": {"build": "tsc", "bundle": "esbuild",
                                         "start": "node server.js"}}, {"server.js": ""})
    assert shape(src, build_script="bundle").build_script == "bundle"
    assert shape(src, build_script="none").build_script is None
    with pytest.raises(ExceptionGroup) as caught:
        shape(src, build_script="nope")
    assert "build_script 'nope' is not a script" in str(caught.value.exceptions[0])


@pytest.mark.parametrize(("scripts", "main", "cmd", "env"), [
    ({"start": "node server/server.js"}, None, ("node", "server/server.js"), {}),
    ({"start": "NODE_ENV=production PORT=3000 node --enable-source-maps dist/main.js --x"}, None,
     ("node", "--enable-source-maps", "dist/main.js", "--x"),
     {"NODE_ENV": "production", "PORT": "3000"}),
    ({"start": "npm run serve", "serve": "node -r dotenv/config app.js"}, None,
     ("node", "-r", "dotenv/config", "app.js"), {}),
    ({"start": "yarn serve", "serve": "node app.js"}, None, ("node", "app.js"), {}),
    ({"start": "next start -p 3000"}, None, ("next", "start", "-p", "3000"), {}),
    ({}, "lib/index.js", ("node", "lib/index.js"), {}),
])
def test_start_command_follows_package_json(
    tmp_path: Path, scripts: dict, main: str | None, cmd: tuple, env: dict
) -> None:
    """`start` as exec form (env prefixes to image env, scripts followed), then `main`."""
    start = derive_start(scripts, main, tmp_path)
    assert (start.cmd, dict(start.env), start.warnings) == (cmd, env, ())


@pytest.mark.parametrize(("manifest", "program"), [
    ({"name": "redis-commander", "main": "lib/app.js",
      "bin": {"redis-commander": "./bin/redis-commander.js"}}, "bin/redis-commander.js"),
    ({"name": "@acme/api", "bin": {"api": "cli.js", "api-admin": "admin.js"}}, "cli.js"),
    ({"name": "tool", "bin": "./server.js"}, "server.js"),
    ({"name": "tool", "bin": {"a": "a.js", "b": "b.js"}, "main": "lib/index.js"}, None),
])
def test_without_start_the_one_program_bin_names_runs_before_main(
        tmp_path: Path, manifest: dict, program: str | None) -> None:
    """A package whose `bin` names one program (or one named as the package) runs it: its
    `main` is often the library behind that program. Several others: `main` as before."""
    (tmp_path / "package.json").write_text(json.dumps({"version": "1.0.0", **manifest}))
    (tmp_path / "package-lock.json").write_text(json.dumps({"lockfileVersion": 3,
                                                            "packages": {"": {}}}))
    project = NodeProject.load(tmp_path)
    start = derive_start(project.scripts, project.main, tmp_path, program=project.program)
    assert start.cmd == ("node", program or "lib/index.js")
    assert start.origin == ("bin" if program else "main")


def test_start_falls_back_to_server_js_then_index_js(tmp_path: Path) -> None:
    """Without start or main, server.js wins over index.js; neither is one sentence."""
    (tmp_path / "index.js").write_text("")
    assert derive_start({}, None, tmp_path).cmd == ("node", "index.js")
    (tmp_path / "server.js").write_text("")
    assert derive_start({}, None, tmp_path).cmd == ("node", "server.js")


def test_shell_start_runs_through_sh_with_a_warning(tmp_path: Path) -> None:
    """A start with shell syntax runs as `sh -c` and says why that is worse."""
    start = derive_start({"start": "node migrate.js && node server.js"}, None, tmp_path)
    assert start.cmd == ("sh", "-c", "node migrate.js && node server.js")
    assert "sh -c" in start.warnings[0]


def test_every_blocker_is_named_at_once(tmp_path: Path) -> None:
    """A missing start command and a wrong build script are both reported, each with its fix."""
    src = service(tmp_path, {"scripts": {"lint": "eslint"}})
    with pytest.raises(ExceptionGroup) as caught:
        shape(src, build_script="bundle")
    messages = [str(e) for e in caught.value.exceptions]
    assert all(isinstance(e, ShapeError) and e.exit_code == 2 for e in caught.value.exceptions)
    assert len(messages) == 2
    assert any("--build-script" in m for m in messages)
    assert any("start_command" in m for m in messages)


def test_start_file_that_would_not_ship_is_refused(tmp_path: Path) -> None:
    """With no build step, a start file excluded by .dockerignore is named with --include."""
    src = service(tmp_path, {"scripts": {"start": "node server.js"}},
                  {"server.js": "", ".dockerignore": "server.js\n"})
    with pytest.raises(ExceptionGroup, match="cannot be built") as caught:
        shape(src)
    assert "--include server.js" in str(caught.value.exceptions[0])
    assert shape(src, include="server.js").start.file == "server.js"


def test_dockerignore_is_read_with_negation_and_the_last_match_winning(tmp_path: Path) -> None:
    """Patterns as Docker reads them: `!` re-includes, dirs exclude what is inside."""
    (tmp_path / ".dockerignore").write_text("# comment\n*.md\n!README.md\n/docs/\nsecret/**\n")
    files = app_files(tmp_path)
    assert files.origin == ".dockerignore"
    assert excluded("CHANGES.md", files.excludes)
    assert not excluded("README.md", files.excludes)
    assert excluded("docs/a/b.txt", files.excludes)
    assert excluded("node_modules/x/index.js", files.excludes)  # always, whatever the file says
    assert not excluded("src/index.js", files.excludes)


def test_the_ci_engine_cache_is_never_taken_from_the_source(tmp_path: Path) -> None:
    """.nodepipe-cache (ci/nodepipe.sh's engine cache, new every job) stays out, even when a
    .dockerignore re-includes it, so it neither ships nor invalidates the build stage."""
    (tmp_path / ".dockerignore").write_text("*.md\n!.nodepipe-cache\n")
    for files in (app_files(tmp_path), app_files(tmp_path / "missing")):
        assert excluded(".nodepipe-cache/engine-state.tar.zst", files.excludes)
        assert excluded(".nodepipe-cache/state/worker/x", files.excludes)


def test_default_excludes_drop_git_tests_ci_and_local_env(tmp_path: Path) -> None:
    """Without .dockerignore: .git, tests, CI folders and .env files stay out; examples stay."""
    files = app_files(tmp_path)
    for path in (".git/config", "test/a.js", "__tests__/b.js", ".github/workflows/ci.yml",
                 ".env", ".env.local", "coverage/lcov.info"):
        assert excluded(path, files.excludes), path
    for path in ("src/index.js", "public/logo.png", "db/migrations/1.sql", ".env.example"):
        assert not excluded(path, files.excludes), path


@pytest.mark.parametrize(("files", "engines", "wanted"), [
    ({".nvmrc": "v20.11.1\n"}, ">=18", (20, ".nvmrc")),
    ({".nvmrc": "lts/iron"}, None, (20, ".nvmrc")),
    ({".node-version": "18"}, None, (18, ".node-version")),
    ({}, ">=18 <21", (20, "engines.node")),
    ({}, "^20.11 || ^22", (22, "engines.node")),
    ({}, None, (22, "default")),
])
def test_node_version_from_nvmrc_node_version_then_engines(
    tmp_path: Path, files: dict, engines: str | None, wanted: tuple
) -> None:
    """.nvmrc, then .node-version, then engines.node, else 22; the base image follows."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    manifest = {"engines": {"node": engines}} if engines else {}
    found = node_version(tmp_path, manifest)
    assert (found.major, found.source) == wanted


def test_base_image_follows_the_project_node_major(tmp_path: Path) -> None:
    """A project on Node 20 gets node:20-bookworm-slim unless --node-major says otherwise."""
    src = service(tmp_path, {"scripts": {"start": "node server.js"}, "engines": {"node": "20.x"}},
                  {"server.js": ""})
    assert shape(src).base_image == "node:20-bookworm-slim"
    assert shape(src, node_major=22).base_image == "node:22-bookworm-slim"


def test_ranges_pick_the_preferred_major() -> None:
    """The default 22 when allowed, else the newest LTS the range allows."""
    assert major_for_range(">=14") == 22
    assert major_for_range("<21") == 20
    assert major_for_range("~18.17.0") == 18
    assert major_for_range("16") == 16
    assert major_for_range("^10") is None


def test_health_is_tcp_without_a_path_and_http_with_one(tmp_path: Path) -> None:
    """No health path: wait for the port; a path: GET it; none: off, with a warning."""
    src = service(tmp_path, {"scripts": {"start": "node server.js"}}, {"server.js": ""})
    assert shape(src).health == "tcp"
    assert shape(src, health_path="/ready").health == "http"
    off = shape(src, health="none")
    assert off.health == "none" and any("health check is off" in w for w in off.warnings)


def test_init_adds_tini(tmp_path: Path) -> None:
    """--init puts tini into the runtime packages."""
    src = service(tmp_path, {"scripts": {"start": "node server.js"}}, {"server.js": ""})
    assert shape(src, init=True, apt_packages="ffmpeg").apt_packages == ("ffmpeg", "tini")


def test_secret_in_the_config_file_is_refused(tmp_path: Path) -> None:
    """A registry password in node-pipelines.toml is refused, saying where it belongs."""
    (tmp_path / "node-pipelines.toml").write_text('registry_password = "hunter2"\n')
    with pytest.raises(SettingsError) as caught:
        read_config_file(tmp_path)
    assert "NODEPIPE_REGISTRY_PASSWORD" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_runtime_env_setting_joins_the_start_scripts_variables(tmp_path: Path) -> None:
    """`env` adds image environment; on a clash with a start-script prefix, the setting wins."""
    src = service(tmp_path, {"scripts": {"start": "LOG=debug MODE=a node server.js"}},
                  {"server.js": ""})
    assert dict(shape(src, env="JWT_SECRET=x,MODE=b").env) == {
        "LOG": "debug", "MODE": "b", "JWT_SECRET": "x"}
    with pytest.raises(SettingsError, match="env item 'oops' is not NAME=value"):
        shape(src, env="oops")
