"""Parsing the check scripts' JSON results, and the sentences a failed check shows the user."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines.checks import (
    SCRIPTS,
    parse_hygiene,
    parse_probe,
    parse_smoke,
    script,
)
from pipelines.errors import EXIT_FAILURE, PipelineError


def smoke_output(**changes: Any) -> str:
    """A smoke.js result line for linux/arm64 with every package loaded, then `changes`."""
    data: dict[str, Any] = {
        "ok": True, "arch": "arm64", "expected_arch": "arm64", "libc": "glibc",
        "expected_libc": "glibc", "glibc_version": "2.36", "node_version": "v22.23.3",
        "app": "/app",
        "packages": [
            {"name": "bcrypt", "ok": True, "error": None, "warning": None,
             "addons": ["/app/node_modules/bcrypt/prebuilds/linux-arm64/bcrypt.glibc.node"]},
            {"name": "better-sqlite3", "ok": True, "error": None, "warning": None,
             "addons": ["/app/node_modules/better-sqlite3/prebuilds/linux-arm64.node"]},
        ],
    }
    data.update(changes)
    return json.dumps(data) + "\n"


def hygiene_output(**changes: Any) -> str:
    """A clean hygiene.js result line, then `changes`."""
    data: dict[str, Any] = {
        "ok": True, "app": "/app", "lockfile": "/app/package-lock.json",
        "user": {"uid": 1000, "gid": 1000, "name": "node"}, "node_env": "production",
        "build_tools": [], "node_gyp_caches": [], "dev_dependencies": [],
        "sizes": {"app_bytes": 2048, "node_modules_bytes": 1024}, "errors": [], "unchecked": [],
    }
    data.update(changes)
    return json.dumps(data) + "\n"


def test_every_shipped_script_is_readable() -> None:
    """script() returns the text of each shipped Node script."""
    for name in SCRIPTS:
        assert script(name).startswith("#!/usr/bin/env node\n"), name


def test_unknown_script_is_refused() -> None:
    """script() names the scripts that exist when asked for another one."""
    with pytest.raises(ValueError, match=r"smoke\.js"):
        script("build.sh")


def test_smoke_all_loaded_passes() -> None:
    """A result with the right arch, libc and every package loaded has no problem."""
    result = parse_smoke(smoke_output(), "linux/arm64", exit_code=0)
    assert result.ok
    assert [p.name for p in result.packages] == ["bcrypt", "better-sqlite3"]
    assert result.packages[1].addons == (
        "/app/node_modules/better-sqlite3/prebuilds/linux-arm64.node",
    )
    result.raise_for_failure()


def test_smoke_failure_names_platform_package_and_error() -> None:
    """A package that failed to load becomes one sentence naming the target, package and error."""
    packages = json.loads(smoke_output())["packages"]
    packages[1] |= {"ok": False, "error": "x.node is built for x64, not arm64"}
    result = parse_smoke(smoke_output(packages=packages), "linux/arm64", exit_code=1)
    assert result.problems == ("better-sqlite3 failed to load: x.node is built for x64, not arm64",)
    with pytest.raises(PipelineError) as caught:
        result.raise_for_failure()
    assert str(caught.value) == (
        "stage smoke on linux/arm64 failed: "
        "better-sqlite3 failed to load: x.node is built for x64, not arm64"
    )
    assert caught.value.exit_code == EXIT_FAILURE


def test_smoke_wrong_arch_and_libc_are_problems() -> None:
    """The image's own arch and libc are checked, not only the packages."""
    result = parse_smoke(smoke_output(arch="x64", libc="musl"), "linux/arm64")
    assert result.problems == (
        "process.arch is x64, wanted arm64",
        "the C library is musl, wanted glibc",
    )


def test_smoke_warning_is_not_a_failure() -> None:
    """A package that loaded no binding is reported as a warning, not a failure."""
    packages = json.loads(smoke_output())["packages"]
    packages[0] |= {"warning": "no native binding was loaded by require()", "addons": []}
    result = parse_smoke(smoke_output(packages=packages), "linux/amd64")
    assert result.ok
    assert result.warnings == ("bcrypt: no native binding was loaded by require()",)


def test_smoke_crash_names_the_package_being_loaded() -> None:
    """No JSON on stdout: the last `smoke: loading X` line on stderr names the culprit."""
    stderr = "smoke: loading bcrypt\nsmoke: loading sharp\nSegmentation fault\n"
    with pytest.raises(PipelineError) as caught:
        parse_smoke("", "linux/arm64", exit_code=139, stderr=stderr)
    assert caught.value.message == "the smoke script died while loading sharp (exit code 139)"
    assert caught.value.platform == "linux/arm64"
    assert "Segmentation fault" in caught.value.stderr_tail


def test_smoke_result_line_is_found_after_other_output() -> None:
    """Output an addon prints on stdout before the result does not hide the result."""
    result = parse_smoke("hello from an addon\n{not json\n" + smoke_output(), "linux/arm64")
    assert result.ok


def test_smoke_result_of_another_shape_is_a_clear_error() -> None:
    """A result missing a field says the script and the parser are out of step."""
    with pytest.raises(PipelineError, match="out of step"):
        parse_smoke(json.dumps({"ok": True}), "linux/amd64", exit_code=0)


def test_probe_timeout_sentence() -> None:
    """An endpoint that never answered is reported with its URL, the bound and the last error."""
    line = json.dumps({"ok": False, "url": "http://app:8080/healthz", "status": None,
                       "body": None, "error": "ECONNREFUSED", "attempts": 60,
                       "elapsed_s": 29.6, "timeout_s": 30})
    result = parse_probe(line, "linux/amd64", exit_code=1)
    assert not result.ok
    assert result.problems == (
        "the health endpoint http://app:8080/healthz did not answer within 30 s (ECONNREFUSED)",
    )
    with pytest.raises(PipelineError, match=r"^stage probe on linux/amd64 failed: the health"):
        result.raise_for_failure()


def test_probe_bad_status_sentence() -> None:
    """A non-2xx answer is reported with its status and the start of the body."""
    line = json.dumps({"ok": False, "url": "http://app:8080/healthz", "status": 500,
                       "body": '{"status":"error"}\n', "error": None, "attempts": 3,
                       "elapsed_s": 1.5, "timeout_s": 2})
    result = parse_probe(line, "linux/arm64")
    assert result.problems == (
        'the health endpoint http://app:8080/healthz answered 500, wanted 2xx: {"status":"error"}',
    )


def test_probe_2xx_is_healthy() -> None:
    """A 2xx answer passes whatever the script's own verdict."""
    line = json.dumps({"ok": False, "url": "http://app:8080/healthz", "status": 204,
                       "body": "", "error": None, "attempts": 1, "elapsed_s": 0.1,
                       "timeout_s": 30})
    assert parse_probe(line, "linux/arm64").ok


def test_hygiene_clean_passes_and_reports_sizes() -> None:
    """A clean result has no problem and carries the app and node_modules sizes."""
    result = parse_hygiene(hygiene_output(), "linux/amd64", exit_code=0)
    assert result.ok
    assert (result.app_bytes, result.node_modules_bytes) == (2048, 1024)
    assert result.describe()["ok"] is True


def test_hygiene_lists_every_offender() -> None:
    """Build tools, devDependencies, root, NODE_ENV and node-gyp caches each get a sentence."""
    output = hygiene_output(
        user={"uid": 0, "gid": 0, "name": "root"},
        node_env=None,
        build_tools=["/usr/bin/gcc", "/usr/bin/make"],
        node_gyp_caches=["/root/.cache/node-gyp"],
        dev_dependencies=[
            {"name": "typescript", "path": "node_modules/typescript", "version": "5.9.3"},
            {"name": "@types/node", "path": "node_modules/@types/node", "version": None},
        ],
    )
    result = parse_hygiene(output, "linux/arm64", exit_code=1)
    assert result.problems == (
        "build tools in the image: /usr/bin/gcc, /usr/bin/make",
        "node-gyp caches in the image: /root/.cache/node-gyp",
        "devDependencies in node_modules: typescript@5.9.3, @types/node",
        "the default user is root (uid 0): the image must run as a non-root user",
        "NODE_ENV is not set, wanted 'production'",
    )
    with pytest.raises(PipelineError, match=r"^stage hygiene on linux/arm64 failed: build tools"):
        result.raise_for_failure()


def test_hygiene_wrong_node_env_and_script_errors() -> None:
    """NODE_ENV other than production and errors of the script itself are problems."""
    output = hygiene_output(node_env="development", errors=["cannot read the lockfile x: ENOENT"])
    assert parse_hygiene(output, "linux/amd64").problems == (
        "NODE_ENV is 'development', wanted 'production'",
        "cannot read the lockfile x: ENOENT",
    )


def test_hygiene_without_output_is_a_hygiene_failure() -> None:
    """No result at all fails the hygiene stage and keeps stderr for the user."""
    with pytest.raises(PipelineError) as caught:
        parse_hygiene("", "linux/amd64", exit_code=127, stderr="exec: node: not found")
    assert caught.value.stage == "hygiene"
    assert caught.value.message == "the hygiene script printed no result (exit code 127)"
    assert caught.value.stderr_tail == "exec: node: not found"


def test_smoke_executables_decide_the_result() -> None:
    """A downloaded executable for the target passes; one that smoke.js found for another
    machine, or did not find, is a problem sentence, and no file at all is never a pass."""
    engine = "/app/node_modules/@prisma/engines/schema-engine-linux-arm64-openssl-3.0.x"
    good = {"pattern": "node_modules/@prisma/engines/schema-engine-*", "ok": True,
            "files": [{"path": engine, "ok": True, "got": "arm64 64-bit"}], "error": None}
    assert parse_smoke(smoke_output(executables=[good]), "linux/arm64").ok
    wrong = {**good, "ok": False, "files": [{"path": engine, "ok": False, "got": "x64 64-bit"}],
             "error": f"{engine} is x64 64-bit, not arm64"}
    result = parse_smoke(smoke_output(executables=[wrong]), "linux/arm64")
    assert result.problems == (
        f"executable node_modules/@prisma/engines/schema-engine-*: {engine} is x64 64-bit, "
        "not arm64",)
    empty = {**good, "files": []}  # a script claiming ok with nothing found
    assert not parse_smoke(smoke_output(executables=[empty]), "linux/arm64").ok
    assert parse_smoke(smoke_output(), "linux/arm64").executables == ()  # older output
