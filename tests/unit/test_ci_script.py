"""ci/nodepipe.sh run for real, with stub programs standing in for dagger, python and curl.

The stubs are test doubles: they record their arguments and environment and print a little, so
these tests prove what the script hands to Dagger, never that a build works on a Dagger engine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unit.test_versions import pinned

SCRIPT = REPO / "ci" / "nodepipe.sh"
SHA = "0123456789abcdef0123456789abcdef01234567"

DAGGER = """#!/bin/sh
version=$(cat "$(dirname "$0")/dagger.version")
if [ "$1 ${2:-}" = "core version" ]; then
    exit "${STUB_ENGINE_DOWN:-0}"
elif [ "$1" = version ] && [ "${STUB_VERSION_STYLE:-}" = short ]; then
    echo "version: v$version"
    exit 0
elif [ "$1" = version ]; then
    echo "dagger v$version (registry.dagger.io/engine:v$version) linux/amd64"
    exit 0
fi
echo "$0" > "$STUB_LOG/dagger.which"
printf '%s\\n' "$@" > "$STUB_LOG/dagger.args"
env > "$STUB_LOG/dagger.env"
echo "sha256:0000000000000000000000000000000000000000000000000000000000000000"
echo "stub dagger: pretending to build" >&2
mkdir -p "$NODEPIPE_REPORT_DIR"
echo '{"status": "stub"}' > "$NODEPIPE_REPORT_DIR/node-pipelines-report.json"
echo '# stub report' > "$NODEPIPE_REPORT_DIR/node-pipelines-report.md"
exit "${STUB_EXIT:-0}"
"""

PYTHON = """#!/bin/sh
printf 'python %s\\n' "$*" >> "$STUB_LOG/python.calls"
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
elif [ "$1 $2" = "-m pip" ]; then
    env > "$STUB_LOG/pip.env"
    echo "Successfully installed node-pipelines-0.1.0"
fi
"""

# `curl ... -o FILE URL`: FILE becomes an install script that installs the stub dagger as
# DAGGER_VERSION into BIN_DIR, recording both.
CURL = """#!/bin/sh
printf 'curl %s\\n' "$*" >> "$STUB_LOG/curl.calls"
while [ "$#" -gt 0 ]; do
    if [ "$1" = -o ]; then out=$2; shift; fi
    url=$1
    shift
done
cat > "$out" <<'INSTALL'
echo "DAGGER_VERSION=$DAGGER_VERSION BIN_DIR=$BIN_DIR" >> "$STUB_LOG/install.calls"
mkdir -p "$BIN_DIR"
cp "$STUB_LOG/../stubs/dagger" "$BIN_DIR/dagger"
echo "$DAGGER_VERSION" > "$BIN_DIR/dagger.version"
INSTALL
echo "fetched $url" >&2
"""


# `docker run ... -v STATE:/var/lib/dagger IMAGE`: records what the state held when the engine
# started, then writes a layer as an engine would; `inspect` reports STUB_ENGINE_EXIT.
DOCKER = """#!/bin/sh
printf '%s\\n' "$*" >> "$STUB_LOG/docker.calls"
case $1 in
    run)
        for arg in "$@"; do
            case $arg in *:/var/lib/dagger) state=${arg%:/var/lib/dagger} ;; esac
        done
        ls -A "$state" > "$STUB_LOG/state.at-start"
        mkdir -p "$state/worker"
        echo "a layer built on $(uname -m)" > "$state/worker/layer"
        echo 3f2c0ffee ;;
    inspect) echo "${STUB_ENGINE_EXIT:-0}" ;;
    logs)
        # STUB_SESSION_LAG=N: a session is still being removed for the first N calls.
        echo x >> "$STUB_LOG/logs.count"
        echo 'level=INFO msg="removing session; stopping client services and flushing"'
        if [ "$(wc -l < "$STUB_LOG/logs.count")" -gt "${STUB_SESSION_LAG:-0}" ]; then
            echo 'level=DEBUG msg="session removed"'
        fi ;;
esac
"""


def write_stubs(tmp_path: Path, dagger_version: str | None) -> Path:
    """Stub programs in tmp_path/stubs; the dagger one on PATH only when a version is given."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"dagger": DAGGER, "python3": PYTHON, "curl": CURL, "docker": DOCKER}.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
        if name != "dagger":
            shutil.copy(stubs / name, bin_dir / name)
    if dagger_version is not None:
        shutil.copy(stubs / "dagger", bin_dir / "dagger")
        (bin_dir / "dagger.version").write_text(dagger_version + "\n")
    (tmp_path / "log").mkdir()
    (tmp_path / "work").mkdir()
    return bin_dir


def run_script(
    tmp_path: Path, env: dict[str, str], *args: str, script: Path = SCRIPT,
    dagger_version: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the CI script in tmp_path/work with the stubs first on PATH and only `env` besides."""
    bin_dir = write_stubs(tmp_path, pinned() if dagger_version is None else dagger_version)
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
            "STUB_LOG": str(tmp_path / "log"), "NODEPIPE_CI_HOME": str(tmp_path / "ci-home")}
    return subprocess.run(["sh", str(script), *args], cwd=tmp_path / "work", env=base | env,
                          capture_output=True, text=True, check=False, timeout=60)


def seen_env(tmp_path: Path) -> dict[str, str]:
    """The environment the stub dagger ran with."""
    lines = (tmp_path / "log" / "dagger.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def files_written(tmp_path: Path) -> list[Path]:
    """Every file the script (and what it ran) left in the work dir and the CI home."""
    return [p for top in ("work", "ci-home") for p in (tmp_path / top).rglob("*") if p.is_file()]


def test_canary_password_reaches_dagger_and_nothing_else(tmp_path: Path) -> None:
    """The registry password is in dagger's environment, not in any output or written file."""
    canary = f"canary-{secrets.token_hex(16)}"
    result = run_script(tmp_path, {"NODEPIPE_REGISTRY_PASSWORD": canary,
                                   "NODEPIPE_REGISTRY_USERNAME": "ci-bot",
                                   "NODEPIPE_IMAGE": "registry.example.com/team/api"})
    assert result.returncode == 0, result.stderr
    assert seen_env(tmp_path)["NODEPIPE_REGISTRY_PASSWORD"] == canary
    assert canary not in result.stdout
    assert canary not in result.stderr
    written = files_written(tmp_path)
    assert any(p.name == "node-pipelines-report.md" for p in written)
    leaks = [p for p in written if canary.encode() in p.read_bytes()]
    assert leaks == [], f"wanted no file holding the password, got {leaks}"


def test_the_canary_check_catches_a_traced_script(tmp_path: Path) -> None:
    """A copy of the script with `set -x` leaks the canary on stderr: the check above can fail."""
    canary = f"canary-{secrets.token_hex(16)}"
    copy = tmp_path / "repo" / "ci" / "nodepipe.sh"
    copy.parent.mkdir(parents=True)
    copy.write_text(SCRIPT.read_text().replace("\nset +x\n", "\nset -x\n", 1))
    result = run_script(tmp_path, {"NODEPIPE_REGISTRY_PASSWORD": canary}, script=copy)
    assert result.returncode == 0, result.stderr
    assert canary in result.stderr


@pytest.mark.parametrize("style", ["long", "short"])
def test_pinned_cli_on_path_is_used_without_a_download(tmp_path: Path, style: str) -> None:
    """A dagger of the pinned version on PATH runs the README command; nothing is fetched."""
    result = run_script(tmp_path, {"STUB_VERSION_STYLE": style}, "--platforms", "linux/amd64")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "log" / "curl.calls").exists()
    assert (tmp_path / "log" / "dagger.which").read_text().strip() == str(tmp_path / "bin/dagger")
    args = (tmp_path / "log" / "dagger.args").read_text().splitlines()
    assert args == ["run", "python", "-m", "pipelines.build", "--platforms", "linux/amd64"]
    calls = (tmp_path / "log" / "python.calls").read_text().splitlines()
    assert calls[-1] == f"python -m pip install --quiet --disable-pip-version-check {REPO}"
    assert result.stdout.startswith("sha256:"), "stdout carries the build's own result only"


def test_another_cli_version_gets_the_pinned_one_installed(tmp_path: Path) -> None:
    """With another dagger on PATH, Dagger's install script installs the pin into the CI home."""
    result = run_script(tmp_path, {}, dagger_version="0.20.0")
    assert result.returncode == 0, result.stderr
    curl = (tmp_path / "log" / "curl.calls").read_text()
    assert "https://dl.dagger.io/dagger/install.sh" in curl
    installs = (tmp_path / "log" / "install.calls").read_text().splitlines()
    assert installs == [f"DAGGER_VERSION={pinned()} BIN_DIR={tmp_path / 'ci-home' / 'bin'}"]
    which = (tmp_path / "log" / "dagger.which").read_text().strip()
    assert which == str(tmp_path / "ci-home" / "bin" / "dagger")


def test_a_failed_build_fails_the_job_and_keeps_the_report(tmp_path: Path) -> None:
    """The script exits with the build's status, and the report directory is there to upload."""
    result = run_script(tmp_path, {"STUB_EXIT": "1"})
    assert result.returncode == 1
    report = tmp_path / "work" / "node-pipelines-report"
    assert (report / "node-pipelines-report.md").is_file()
    assert seen_env(tmp_path)["NODEPIPE_REPORT_DIR"] == "node-pipelines-report"


@pytest.mark.parametrize(
    ("ref", "tags", "publish"),
    [("main", f"{SHA[:12]},main,latest", "true"),
     ("feature/x_1", f"{SHA[:12]},feature-x_1", None),
     ("", SHA[:12], None)],
)
def test_commit_and_ref_become_tags_and_the_default_branch_publishes(
    tmp_path: Path, ref: str, tags: str, publish: str | None,
) -> None:
    """Tags from the commit and ref, latest and publishing only on the default branch."""
    result = run_script(tmp_path, {
        "NODEPIPE_IMAGE": "registry.example.com/team/api", "NODEPIPE_CI_SHA": SHA,
        "NODEPIPE_CI_REF_NAME": ref, "NODEPIPE_CI_DEFAULT_BRANCH": "main",
        "NODEPIPE_TAGS": "", "NODEPIPE_PUBLISH": "", "NODEPIPE_PLATFORMS": "",
    })
    assert result.returncode == 0, result.stderr
    env = seen_env(tmp_path)
    assert env["NODEPIPE_TAGS"] == tags
    assert env.get("NODEPIPE_PUBLISH") == publish
    assert "NODEPIPE_PLATFORMS" not in env, "an empty setting is unset, not passed on empty"
    assert env["NODEPIPE_SOURCE"] == "."


def test_explicit_settings_and_engine_win_over_what_ci_implies(tmp_path: Path) -> None:
    """Given tags and publish stay as given; NODEPIPE_CI_ENGINE names the persistent engine."""
    result = run_script(tmp_path, {
        "NODEPIPE_IMAGE": "registry.example.com/team/api", "NODEPIPE_CI_SHA": SHA,
        "NODEPIPE_CI_REF_NAME": "main", "NODEPIPE_CI_DEFAULT_BRANCH": "main",
        "NODEPIPE_TAGS": "1.4.0", "NODEPIPE_PUBLISH": "false",
        "NODEPIPE_CI_ENGINE": "tcp://dagger-engine:1234",
    })
    assert result.returncode == 0, result.stderr
    env = seen_env(tmp_path)
    assert (env["NODEPIPE_TAGS"], env["NODEPIPE_PUBLISH"]) == ("1.4.0", "false")
    assert env["_EXPERIMENTAL_DAGGER_RUNNER_HOST"] == "tcp://dagger-engine:1234"


def test_no_curl_or_wget_is_one_sentence(tmp_path: Path) -> None:
    """Without a CLI and without curl or wget, the script says what to install and exits 2."""
    bin_dir = write_stubs(tmp_path, None)
    (bin_dir / "curl").unlink()
    path = bin_dir / "only"
    path.mkdir()
    for tool in ("sed", "head", "mkdir", "dirname", "tr", "cut", "cat"):
        found = shutil.which(tool, path="/usr/bin:/bin")
        assert found
        (path / tool).symlink_to(found)
    result = subprocess.run(
        ["/bin/sh", str(SCRIPT)], cwd=tmp_path / "work", capture_output=True, text=True,
        env={"PATH": f"{bin_dir}:{path}", "STUB_LOG": str(tmp_path / "log"),
             "NODEPIPE_CI_HOME": str(tmp_path / "ci-home")}, check=False, timeout=60)
    assert result.returncode == 2
    assert "neither curl nor wget is installed" in result.stderr


# The engine's state through the provider's cache. Stub docker and dagger stand in for the engine
# (test doubles: they prove what the script does with the state, not that an engine can use it).
# engine-cache.sh archives the state as root (owners, device nodes, xattrs): directly or by sudo.
as_root = pytest.mark.skipif(
    os.geteuid() != 0 and subprocess.run(["sudo", "-n", "true"], capture_output=True,
                                         check=False).returncode != 0 if shutil.which("sudo")
    else os.geteuid() != 0,
    reason="needs root or passwordless sudo: the engine's state is archived as root")


def job(tmp_path: Path, name: str, env: dict[str, str] | None = None,
        arch: str | None = None) -> subprocess.CompletedProcess[str]:
    """One CI job on a fresh runner (its own work dir and CI home), sharing tmp_path/cache."""
    runner = tmp_path / name
    runner.mkdir()
    base = {"NODEPIPE_CI_CACHE_DIR": str(tmp_path / "cache")}
    if arch is not None:
        uname = runner / "uname-stub"
        uname.mkdir()
        (uname / "uname").write_text(
            f'#!/bin/sh\nif [ "$1" = -m ]; then echo {arch}; else /bin/uname "$@"; fi\n')
        (uname / "uname").chmod(0o755)
        base["PATH"] = f"{runner / 'bin'}:{uname}:/usr/bin:/bin"
    return run_script(runner, base | (env or {}))


def warnings(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The warning lines the job printed."""
    return [line for line in result.stderr.splitlines() if "warning:" in line]


def state_at_start(tmp_path: Path, name: str) -> list[str]:
    """What the engine's state directory held when the (stub) engine started in job `name`."""
    return (tmp_path / name / "log" / "state.at-start").read_text().split()


@as_root
def test_a_job_runs_the_engine_on_disk_and_the_next_runner_restores_its_state(
    tmp_path: Path,
) -> None:
    """Job 1 (no cache: one warning) starts the engine on a state dir, stops it, saves the state;
    job 2 on a fresh runner restores it before its engine starts, with no warning."""
    first = job(tmp_path, "one")
    assert first.returncode == 0, first.stderr
    assert len(warnings(first)) == 1 and "no engine cache" in warnings(first)[0]
    calls = (tmp_path / "one" / "log" / "docker.calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["run", "logs", "stop", "inspect", "rm"]
    assert f"registry.dagger.io/engine:v{pinned()}" in calls[0] and "--privileged" in calls[0]
    config = tmp_path / "cache" / "engine.json"
    assert f"{config}:/etc/dagger/engine.json:ro" in calls[0] and calls[0].endswith(" --debug")
    assert json.loads(config.read_text()) == {"gc": {"minFreeSpace": "2GB",
                                                     "maxUsedSpace": "10GB"}}
    host = seen_env(tmp_path / "one")["_EXPERIMENTAL_DAGGER_RUNNER_HOST"]
    assert host.startswith("docker-container://nodepipe-engine-")
    assert state_at_start(tmp_path, "one") == []
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "engine-state.stamp", "engine-state.tar.zst", "engine.json"]
    second = job(tmp_path, "two")
    assert second.returncode == 0, second.stderr
    assert warnings(second) == []
    assert "nodepipe-cache: restored" in second.stderr
    assert state_at_start(tmp_path, "two") == ["worker"]
    report = tmp_path / "two" / "work" / "node-pipelines-report"
    moved = json.loads((report / "engine-cache.json").read_text())
    assert moved["mode"] == "engine"
    assert moved["restore"]["outcome"] == "restored" and moved["restore"]["bytes"] > 0
    assert moved["save"]["outcome"] == "saved" and moved["save"]["seconds"] >= 0
    markdown = (report / "node-pipelines-report.md").read_text()
    assert "### Engine cache (engine)" in markdown and "| restore | restored |" in markdown
    first_moved = json.loads((tmp_path / "one" / "work" / "node-pipelines-report"
                              / "engine-cache.json").read_text())
    assert first_moved["restore"] == {"outcome": "absent", "bytes": 0, "seconds": 0}


@as_root
def test_a_cache_written_for_amd64_is_never_read_by_arm64(tmp_path: Path) -> None:
    """A state saved on an x86_64 runner is not restored on an aarch64 one: one warning, cold."""
    assert job(tmp_path, "amd64", arch="x86_64").returncode == 0
    stamp = (tmp_path / "cache" / "engine-state.stamp").read_text()
    assert "runner=linux/x86_64" in stamp
    arm = job(tmp_path, "arm64", arch="aarch64")
    assert arm.returncode == 0, arm.stderr
    assert len(warnings(arm)) == 1 and "written for another runner" in warnings(arm)[0]
    assert state_at_start(tmp_path, "arm64") == [], "arm64's engine started on amd64's state"
    stamp = (tmp_path / "cache" / "engine-state.stamp").read_text()
    assert "runner=linux/aarch64" in stamp, "what arm64 saves is stamped as arm64's"


@as_root
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_cache_is_a_cold_build_with_one_warning(tmp_path: Path, damage: str) -> None:
    """An unreadable archive: one warning line, an empty state for the engine, exit 0."""
    assert job(tmp_path, "one").returncode == 0
    archive = tmp_path / "cache" / "engine-state.tar.zst"
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not zstd" * 64)
    second = job(tmp_path, "two")
    assert second.returncode == 0, second.stderr
    assert len(warnings(second)) == 1 and "unreadable" in warnings(second)[0]
    assert state_at_start(tmp_path, "two") == []


@as_root
def test_an_engine_that_does_not_stop_cleanly_saves_nothing(tmp_path: Path) -> None:
    """Killed by Docker after the stop timeout (137): a warning, and no archive is written."""
    result = job(tmp_path, "one", {"STUB_ENGINE_EXIT": "137"})
    assert result.returncode == 0, result.stderr
    assert any("did not stop cleanly" in line for line in warnings(result))
    assert not (tmp_path / "cache" / "engine-state.tar.zst").exists()


@as_root
def test_a_state_kept_on_a_long_lived_runner_is_used_and_not_saved(tmp_path: Path) -> None:
    """A state dir that already holds a state is neither restored over nor archived again."""
    state = tmp_path / "kept-state"
    (state / "worker").mkdir(parents=True)
    result = job(tmp_path, "one", {"NODEPIPE_CI_STATE_DIR": str(state)})
    assert result.returncode == 0, result.stderr
    assert warnings(result) == []
    assert "kept from an earlier job" in result.stderr
    assert state_at_start(tmp_path, "one") == ["worker"]
    assert not list((tmp_path / "cache").glob("engine-state.*"))


def test_the_cache_off_or_a_persistent_engine_leaves_the_engine_to_the_cli(tmp_path: Path) -> None:
    """NODEPIPE_CI_CACHE=off and NODEPIPE_CI_ENGINE each run no engine of the script's own."""
    for name, env in {"off": {"NODEPIPE_CI_CACHE": "off"},
                      "engine": {"NODEPIPE_CI_ENGINE": "tcp://dagger-engine:1234"}}.items():
        result = job(tmp_path, name, env)
        assert result.returncode == 0, result.stderr
        assert not (tmp_path / name / "log" / "docker.calls").exists()
        assert warnings(result) == []
    assert "_EXPERIMENTAL_DAGGER_RUNNER_HOST" not in seen_env(tmp_path / "off")
    moved = tmp_path / "off" / "work" / "node-pipelines-report" / "engine-cache.json"
    assert json.loads(moved.read_text()) == {"mode": "off", "restore": None, "save": None}


def test_an_unknown_cache_mode_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    """NODEPIPE_CI_CACHE=yes is refused before anything runs."""
    result = job(tmp_path, "one", {"NODEPIPE_CI_CACHE": "yes"})
    assert result.returncode == 2
    assert "NODEPIPE_CI_CACHE is 'yes'; wanted engine or off" in result.stderr
    assert not (tmp_path / "one" / "log" / "dagger.args").exists()


def test_without_docker_the_build_runs_cold_with_one_warning(tmp_path: Path) -> None:
    """No docker on the runner: one warning line, the CLI's own engine, exit 0."""
    runner = tmp_path / "one"
    runner.mkdir()
    bin_dir = write_stubs(runner, pinned())
    (bin_dir / "docker").unlink()
    path = runner / "only"
    path.mkdir()
    for system in (Path("/bin"), Path("/usr/bin")):  # every program but docker
        for program in system.iterdir():
            if program.name != "docker" and not (path / program.name).exists():
                (path / program.name).symlink_to(program)
    result = subprocess.run(
        ["/bin/sh", str(SCRIPT)], cwd=runner / "work", capture_output=True, text=True,
        env={"PATH": f"{bin_dir}:{path}", "STUB_LOG": str(runner / "log"),
             "NODEPIPE_CI_HOME": str(runner / "ci-home")}, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(warnings(result)) == 1 and "no docker" in warnings(result)[0]
    assert "_EXPERIMENTAL_DAGGER_RUNNER_HOST" not in seen_env(runner)


@as_root
def test_the_engine_stops_only_once_its_sessions_are_removed(tmp_path: Path) -> None:
    """A session still being removed after the build delays the stop (the engine could not
    persist its cache index otherwise); the state is then saved."""
    result = job(tmp_path, "one", {"STUB_SESSION_LAG": "2"})
    assert result.returncode == 0, result.stderr
    calls = [c.split()[0] for c in
             (tmp_path / "one" / "log" / "docker.calls").read_text().splitlines()]
    assert calls == ["run", "logs", "logs", "logs", "stop", "inspect", "rm"]
    assert (tmp_path / "cache" / "engine-state.tar.zst").is_file()
