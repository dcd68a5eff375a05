"""The example service installed for real per architecture, as the smoke and hygiene tests use it.

`prepared_app(arch)` is what a runtime image holds in /app for that arch: production
`node_modules` from the example's lockfile (`npm ci --omit=dev --cpu=ARCH`, scripts off: bcrypt
and better-sqlite3 bundle prebuilds, sharp's binaries come as @img platform packages), the
service's own addon compiled for ARCH (a cross compiler for arm64) and `dist/` compiled once.
`full_install()` is the build side: every dependency, devDependencies included.
Trees are cached under tests/.tools/smoke-apps, keyed by a hash of every input, so reruns reuse
them and a changed lockfile or source rebuilds them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

import pytest

from pipelines.plan.model import Plan, Target
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.settings import load_settings
from tests.conftest import EXAMPLE, TOOLS, node_binary, require_program

CACHE = TOOLS / "smoke-apps"
PREPARATION = "4"  # bump when the steps below change, to retire cached trees
CROSS_COMPILERS: dict[str, dict[str, str]] = {
    "x64": {},
    "arm64": {"CC": "aarch64-linux-gnu-gcc", "CXX": "aarch64-linux-gnu-g++"},
}
DOCKER_ARCH = {"x64": "amd64", "arm64": "arm64"}


def inputs() -> list[Path]:
    """Every file the prepared trees are made from (build outputs left out)."""
    files = [EXAMPLE / "package.json", EXAMPLE / "package-lock.json", EXAMPLE / "tsconfig.json"]
    for folder in ("native", "src"):
        files += sorted(p for p in (EXAMPLE / folder).iterdir() if p.is_file())
    return files


def inputs_key(arch: str) -> str:
    """A short hash of the inputs, the preparation steps and the Node release used for `arch`."""
    digest = hashlib.sha256(f"{PREPARATION}\n{arch}\n".encode())
    for path in [*inputs(), TOOLS / f"node-{arch}" / "package.json"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _run(args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
    done = subprocess.run(
        args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        check=False, timeout=600,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        pytest.fail(f"preparing {cwd.name}: {' '.join(args)} exited {done.returncode}\n{tail}")


def _cached(name: str, build: Callable[[Path], None]) -> Path:
    """Return CACHE/name, building it with `build(work_dir)` into a temp dir first if missing."""
    final = CACHE / name
    if (final / ".complete").is_file():
        return final
    family = name.rsplit("-", 1)[0]
    for stale in CACHE.glob(f"{family}-*"):  # earlier keys of the same tree
        shutil.rmtree(stale, ignore_errors=True)
    work = CACHE / f"{name}.tmp{os.getpid()}"
    work.mkdir(parents=True)
    build(work)
    (work / ".complete").write_text("")
    work.rename(final)
    return final


def _copy_sources(work: Path) -> None:
    for name in ("package.json", "package-lock.json", "tsconfig.json"):
        shutil.copy2(EXAMPLE / name, work / name)
    for folder in ("native", "src"):
        shutil.copytree(EXAMPLE / folder, work / folder, ignore=shutil.ignore_patterns("build"))


@cache
def full_install() -> Path:
    """The build side: every dependency, devDependencies included, and dist/ compiled."""
    npm = require_program("npm")

    def build(work: Path) -> None:
        _copy_sources(work)
        _run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], work)
        _run([npm, "run", "compile"], work)

    return _cached(f"build-{inputs_key('x64')}", build)


@cache
def prepared_app(arch: str) -> Path:
    """The /app of the example's runtime image for `arch` ('x64' or 'arm64')."""
    npm = require_program("npm")
    node_dir = node_binary(arch).parent.parent
    for tool in CROSS_COMPILERS[arch].values():
        require_program(tool)
    dist = full_install() / "dist"

    def build(work: Path) -> None:
        _copy_sources(work)
        # The plan's own production install for this target: scripts off, so the engine runs
        # it natively with the target's --os/--cpu/--libc, exactly as here.
        plan, target = example_target(arch)
        assert not target.rebuild, "the example's deps are all prebuilt"
        ((_, *install),) = plan.install_production(target).commands
        _run([npm, *install, "--no-audit", "--no-fund"], work)
        # The script the pipeline runs in its build container, pointed at this arch's headers.
        _run([npm, "run", "compile:bindings", "--", f"--arch={arch}", f"--nodedir={node_dir}"],
             work, CROSS_COMPILERS[arch])
        shutil.copytree(dist, work / "dist")

    return _cached(f"{arch}-{inputs_key(arch)}", build)


@cache
def example_target(arch: str) -> tuple[Plan, Target]:
    """The example's plan and its target for `arch`, as the build makes them (online audit)."""
    plan = prepare(load_settings({}, {}), Platform.parse("linux/amd64"))
    (target,) = [t for t in plan.targets if t.platform.node_arch == arch]
    return plan, target


def native_packages() -> list[str]:
    """The example's production dependencies: each of them ships native code."""
    return sorted(json.loads((EXAMPLE / "package.json").read_text())["dependencies"])


def test_key_changes_with_the_lockfile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Another lockfile gives another cache key, so a stale tree is never reused."""
    node_binary("x64")
    before = inputs_key("x64")
    example = tmp_path / "example"
    skip = shutil.ignore_patterns("node_modules", "build", "dist")
    shutil.copytree(EXAMPLE, example, ignore=skip)
    lock = example / "package-lock.json"
    lock.write_text(lock.read_text().replace('"lockfileVersion": 3', '"lockfileVersion":  3'))
    monkeypatch.setattr(f"{__name__}.EXAMPLE", example)
    assert inputs_key("x64") != before
    assert inputs_key("arm64") != inputs_key("x64")


@pytest.mark.npm_registry
@pytest.mark.parametrize("arch", ["x64", "arm64"])
def test_prepared_addon_is_built_for_its_arch(arch: str) -> None:
    """The service's own addon in each prepared tree is an ELF file for that CPU."""
    addon = prepared_app(arch) / "native" / "build" / "Release" / "checksum.node"
    header = addon.read_bytes()[:20]
    machine = int.from_bytes(header[18:20], "little")
    assert header[:4] == b"\x7fELF"
    assert machine == {"x64": 62, "arm64": 183}[arch], f"wanted {arch}, got ELF machine {machine}"
