"""smoke.js under real Node: the example's native packages load on amd64 and on arm64 (QEMU).

The trees come from test_smoke_apps.prepared_app: real `npm ci --omit=dev` output per arch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.checks import SMOKE_FILES, SmokeResult, parse_smoke, script
from pipelines.errors import PipelineError
from tests.components.test_smoke_apps import DOCKER_ARCH, native_packages, prepared_app
from tests.conftest import REPO, node_binary

ELF_MACHINE = {62: "x64", 183: "arm64"}
ADDON_DIR = "./native/build/Release"


@pytest.fixture
def smoke_js(tmp_path: Path) -> Path:
    """The shipped smoke script, written out as the smoke stage writes it into the image (with
    the elf.js it requires beside it)."""
    for name in SMOKE_FILES:
        (tmp_path / name).write_text(script(name))
    return tmp_path / "smoke.js"


def run_smoke(
    smoke_js: Path, node_arch: str, app: Path, *targets: str, arch: str = "", libc: str = "glibc"
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run smoke.js with the Node of `node_arch`; return the process and its platform name."""
    expected = arch or node_arch
    args = [str(node_binary(node_arch)), str(smoke_js), "--arch", expected, "--libc", libc,
            "--app", str(app), "--", *targets]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    return done, f"linux/{DOCKER_ARCH[expected]}"


def smoke(smoke_js: Path, node_arch: str, app: Path, *targets: str, **kw: str) -> SmokeResult:
    """Run smoke.js and parse its result; the exit code must agree with the result."""
    done, platform = run_smoke(smoke_js, node_arch, app, *targets, **kw)
    result = parse_smoke(done.stdout, platform, exit_code=done.returncode, stderr=done.stderr)
    assert done.returncode == (0 if result.ok else 1), done.stderr
    return result


def elf_arch(path: str) -> str:
    """The CPU an ELF file was built for, read independently of smoke.js."""
    header = Path(path).read_bytes()[:20]
    return ELF_MACHINE.get(int.from_bytes(header[18:20], "little"), "other")


def copy_of(app: Path, tmp_path: Path) -> Path:
    """A private copy of a prepared tree, free to break."""
    return Path(shutil.copytree(app, tmp_path / "app", symlinks=True))


@pytest.mark.npm_registry
@pytest.mark.parametrize("arch", ["x64", pytest.param("arm64", marks=pytest.mark.qemu)])
def test_example_native_packages_load(arch: str, smoke_js: Path) -> None:
    """Every production native package and the service's addon load, from binaries for `arch`."""
    app = prepared_app(arch)
    result = smoke(smoke_js, arch, app, *native_packages(), ADDON_DIR)
    assert result.problems == ()
    assert (result.arch, result.libc, result.node_version) == (arch, "glibc", "v22.23.3")
    assert result.glibc_version
    names = [p.name for p in result.packages]
    assert names == [*native_packages(), "native/build/Release/checksum.node"]
    for package in result.packages:
        assert package.addons, f"{package.name} loaded no binary"
        for addon in package.addons:
            assert Path(addon).is_relative_to(app)
            assert elf_arch(addon) == arch, f"{package.name} used {addon}"


@pytest.mark.npm_registry
@pytest.mark.qemu
def test_wrong_arch_package_binary_is_named(smoke_js: Path, tmp_path: Path) -> None:
    """An x64 better-sqlite3 binary in the arm64 tree fails, naming the package and the arch."""
    app = copy_of(prepared_app("arm64"), tmp_path)
    prebuilds = app / "node_modules" / "better-sqlite3" / "prebuilds"
    shutil.copy2(prepared_app("x64") / prebuilds.relative_to(app) / "linux-x64.node",
                 prebuilds / "linux-arm64.node")
    result = smoke(smoke_js, "arm64", app, *native_packages())
    (problem,) = result.problems
    assert problem.startswith("better-sqlite3 failed to load: ")
    assert f"{prebuilds / 'linux-arm64.node'} is built for x64, not arm64" in problem
    assert [p.ok for p in result.packages] == [p != "better-sqlite3" for p in native_packages()]
    with pytest.raises(PipelineError) as caught:
        result.raise_for_failure()
    assert str(caught.value).startswith(
        "stage smoke on linux/arm64 failed: better-sqlite3 failed to load: "
    )


@pytest.mark.npm_registry
@pytest.mark.qemu
def test_wrong_arch_local_addon_is_named(smoke_js: Path, tmp_path: Path) -> None:
    """The service's own addon compiled for x64 in the arm64 tree fails, naming the file."""
    app = copy_of(prepared_app("arm64"), tmp_path)
    addon = "native/build/Release/checksum.node"
    shutil.copy2(prepared_app("x64") / addon, app / addon)
    result = smoke(smoke_js, "arm64", app, ADDON_DIR)
    assert result.problems == (
        f"{addon} failed to load: {app / addon} is built for x64, not arm64 "
        "(dlopen said: cannot open shared object file: No such file or directory)",
    )


@pytest.mark.npm_registry
def test_image_running_the_other_arch_is_reported(smoke_js: Path) -> None:
    """An arm64 tree run by an x64 Node: the arch mismatch and the unloadable packages show."""
    result = smoke(smoke_js, "x64", prepared_app("arm64"), "sharp", arch="arm64")
    assert result.problems[0] == "process.arch is x64, wanted arm64"
    assert result.problems[1].startswith("sharp failed to load: ")


@pytest.mark.npm_registry
def test_libc_mismatch_is_reported(smoke_js: Path) -> None:
    """A glibc image checked against a musl target fails on the C library."""
    result = smoke(smoke_js, "x64", prepared_app("x64"), "bcrypt", libc="musl")
    assert result.problems == ("the C library is glibc, wanted musl",)


def fake_package(app: Path, name: str, body: str) -> None:
    """Write a one-file package `name` with index.js `body` into app/node_modules."""
    package = app / "node_modules" / name
    package.mkdir(parents=True)
    (package / "package.json").write_text(f'{{"name": "{name}", "version": "1.0.0"}}')
    (package / "index.js").write_text(body)


def test_crash_while_loading_names_the_package(smoke_js: Path, tmp_path: Path) -> None:
    """A package that kills Node while loading is named from the script's stderr."""
    app = tmp_path / "app"
    fake_package(app, "harmless", "module.exports = 1;\n")
    fake_package(app, "crasher", "process.kill(process.pid, 'SIGKILL');\n")
    done, platform = run_smoke(smoke_js, "x64", app, "harmless", "crasher")
    assert done.stdout == ""
    with pytest.raises(PipelineError) as caught:
        parse_smoke(done.stdout, platform, exit_code=done.returncode, stderr=done.stderr)
    assert caught.value.message == (
        f"the smoke script died while loading crasher (exit code {done.returncode})"
    )


def test_missing_package_and_plain_js_package(smoke_js: Path, tmp_path: Path) -> None:
    """A package absent from node_modules fails; one with no binding loads with a warning."""
    app = tmp_path / "app"
    fake_package(app, "plain", "module.exports = 1;\n")
    result = smoke(smoke_js, "x64", app, "plain", "absent")
    assert result.problems == ("absent failed to load: Cannot find module 'absent'",)
    assert result.warnings == ("plain: no native binding was loaded by require()",)


def test_bad_arguments_exit_2(smoke_js: Path) -> None:
    """An unknown libc is a usage error (exit 2), and parsing says no result was printed."""
    done, platform = run_smoke(smoke_js, "x64", Path("/nonexistent"), "x", libc="uclibc")
    assert done.returncode == 2
    assert "--libc must be glibc or musl" in done.stderr
    with pytest.raises(PipelineError, match="printed no result"):
        parse_smoke(done.stdout, platform, exit_code=done.returncode, stderr=done.stderr)


@pytest.mark.npm_registry
@pytest.mark.parametrize(("binary_arch", "ok"), [("x64", True), ("arm64", False)])
def test_lazy_compiled_binding_is_loaded_and_checked(
    smoke_js: Path, tmp_path: Path, binary_arch: str, ok: bool
) -> None:
    """A package that loads nothing on require() still has its build/Release binding checked."""
    app = tmp_path / "app"
    # "exports" hides package.json, as many packages do; the script must still find the package.
    fake_package(app, "lazy", "module.exports = {};\n")
    (app / "node_modules" / "lazy" / "package.json").write_text(
        '{"name": "lazy", "version": "1.0.0", "exports": {".": "./index.js"}}'
    )
    binding = app / "node_modules" / "lazy" / "build" / "Release" / "lazy.node"
    binding.parent.mkdir(parents=True)
    shutil.copy2(prepared_app(binary_arch) / "native/build/Release/checksum.node", binding)
    result = smoke(smoke_js, "x64", app, "lazy")
    assert result.packages[0].addons == (str(binding),)
    assert result.ok is ok
    if not ok:
        assert result.problems[0].startswith(
            f"lazy failed to load: {binding} is built for arm64, not x64"
        )


@pytest.mark.npm_registry
def test_lockfile_location_loads_that_copy(smoke_js: Path, tmp_path: Path) -> None:
    """`node_modules/a/node_modules/b` checks the nested copy, which the app dir cannot resolve."""
    app = tmp_path / "app"
    nested = app / "node_modules" / "outer" / "node_modules" / "better-sqlite3"
    shutil.copytree(prepared_app("x64") / "node_modules" / "better-sqlite3", nested)
    (nested.parent.parent / "package.json").write_text('{"name": "outer", "version": "1.0.0"}')
    shutil.copy2(prepared_app("arm64") / "node_modules/better-sqlite3/prebuilds/linux-arm64.node",
                 nested / "prebuilds" / "linux-x64.node")
    location = "node_modules/outer/node_modules/better-sqlite3"
    result = smoke(smoke_js, "x64", app, location)
    assert result.problems == (
        f"{location} failed to load: {nested / 'prebuilds/linux-x64.node'} is built for arm64, "
        "not x64 (dlopen said: cannot open shared object file: No such file or directory)",
    )


@pytest.mark.npm_registry
@pytest.mark.parametrize("arch", ["x64", pytest.param("arm64", marks=pytest.mark.qemu)])
def test_audit_paths_are_accepted(arch: str, smoke_js: Path) -> None:
    """The audit's `path`s load: lockfile locations, a platform package, the addon's source dir."""
    targets = [f"node_modules/{name}" for name in native_packages()]
    targets += [f"node_modules/@img/sharp-linux-{arch}", "./native"]
    result = smoke(smoke_js, arch, prepared_app(arch), *targets)
    assert result.problems == ()
    addon = "native/build/Release/checksum.node"
    assert [p.name for p in result.packages] == [*targets[:-1], addon]
    platform_package = result.packages[-2]
    assert len(platform_package.addons) == 1
    assert elf_arch(platform_package.addons[0]) == arch


@pytest.mark.npm_registry
def test_platform_package_of_the_other_arch_is_named(smoke_js: Path) -> None:
    """An arm64 platform package checked on x64 fails, naming its binary's arch."""
    result = smoke(smoke_js, "x64", prepared_app("arm64"), "@img/sharp-linux-arm64")
    (problem,) = result.problems
    assert problem.startswith("@img/sharp-linux-arm64 failed to load: ")
    assert "is built for arm64, not x64" in problem


def test_start_programs_resolve_on_path_or_are_named(smoke_js: Path, tmp_path: Path) -> None:
    """--program finds an executable on PATH (node_modules/.bin included) and --preload a
    module from the working directory; a program or module the image lacks is named."""
    app = tmp_path / "app"
    fake_package(app, "tsx", "module.exports = 1;\n")
    bin_dir = app / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "next").write_text("#!/bin/sh\n")
    (bin_dir / "next").chmod(0o755)
    (bin_dir / "plain").write_text("not executable\n")
    args = [str(node_binary("x64")), str(smoke_js), "--arch", "x64", "--libc", "glibc",
            "--app", str(app), "--program", "next", "--program", "pnpm", "--program", "plain",
            "--program", "./absent.js", "--preload", "tsx", "--preload", "dotenv/config"]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60,
                          cwd=app, env={"PATH": str(bin_dir)})
    result = parse_smoke(done.stdout, "linux/amd64", exit_code=done.returncode, stderr=done.stderr)
    assert done.returncode == 1, done.stderr
    assert [(p.name, p.ok) for p in result.programs] == [
        ("next", True), ("pnpm", False), ("plain", False), ("./absent.js", False),
        ("tsx", True), ("dotenv/config", False)]
    assert result.programs[0].path == str(bin_dir / "next")
    assert "the start command's pnpm does not resolve in the image: not on PATH" in \
        result.problems


def lazy_driver(app: Path, *binaries: str) -> Path:
    """A package that loads nothing on require() (a driver whose native part is optional and
    lazy, as oracledb's thick mode), with build/Release files of these names that hold no ELF
    object: loading any of them would fail."""
    fake_package(app, "driver", "module.exports = { thick: () => require('./build/Release') };\n")
    release = app / "node_modules" / "driver" / "build" / "Release"
    release.mkdir(parents=True)
    for name in binaries:
        (release / name).write_bytes(b"MZ not an ELF object: a Mach-O or PE file stands here\n")
    return release


@pytest.mark.npm_registry
def test_other_platforms_binaries_beside_a_linux_one_are_never_loaded(
    smoke_js: Path, tmp_path: Path
) -> None:
    """-darwin-arm64.node and -win32-x64.node beside -linux-x64.node: only the linux one loads."""
    app = tmp_path / "app"
    release = lazy_driver(app, "driver-1.0.0-darwin-arm64.node", "driver-1.0.0-win32-x64.node",
                          "driver-1.0.0-linux-arm64.node")
    linux = release / "driver-1.0.0-linux-x64.node"
    shutil.copy2(prepared_app("x64") / "native/build/Release/checksum.node", linux)
    result = smoke(smoke_js, "x64", app, "driver")
    assert result.problems == ()
    assert result.packages[0].addons == (str(linux),)


def test_a_lazy_driver_with_only_other_platforms_binaries_is_a_warning(
    smoke_js: Path, tmp_path: Path
) -> None:
    """No binary for the target and none loaded on require(): reported as optional and lazy,
    naming what was left alone, and the image passes (it did fail with "not an ELF")."""
    app = tmp_path / "app"
    lazy_driver(app, "driver-1.0.0-darwin-arm64.node", "driver-1.0.0-win32-x64.node")
    result = smoke(smoke_js, "x64", app, "driver")
    assert result.ok
    assert result.warnings == (
        "driver: no native binding was loaded by require(): its binary is optional or loaded "
        "lazily, and it ships none for linux/x64 in build/Release (left alone: "
        "driver-1.0.0-darwin-arm64.node, driver-1.0.0-win32-x64.node)",)


def test_an_addon_directory_loads_only_the_targets_files(smoke_js: Path, tmp_path: Path) -> None:
    """A directory argument (the service's own addon output) skips other platforms' files."""
    app = tmp_path / "app"
    out = app / "native" / "build" / "Release"
    out.mkdir(parents=True)
    (out / "own-win32-x64.node").write_bytes(b"MZ")
    result = smoke(smoke_js, "x64", app, "./native/build/Release")
    # Nothing of the target's is left: the directory itself is reported as having no addon.
    assert [p.name for p in result.packages] == ["./native/build/Release"]
    assert not result.ok


def test_an_optional_package_absent_on_the_target_is_said_to_be_absent(
    smoke_js: Path, tmp_path: Path
) -> None:
    """`--optional`: a package that is not there, or does not load, is a warning that says it
    is absent; a required package that is not there still fails."""
    app = tmp_path / "app"
    fake_package(app, "cpu-features", "throw new Error('no binding for this platform');\n")
    done = subprocess.run(
        [str(node_binary("x64")), str(smoke_js), "--arch", "x64", "--libc", "glibc", "--app",
         str(app), "--optional", "cpu-features", "--optional", "gone", "--", "required-gone"],
        capture_output=True, text=True, check=False, timeout=60)
    result = parse_smoke(done.stdout, "linux/amd64", exit_code=done.returncode,
                         stderr=done.stderr)
    assert done.returncode == 1
    assert result.problems == (
        "required-gone failed to load: Cannot find module 'required-gone'",)
    assert [p.optional for p in result.packages] == [True, True, False]
    assert result.warnings == (
        "cpu-features: optional and absent on this target, the service runs without it "
        "(no binding for this platform)",
        "gone: optional and absent on this target, the service runs without it "
        "(Cannot find module 'gone')")


@pytest.mark.skipif(not Path("/var/lib/dpkg/status").is_file(), reason="no dpkg on this host")
def test_declared_system_packages_are_installed_and_their_programs_load(
    smoke_js: Path, tmp_path: Path
) -> None:
    """--system reads this Debian host's dpkg record: dpkg itself is installed and each of its
    programs is an x64 ELF whose libraries the loader finds; a package dpkg does not list is
    named in one sentence."""
    args = [str(node_binary("x64")), str(smoke_js), "--arch", "x64", "--libc", "glibc",
            "--app", str(tmp_path), "--system", "dpkg", "--system", "nodepipe-no-such-package"]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    result = parse_smoke(done.stdout, "linux/amd64", exit_code=done.returncode,
                         stderr=done.stderr)
    dpkg, missing = result.system
    assert dpkg.ok and dpkg.version and ("/usr/bin/dpkg", "x64 64-bit") in dpkg.programs
    assert ("/usr/bin/dpkg", "--version: exit 0") in dpkg.ran
    assert not missing.ok and done.returncode == 1
    assert result.problems == (
        "system package nodepipe-no-such-package: dpkg does not list it",)


def test_a_declared_program_that_dies_on_its_first_run_fails(tmp_path: Path) -> None:
    """dpkg.js runs each program once with --version: a signal (a SIGILL of a binary built for
    a newer CPU, a SIGSEGV) fails it, an exit code of its own does not, and neither does a
    program that waits for input."""
    dies, exits, waits = (tmp_path / n for n in ("dies", "exits", "waits"))
    dies.write_text("#!/bin/sh\nkill -SEGV $$\n")
    exits.write_text("#!/bin/sh\necho 'unknown option' >&2; exit 2\n")
    waits.write_text("#!/bin/sh\nsleep 30\n")
    for program in (dies, exits, waits):
        program.chmod(0o755)
    dpkg_js = REPO / "pipelines" / "checks" / "dpkg.js"
    code = (f"const {{ run }} = require({str(dpkg_js)!r});"
            f"console.log(JSON.stringify([{str(dies)!r}, {str(exits)!r}, {str(waits)!r}]"
            ".map(run)));")
    done = subprocess.run([str(node_binary("x64")), "-e", code], capture_output=True,
                          text=True, check=True, timeout=60)
    died, exited, waited = json.loads(done.stdout)
    assert (died["ok"], died["ran"]) == (False, "--version: SIGSEGV")
    assert died["error"] == f"{dies} --version was killed by SIGSEGV"
    assert (exited["ok"], exited["ran"]) == (True, "-version: exit 2")
    assert (waited["ok"], waited["ran"]) == (True, "--version: no answer in 10 s")


def test_generated_code_must_be_there_and_load(smoke_js: Path, tmp_path: Path) -> None:
    """--generated: a client folder with its schema copy that loads passes; the stub (no
    schema copy) and a client that throws on require are named, with why."""
    app = tmp_path / "app"
    good = app / "node_modules" / ".prisma" / "client"
    good.mkdir(parents=True)
    (good / "schema.prisma").write_text("// generated\n")
    (good / "index.js").write_text("exports.ok = true;\n")
    stub = app / "node_modules" / "stub" / ".prisma" / "client"
    stub.mkdir(parents=True)
    (stub / "index.js").write_text("exports.ok = false;\n")
    broken = app / "gen"
    broken.mkdir()
    (broken / "schema.prisma").write_text("// generated\n")
    (broken / "index.js").write_text("throw new Error('engine for another platform');\n")
    args = [str(node_binary("x64")), str(smoke_js), "--arch", "x64", "--libc", "glibc",
            "--app", str(app),
            "--generated", "node_modules/.prisma/client/schema.prisma",
            "--generated", "node_modules/stub/.prisma/client/schema.prisma",
            "--generated", "gen/schema.prisma"]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    result = parse_smoke(done.stdout, "linux/amd64", exit_code=done.returncode, stderr=done.stderr)
    assert done.returncode == 1, done.stderr
    assert [(g.name, g.ok) for g in result.generated] == [
        ("node_modules/.prisma/client", True), ("node_modules/stub/.prisma/client", False),
        ("gen", False)]
    assert ("generated code node_modules/stub/.prisma/client is not usable in the image: "
            "schema.prisma is not in node_modules/stub/.prisma/client: the code was not "
            "generated") in result.problems
    assert ("generated code gen is not usable in the image: engine for another platform"
            in result.problems)
