"""elf.js and smoke.js on the layouts real services ship: dd-trace's node-gyp-build 3 prebuilds,
oracledb's and aws-crt's binaries outside prebuilds/, binaries for another Node ABI, and a
downloaded executable, all from real `npm ci --ignore-scripts` trees of the committed fixtures."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from pipelines.checks import SMOKE_FILES, parse_smoke, script
from tests.components.test_elf import elf
from tests.conftest import node_binary, require_program

pytestmark = pytest.mark.npm_registry

LOCKFILES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "lockfiles"
ESBUILD = "0.25.12"  # its static linux binaries stand in for a downloaded engine
# The file prisma 6's postinstall writes on linux/amd64 and linux/arm64 (glibc, OpenSSL 3):
# the host it downloads from is unreachable here, so a real ELF executable takes its place.
ENGINE = {"x64": "schema-engine-debian-openssl-3.0.x",
          "arm64": "schema-engine-linux-arm64-openssl-3.0.x"}
ENGINE_GLOB = "node_modules/@prisma/engines/schema-engine-*"


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Production installs of three fixtures for x64 and arm64, made once for the module."""
    npm = require_program("npm")
    made = {}
    for case in ("node-gyp-build3", "bundled-elsewhere", "wrong-abi"):
        for arch in ("x64", "arm64"):
            tree = tmp_path_factory.mktemp(f"{case}-{arch}")
            shutil.copytree(LOCKFILES / case, tree, dirs_exist_ok=True)
            subprocess.run([npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit",
                            "--no-fund", "--os=linux", f"--cpu={arch}", "--libc=glibc"],
                           cwd=tree, check=True, capture_output=True, timeout=600)
            made[case, arch] = tree
    return made


def smoke(tmp_path: Path, node_arch: str, app: Path, *args: str) -> tuple[int, object]:
    """Run the shipped smoke.js (with the elf.js it requires next to it) under real Node."""
    for name in SMOKE_FILES:
        (tmp_path / name).write_text(script(name))
    done = subprocess.run([str(node_binary(node_arch)), str(tmp_path / "smoke.js"), "--arch",
                           node_arch, "--libc", "glibc", "--app", str(app), *args],
                          capture_output=True, text=True, check=False, timeout=300)
    result = parse_smoke(done.stdout, f"linux/{node_arch}", exit_code=done.returncode,
                         stderr=done.stderr)
    assert done.returncode == (0 if result.ok else 1), done.stderr
    return done.returncode, result


@pytest.mark.parametrize("arch", ["x64", "arm64"])
def test_bundled_binaries_of_the_target_pass_the_elf_check(
    trees: dict[tuple[str, str], Path], tmp_path: Path, arch: str
) -> None:
    """Each package's own binaries for `arch` (glibc and musl) are checked and pass; the darwin
    and win32 ones it also ships, and the other arch's, are left alone."""
    modules = trees["bundled-elsewhere", arch] / "node_modules"
    datadog = trees["node-gyp-build3", arch] / "node_modules" / "@datadog"
    code, result, stderr = elf(tmp_path, arch, modules / "aws-crt", modules / "oracledb",
                               datadog / "native-appsec", datadog / "native-metrics")
    assert code == 0 and result["ok"], stderr
    checked = [Path(f["path"]).relative_to(modules.parent).as_posix()
               if Path(f["path"]).is_relative_to(modules.parent)
               else Path(f["path"]).relative_to(datadog.parent.parent).as_posix()
               for f in result["files"]]
    assert f"node_modules/aws-crt/dist/bin/linux-{arch}-glibc/aws-crt-nodejs.node" in checked
    assert f"node_modules/aws-crt/dist/bin/linux-{arch}-musl/aws-crt-nodejs.node" in checked
    assert f"node_modules/oracledb/build/Release/oracledb-26.0.0-linux-{arch}.node" in checked
    assert (f"node_modules/@datadog/native-appsec/prebuilds/linuxmusl-{arch}/node-napi.node"
            in checked)
    other = "arm64" if arch == "x64" else "x64"
    assert not [c for c in checked if any(s in c for s in ("darwin", "win32", f"-{other}"))]
    assert {f["got"] for f in result["files"]} == {f"{arch} 64-bit"}


def test_a_binary_for_the_wrong_machine_outside_prebuilds_is_refused(
    trees: dict[tuple[str, str], Path], tmp_path: Path
) -> None:
    """An x64 aws-crt binary where the arm64 one belongs: exit 1, the file named."""
    tree = Path(shutil.copytree(trees["bundled-elsewhere", "arm64"], tmp_path / "tree"))
    binary = "node_modules/aws-crt/dist/bin/linux-{}-glibc/aws-crt-nodejs.node"
    shutil.copy2(tree / binary.format("x64"), tree / binary.format("arm64"))
    code, result, stderr = elf(tmp_path, "arm64", tree / "node_modules" / "aws-crt")
    assert code == 1 and not result["ok"]
    assert f"{tree / binary.format('arm64')} is x64 64-bit, wanted arm64 64-bit" in stderr


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """esbuild's real linux-x64 and linux-arm64 executables, unpacked from their tarballs."""
    npm = require_program("npm")
    work = tmp_path_factory.mktemp("engines")
    found = {}
    for arch in ("x64", "arm64"):
        done = subprocess.run([npm, "pack", f"@esbuild/linux-{arch}@{ESBUILD}", "--json"],
                              cwd=work, check=True, capture_output=True, text=True, timeout=300)
        with tarfile.open(work / json.loads(done.stdout)[0]["filename"]) as archive:
            member = archive.extractfile("package/bin/esbuild")
            assert member is not None
            found[arch] = work / f"esbuild-{arch}"
            found[arch].write_bytes(member.read())
    return found


def with_engine(tmp_path: Path, engine: Path, name: str) -> Path:
    """An app whose @prisma/engines holds `engine` under the name prisma gives it."""
    folder = tmp_path / "app" / "node_modules" / "@prisma" / "engines"
    folder.mkdir(parents=True)
    (tmp_path / "app" / "package.json").write_text('{"name": "app"}')
    shutil.copy2(engine, folder / name)
    return tmp_path / "app"


def test_downloaded_executable_for_the_target_passes(
    engines: dict[str, Path], tmp_path: Path
) -> None:
    """The engine is there and an x64 ELF on the x64 target: the check passes, naming it."""
    app = with_engine(tmp_path, engines["x64"], ENGINE["x64"])
    code, result = smoke(tmp_path, "x64", app, "--exe", ENGINE_GLOB)
    assert code == 0
    (check,) = result.executables  # type: ignore[attr-defined]
    assert check.files == ((str(app / "node_modules/@prisma/engines" / ENGINE["x64"]),
                            "x64 64-bit"),)


def test_downloaded_executable_for_another_machine_fails(
    engines: dict[str, Path], tmp_path: Path
) -> None:
    """An arm64 engine in an x64 image (a download made on the wrong machine) is named."""
    app = with_engine(tmp_path, engines["arm64"], ENGINE["arm64"])
    code, result = smoke(tmp_path, "x64", app, "--exe", ENGINE_GLOB)
    assert code == 1
    assert result.problems == (  # type: ignore[attr-defined]
        f"executable {ENGINE_GLOB}: {app}/node_modules/@prisma/engines/{ENGINE['arm64']} is "
        "arm64 64-bit, not x64",)


def test_an_executable_that_was_never_downloaded_fails(tmp_path: Path) -> None:
    """prisma's postinstall exits 0 when its download fails: no file is the failure."""
    app = tmp_path / "app"
    (app / "node_modules" / "@prisma" / "engines").mkdir(parents=True)
    (app / "package.json").write_text('{"name": "app"}')
    code, result = smoke(tmp_path, "x64", app, "--exe", ENGINE_GLOB,
                         "--exe", "node_modules/@prisma/engines/libquery_engine-*.so.node")
    assert code == 1
    assert result.problems == tuple(  # type: ignore[attr-defined]
        f"executable {glob}: no file matches {glob} in {app}: the install script did not "
        "download it"
        for glob in (ENGINE_GLOB, "node_modules/@prisma/engines/libquery_engine-*.so.node"))


@pytest.mark.parametrize("arch", ["x64", pytest.param("arm64", marks=pytest.mark.qemu)])
def test_node_abi_decides_on_real_node_22(
    trees: dict[tuple[str, str], Path], tmp_path: Path, arch: str
) -> None:
    """Node 22: dd-trace 6's binaries (ABI 127, N-API) load; @datadog/pprof 3.2 (ABI <= 115),
    which the audit calls missing on Node 22, fails to load, and native-iast-taint-tracking
    1.6.4 swallows its failure (loaded nothing, so the smoke result warns)."""
    names = ["@datadog/native-appsec", "@datadog/native-metrics",
             "@datadog/native-iast-taint-tracking", "@datadog/pprof"]
    code, fine = smoke(tmp_path, arch, trees["node-gyp-build3", arch], "--", *names)
    assert code == 0 and fine.node_version.startswith("v22.")  # type: ignore[attr-defined]
    loaded = [Path(a).name for p in fine.packages for a in p.addons]  # type: ignore[attr-defined]
    assert loaded == ["node-napi.node", "node-napi.node", "node-127.node",
                      "dd_pprof.node.abi127.node"]
    code, old = smoke(tmp_path, arch, trees["wrong-abi", arch], "--", *names[2:])
    assert code == 1
    (problem,) = old.problems  # type: ignore[attr-defined]
    assert problem.startswith("@datadog/pprof failed to load: No native build was found")
    assert "abi=127" in problem
    assert old.warnings == (  # type: ignore[attr-defined]
        "@datadog/native-iast-taint-tracking: no native binding was loaded by require()",)


@pytest.mark.parametrize("arch", ["x64", pytest.param("arm64", marks=pytest.mark.qemu)])
def test_oracledb_loads_its_linux_binary_and_never_another_platforms(
    trees: dict[tuple[str, str], Path], tmp_path: Path, arch: str
) -> None:
    """oracledb loads nothing on require() (thin mode) and ships darwin and win32 binaries in
    build/Release beside the linux ones: only the target's is loaded, and the image passes."""
    tree = trees["bundled-elsewhere", arch]
    shipped = sorted(p.name for p in (tree / "node_modules/oracledb/build/Release").glob("*.node"))
    assert any("darwin" in n for n in shipped) and any("win32" in n for n in shipped), shipped
    code, result = smoke(tmp_path, arch, tree, "--", "oracledb")
    assert code == 0, result.problems  # type: ignore[attr-defined]
    (package,) = result.packages  # type: ignore[attr-defined]
    assert [Path(a).name for a in package.addons] == [f"oracledb-26.0.0-linux-{arch}.node"]
