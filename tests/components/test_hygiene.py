"""hygiene.js under real Node, against fake image roots and the example's real npm installs.

`--root` points the script's system paths (bin directories, gcc's libexec, homes) at a fake
image; the user checks need real users, so the script runs as nobody (65534) or as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.checks import HygieneResult, parse_hygiene, script
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.settings import load_settings
from tests.components.test_smoke_apps import full_install, prepared_app
from tests.conftest import EXAMPLE, REPO, node_binary, require

NOBODY = 65534
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "NODE_ENV": "production", "HOME": "/app"}


@pytest.fixture(scope="module")
def node() -> Iterator[Path]:
    """x64 Node copied where nobody can run it: the checkout may sit under a root-only folder."""
    folder = Path(tempfile.mkdtemp(prefix="hygiene-node-"))
    folder.chmod(0o755)
    copy = Path(shutil.copy2(node_binary("x64"), folder / "node"))
    yield copy
    shutil.rmtree(folder)


@pytest.fixture
def image() -> Iterator[Path]:
    """A fake image root anyone can read: /usr/bin, /bin -> usr/bin, /app with the lockfile."""
    root = Path(tempfile.mkdtemp(prefix="hygiene-"))
    root.chmod(0o755)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")  # merged /usr, as in Debian images
    (root / "tmp" / "nodepipe").mkdir(parents=True)
    (root / "tmp" / "nodepipe" / "hygiene.js").write_text(script("hygiene.js"))
    (root / "tmp" / "nodepipe" / "elf.js").write_text(script("elf.js"))
    app = root / "app"
    app.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(EXAMPLE / name, app / name)
    write_package(app, "bcrypt", "6.0.0")
    yield root
    shutil.rmtree(root)


def write_package(app: Path, name: str, version: str) -> None:
    """Put a minimal installed package into app/node_modules."""
    folder = app / "node_modules" / name
    folder.mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"name": name, "version": version}))


def executable(path: Path) -> None:
    """Create an executable stand-in for a program at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


def hygiene(
    node: Path,
    root: Path,
    *,
    app: Path | None = None,
    user: str = "nobody",
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> HygieneResult:
    """Run the shipped hygiene.js as `user` (nobody, root or self) and parse its result."""
    app = app or root / "app"
    command = [str(node), str(root / "tmp" / "nodepipe" / "hygiene.js"),
               "--root", str(root), "--app", str(app), *extra]
    environment = CLEAN_ENV if env is None else env
    uid: int | None = None
    if user == "root" and os.geteuid() != 0:
        sudo = shutil.which("sudo")
        ok = sudo and subprocess.run([sudo, "-n", "true"], capture_output=True, check=False)
        can_sudo = bool(ok and not ok.returncode)
        require("root, or sudo without a password (to run hygiene.js as uid 0)", can_sudo)
        command = [str(sudo), "-n", "env", *(f"{k}={v}" for k, v in environment.items()), *command]
    elif user == "nobody" and os.geteuid() == 0:
        uid = NOBODY
    done = subprocess.run(
        command, env=environment, user=uid, group=uid, extra_groups=[] if uid else None,
        capture_output=True, text=True, check=False, timeout=60,
    )
    result = parse_hygiene(
        done.stdout, "linux/amd64", exit_code=done.returncode, stderr=done.stderr
    )
    assert done.returncode == (0 if result.ok else 1), done.stderr
    return result


def test_clean_image_passes_and_sizes_are_measured(node: Path, image: Path) -> None:
    """No tool, no devDependency, non-root, NODE_ENV=production: clean, with the app's size."""
    result = hygiene(node, image)
    assert result.problems == ()
    assert result.uid != 0
    files = [p for p in (image / "app").rglob("*") if p.is_file()]
    assert result.app_bytes == sum(p.stat().st_size for p in files)
    assert result.node_modules_bytes == sum(
        p.stat().st_size for p in files if "node_modules" in p.parts
    )


def elf_file(path: Path, machine: int) -> None:
    """A little-endian 64-bit ELF header for `machine` (62 x86-64, 183 aarch64), padded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little")
    path.write_bytes(header + bytes(44))


def test_binaries_of_another_machine_among_the_apps_files_are_named(
        node: Path, image: Path) -> None:
    """--arch arm64: an x86-64 .so a build-stage script left in the app (a Python venv) is
    named with what it is built for; an arm64 one, a text file and anything under
    node_modules (smoke's to judge) are not."""
    app = image / "app"
    elf_file(app / ".venv" / "lib" / "_speedups.so", 62)
    elf_file(app / "bin" / "helper", 183)
    elf_file(app / "node_modules" / "x" / "prebuilds" / "linux-x64" / "x.node", 62)
    engines = app / "src" / "generated"
    elf_file(engines / "libquery_engine-linux-x64-openssl-3.0.x.so.node", 62)
    elf_file(engines / "libquery_engine-linux-arm64-openssl-3.0.x.so.node", 183)
    elf_file(app / ".venv" / "yaml" / "_yaml.cpython-311-x86_64-linux-gnu.so", 62)
    result = hygiene(node, image, extra=("--arch", "arm64"))
    assert result.foreign_binaries == (
        (".venv/lib/_speedups.so", "x64 64-bit"),
        (".venv/yaml/_yaml.cpython-311-x86_64-linux-gnu.so", "x64 64-bit"))
    assert "binaries of another machine among the application's files: " \
           ".venv/lib/_speedups.so (x64 64-bit)" in result.problems[0]
    assert hygiene(node, image, extra=("--arch", "x64")).foreign_binaries == (
        ("bin/helper", "arm64 64-bit"),)  # the arm64 engine sits beside the x64 one
    assert hygiene(node, image).foreign_binaries == ()


def test_compiler_on_path_and_devdependency_are_listed(node: Path, image: Path) -> None:
    """gcc on PATH and typescript in node_modules are both named; /bin and /usr/bin count once."""
    executable(image / "usr" / "bin" / "gcc")
    write_package(image / "app", "typescript", "5.9.3")
    result = hygiene(node, image)
    assert result.build_tools == ("/usr/bin/gcc",)
    assert [str(d) for d in result.dev_dependencies] == ["typescript@5.9.3"]
    assert result.problems == (
        "build tools in the image: /usr/bin/gcc",
        "devDependencies in node_modules: typescript@5.9.3",
    )


def test_every_kind_of_build_tool_is_found(node: Path, image: Path) -> None:
    """Versioned and cross compilers, make, python3.x, gcc's cc1 and node-gyp's cache are found."""
    for name in ("x86_64-linux-gnu-g++-12", "make", "python3.11"):
        executable(image / "usr" / "bin" / name)
    executable(image / "usr" / "lib" / "gcc" / "x86_64-linux-gnu" / "12" / "cc1")
    (image / "usr" / "bin" / "cc").symlink_to("/etc/alternatives/cc-missing")  # dangling: no tool
    (image / "root" / ".cache" / "node-gyp" / "22.23.3").mkdir(parents=True)
    (image / "root").chmod(0o755)
    (image / "cache" / "node-gyp").mkdir(parents=True)  # where the build stages keep it
    result = hygiene(node, image)
    assert sorted(result.build_tools) == [
        "/usr/bin/make", "/usr/bin/python3.11", "/usr/bin/x86_64-linux-gnu-g++-12",
        "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
    ]
    assert result.node_gyp_caches == ("/cache/node-gyp", "/root/.cache/node-gyp")


def test_root_user_is_reported(node: Path, image: Path) -> None:
    """An image whose default user is root fails, whatever else is clean."""
    result = hygiene(node, image, user="root")
    assert result.problems == (
        "the default user is root (uid 0): the image must run as a non-root user",
    )


@pytest.mark.parametrize(("node_env", "sentence"), [
    (None, "NODE_ENV is not set, wanted 'production'"),
    ("development", "NODE_ENV is 'development', wanted 'production'"),
])
def test_node_env_must_be_production(
    node: Path, image: Path, node_env: str | None, sentence: str
) -> None:
    """NODE_ENV unset or other than production is an offender."""
    env = {k: v for k, v in CLEAN_ENV.items() if k != "NODE_ENV"}
    if node_env is not None:
        env["NODE_ENV"] = node_env
    assert hygiene(node, image, env=env).problems == (sentence,)


def test_missing_lockfile_is_an_error(node: Path, image: Path) -> None:
    """Without a lockfile the devDependency check cannot run, and that fails the check."""
    (image / "app" / "package-lock.json").unlink()
    (problem,) = hygiene(node, image).problems
    assert problem.startswith(f"cannot read the lockfile {image / 'app' / 'package-lock.json'}: ")


def test_directories_the_user_cannot_read_are_reported(node: Path, image: Path) -> None:
    """A node-gyp cache under a root-only home cannot be seen; it is listed as unchecked."""
    require("root (to make a directory nobody cannot read)", os.geteuid() == 0)
    (image / "root" / ".cache" / "node-gyp").mkdir(parents=True)
    (image / "root").chmod(0o700)
    result = hygiene(node, image)
    assert result.node_gyp_caches == ()
    assert "/root/.cache/node-gyp" in result.unchecked


@pytest.mark.npm_registry
def test_real_installs_against_the_lockfile(node: Path, image: Path) -> None:
    """`npm ci --omit=dev` leaves no devDependency; a full install shows exactly the dev ones."""
    lock = json.loads((EXAMPLE / "package-lock.json").read_text())
    entries = lock["packages"].items()
    dev = sorted(k.removeprefix("node_modules/") for k, v in entries if v.get("dev"))
    assert dev, "the example's lockfile has devDependencies to find"
    # Run as the current user: the prepared trees sit in the checkout, maybe under a root-only
    # folder; the user check is not what this test is about.
    production = hygiene(node, image, app=prepared_app("x64"), user="self")
    assert (production.build_tools, production.dev_dependencies) == ((), ())
    assert production.node_modules_bytes > 1_000_000
    full = hygiene(node, image, app=full_install(), user="self")
    assert sorted(d.name for d in full.dev_dependencies) == dev


def test_declared_system_packages_are_not_leaks(node: Path, image: Path) -> None:
    """python3 declared in apt_packages (by name, or as the dpkg owner of the file) passes;
    an undeclared gcc is still named."""
    executable(image / "usr" / "bin" / "python3.11")
    executable(image / "usr" / "bin" / "node-gyp-helper")  # not a tool name: ignored anyway
    executable(image / "usr" / "bin" / "gcc")
    info = image / "var" / "lib" / "dpkg" / "info"
    info.mkdir(parents=True)
    (info / "ffmpeg:amd64.list").write_text("/usr/bin/python3.11\n")
    by_owner = hygiene(node, image, extra=("--allow", "ffmpeg"))
    assert by_owner.build_tools == ("/usr/bin/gcc",)
    by_name = hygiene(node, image, extra=("--allow", "python3"))
    assert by_name.build_tools == ("/usr/bin/gcc",)
    assert sorted(hygiene(node, image).build_tools) == ["/usr/bin/gcc", "/usr/bin/python3.11"]


def test_a_production_copy_of_a_dev_only_name_is_not_a_leak(node: Path, image: Path) -> None:
    """A lockfile's dev-only entry counts only at its own version: a hoisted production
    package of the same name at another version is not the devDependency."""
    app = image / "app"
    lock = {"lockfileVersion": 3, "packages": {
        "node_modules/debug": {"version": "2.6.9", "dev": True}}}
    (image / "tmp" / "nodepipe" / "dev.json").write_text(json.dumps(lock))
    write_package(app, "debug", "4.4.0")
    extra = ("--lockfile", str(image / "tmp" / "nodepipe" / "dev.json"))
    assert hygiene(node, image, extra=extra).dev_dependencies == ()
    shutil.rmtree(app / "node_modules" / "debug")
    write_package(app, "debug", "2.6.9")
    assert [str(d) for d in hygiene(node, image, extra=extra).dev_dependencies] == [
        "debug@2.6.9"]


def test_commands_of_npm_packages_on_path_are_not_build_tools(node: Path, image: Path) -> None:
    """node_modules/.bin is on the image's PATH; a node-gyp there is a package (yarn berry puts
    one in production), judged by the devDependency check, not a system build tool."""
    bin_dir = image / "app" / "node_modules" / ".bin"
    executable(bin_dir / "node-gyp")
    env = {**CLEAN_ENV, "PATH": f"/app/node_modules/.bin:{CLEAN_ENV['PATH']}"}  # image paths
    assert hygiene(node, image, env=env).build_tools == ()


@pytest.mark.parametrize("dev_list", ["plan", "lockfile"])
def test_file_folder_dev_dependency_is_judged_as_a_package(
        node: Path, image: Path, dev_list: str) -> None:
    """A `file:spec/dependencies/mock-adapter` devDependency (npm's own lockfile): its source
    folder in the image is the project's files, not a leak; the link node_modules/mock-adapter
    is. Both with the plan's dev list and with the app's real package-lock.json."""
    fixture = REPO / "tests" / "fixtures" / "lockfiles" / "file-dev"
    app = image / "app"
    shutil.copy2(fixture / "package-lock.json", app / "package-lock.json")
    shutil.copytree(fixture / "spec", app / "spec")
    write_package(app, "ms", "2.1.3")
    extra: tuple[str, ...] = ()
    if dev_list == "plan":
        settings = load_settings({"source": str(fixture), "start_command": "node,-e,0"}, {})
        plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
        (image / "tmp" / "nodepipe" / "dev.json").write_text(plan.dev_lockfile())
        extra = ("--lockfile", str(image / "tmp" / "nodepipe" / "dev.json"))
    assert hygiene(node, image, extra=extra).dev_dependencies == ()
    (app / "node_modules" / "mock-adapter").symlink_to("../spec/dependencies/mock-adapter")
    leaked = hygiene(node, image, extra=extra)
    assert [(d.name, d.path, d.version) for d in leaked.dev_dependencies] == [
        ("mock-adapter", "node_modules/mock-adapter", "1.0.0")]
