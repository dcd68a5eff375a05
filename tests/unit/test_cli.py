"""The build command's boundary: stdout, exit codes, one sentence, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def build(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("NODEPIPE_", "DAGGER_", "_EXPERIMENTAL_DAGGER"))}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.build", *args],
        capture_output=True, text=True, check=False, cwd=REPO, env={**base, **(env or {})},
        timeout=120,
    )


def test_print_shows_the_plan_without_an_engine() -> None:
    """--print writes the plan as JSON on stdout and exits 0, with two disjoint targets."""
    result = build("--print")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    amd, arm = plan["targets"]
    shared = set(plan["build"]["cache_volumes"])
    assert not (set(amd["cache_volumes"]) - shared) & (set(arm["cache_volumes"]) - shared)


def test_no_engine_is_one_sentence_and_exit_2() -> None:
    """Without a session or a CLI, the build says what is missing and exits 2."""
    result = build()
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1, result.stderr
    assert "Dagger CLI" in lines[0] and "container runtime" in lines[0]
    assert "Traceback" not in result.stderr


def test_dead_session_port_is_one_sentence() -> None:
    """A DAGGER_SESSION_PORT with nothing listening is reported, exit 2."""
    result = build(env={"DAGGER_SESSION_PORT": "9", "DAGGER_SESSION_TOKEN": "t"})
    assert result.returncode == 2, result.stderr
    assert "does not answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_input_is_exit_2_without_traceback(tmp_path: Path) -> None:
    """Unknown platform, missing source and publish without image: exit 2, one ERROR line."""
    cases = [
        ("--platforms", "linux/sparc"),
        ("--print", str(tmp_path / "nowhere")),
        ("--publish",),
        ("--image", "localhost:5000/svc", "--publish", "--export-path", "x", "--platforms", ""),
    ]
    for args in cases:
        result = build(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("ERROR") == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_secret_never_reaches_output() -> None:
    """The registry password appears nowhere in --print output or errors."""
    env = {"NODEPIPE_REGISTRY_PASSWORD": "s3cr3t-value", "NODEPIPE_REGISTRY_USERNAME": "ci",
           "NODEPIPE_PUBLISH": "true"}
    for result in (build("--print", env=env), build("--print", "--image", "x/y", env=env)):
        assert "s3cr3t-value" not in result.stdout + result.stderr


def test_unsupported_platform_warns_about_ci_time_and_storage(tmp_path: Path) -> None:
    """An opted-in extra platform builds a plan and warns on stderr about its cost."""
    fixture = REPO / "tests" / "fixtures" / "lockfiles" / "pure-js"
    manifest = json.loads((fixture / "package.json").read_text())
    manifest["scripts"] = {"compile": "tsc", "start": "node dist/index.js"}
    (tmp_path / "package.json").write_text(json.dumps(manifest))
    (tmp_path / "package-lock.json").write_text((fixture / "package-lock.json").read_text())
    result = build(str(tmp_path), "--print", "--audit", "offline", "--allow-unsupported-platforms",
                   "--platforms", "linux/amd64,linux/s390x")
    assert result.returncode == 0, result.stderr
    assert [t["platform"] for t in json.loads(result.stdout)["targets"]] == [
        "linux/amd64", "linux/s390x"]
    assert "platform_unsupported" in result.stderr
    assert "lengthens CI" in result.stderr and "registry storage" in result.stderr


def test_print_never_loads_the_dagger_sdk() -> None:
    """--print builds the plan without importing dagger at all."""
    code = ("import sys; from pipelines import build; "
            "rc = build.main(['--print', '--audit', 'offline']); "
            "print('dagger' in sys.modules, rc, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, cwd=REPO, timeout=60)
    assert result.stderr.strip().splitlines()[-1] == "False 0", result.stderr


def test_every_list_flag_accumulates() -> None:
    """A list flag given twice keeps both values, as one comma-separated value would."""
    import argparse  # noqa: PLC0415

    from pipelines.build import parser, settings_from_args  # noqa: PLC0415

    cases = {
        "--platforms": ("linux/amd64", "linux/arm64", "platforms"),
        "--tags": ("1.0", "latest", "tags"),
        "--start-command": ("node", "server.js", "start_command"),
        "--include": ("a", "b", "include"),
        "--exclude": ("c", "d", "exclude"),
        "--apt-packages": ("jq", "ffmpeg", "apt_packages"),
        "--build-apt-packages": ("cmake", "libvips-dev", "build_apt_packages"),
        "--build-env": ("A=1", "B=2", "build_env"),
        "--env": ("C=3", "D=4", "env"),
        "--allow-missing": ("a", "b", "allow_missing"),
        "--engine": ("linux/amd64=tcp://a:1", "linux/arm64=tcp://b:2", "engines"),
        "--probe-env": ("A=1", "B=2", "probe_env"),
        "--probe-secret": ("JWT_SECRET", "API_KEY", "probe_secrets"),
        "--probe-service": ("db=postgres:16,POSTGRES_PASSWORD=x", "cache=redis:7",
                            "probe_services"),
        "--label": ("vendor=acme", "team=web", "labels"),
    }
    # Every repeatable flag is a case here, so a new list flag cannot be left out.
    repeatable = {a.option_strings[0] for a in parser()._actions
                  if isinstance(a, argparse._AppendAction)}
    assert repeatable == set(cases)
    for flag, (first, second, name) in cases.items():
        args = parser().parse_args([flag, first, flag, second])
        values = getattr(settings_from_args(args), name)
        assert tuple(str(v) for v in values) == (first, second), flag
    joined = settings_from_args(parser().parse_args(["--allow-missing", "a,b", "--allow-missing",
                                                     "c"]))
    assert joined.allow_missing == ("a", "b", "c")
