"""Deciding how a package gets its native binary, from whatever evidence is at hand."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipelines.audit.model import Mechanism
from pipelines.audit.no_work import no_work
from pipelines.audit.prebuilds import bundled_binaries, has_binding_gyp, outside_prebuilds
from pipelines.audit.project import Project
from pipelines.packagers.lockfiles.entry import LockEntry, resolve_in
from pipelines.packagers.lockfiles.platform_names import platform_tag

# Helper packages whose presence among the dependencies says what the install script does.
DOWNLOADERS = ("prebuild-install", "@mapbox/node-pre-gyp", "node-pre-gyp",
               "install-artifact-from-github", "@discordjs/node-pre-gyp")
PREBUILD_LOADERS = ("node-gyp-build", "node-gyp-build-optional-packages")
ADDON_HEADERS = ("nan", "node-addon-api", "bindings", "node-gyp", "cmake-js")
NATIVE_HINTS = frozenset(DOWNLOADERS + PREBUILD_LOADERS + ADDON_HEADERS)
# Native packages with no native helper among their dependencies: where a lockfile records no
# install scripts (yarn berry, pnpm 9+), only their name says they are worth a look.
# onnxruntime-node up to 1.17 has no install script and no helper at all: its tarball holds
# bin/napi-v3/linux/{x64,arm64}/onnxruntime_binding.node (1.18+ adds a postinstall).
KNOWN_NATIVE = frozenset({"oracledb", "aws-crt", "@prisma/engines", "onnxruntime-node",
                          "@vscode/ripgrep"})
# Install scripts that download an executable (not an addon) for the machine they run on, and
# the files they leave in the package (`*`: the platform part of the name), from a major version
# on. Nothing in the tarball shows these: @prisma/engines' postinstall writes
# schema-engine-debian-openssl-3.0.x (and, before Prisma 7, libquery_engine-*.so.node).
EXECUTABLE_DOWNLOADS: dict[str, tuple[tuple[int, tuple[str, ...]], ...]] = {
    "@prisma/engines": ((7, ("schema-engine-*",)),
                        (5, ("schema-engine-*", "libquery_engine-*.so.node")),
                        (0, ("migration-engine-*", "libquery_engine-*.so.node"))),
    # @vscode/ripgrep 1.17.0: "postinstall": "node ./lib/postinstall.js", which downloads the rg
    # release for `process.env.npm_config_arch || os.arch()` (on linux a static musl build) from
    # GitHub into bin/ (`BIN_PATH = path.join(__dirname, '../bin')`).
    "@vscode/ripgrep": ((0, ("bin/rg",)),),
}

# Install scripts that run node-gyp from a script file, so no tool shows in their text: they
# compile (on the engine, cross for a foreign target) and load the result when it is there.
# ssh2 1.x: "install": "node install.js", which runs `node-gyp rebuild` in
# lib/protocol/crypto for an optional binding and exits 0 when that fails (ssh2 then uses
# its JavaScript crypto).
SCRIPT_BUILDS = {"ssh2": ("node install.js", "an optional crypto binding it runs without")}

# Install scripts that generate code from the project rather than fetch or build a binary.
# @prisma/client's postinstall runs `prisma generate` where it finds a schema; the build runs
# it itself, after the install and, before Prisma 7, on each target (project/generated.py).
CODE_GENERATORS = {"@prisma/client": "prisma generate"}

_DOWNLOAD_SCRIPT = re.compile(
    r"prebuild-install|node-pre-gyp|install-from-cache|install-artifact-from-github")
_LOADER_SCRIPT = re.compile(r"node-gyp-build")
_NOOP = re.compile(r"\s*(exit 0|true|:)\s*")
_COMPILE_SCRIPT = re.compile(r"node-gyp|cmake-js")


@dataclass(frozen=True, slots=True)
class Facts:
    """What the installed tree or the registry says about one package; None = unknown."""

    install_scripts: str | None = None  # preinstall, install, postinstall joined
    scripts_from: str = ""
    gypfile: bool | None = None
    files: tuple[str, ...] | None = None  # paths relative to the package root
    files_from: str = ""


def install_scripts(manifest: Mapping[str, object]) -> str:
    """The lifecycle scripts npm runs at install, joined; empty when there are none."""
    scripts = manifest.get("scripts")
    if not isinstance(scripts, dict):
        return ""
    return " && ".join(str(scripts[k]) for k in ("preinstall", "install", "postinstall")
                       if scripts.get(k))


def platform_children(project: Project) -> dict[str, list[LockEntry]]:
    """Map each platform-package parent (esbuild, sharp ...) to its platform packages."""
    parents: dict[str, list[LockEntry]] = {}
    for entry in project.entries.values():
        if not entry.optional_dependencies:
            continue
        children = [child for name in entry.optional_dependencies
                    if (child := resolve(project, entry.path, name)) and child.constrained]
        if children and _is_platform_set(entry, children):
            parents[entry.path] = children
    return parents


def _is_platform_set(parent: LockEntry, children: list[LockEntry]) -> bool:
    """Platform packages cover linux; a lone darwin-only optional dep (fsevents) is not a set,
    nor are another package's platform packages listed by mistake (trpc-to-openapi 2.1 names
    @rollup/rollup-linux-x64-gnu, which nothing of it loads): a platform package's name shares
    a word with its parent's (esbuild's @esbuild/linux-x64, next's @next/swc-linux-x64-gnu)."""
    words = _words(parent.name)
    if not any(words & _words(c.name) for c in children):
        return False
    if any(not c.os or "linux" in c.os for c in children):
        return True
    return any(platform_tag(name).os == "linux" for name in parent.optional_dependencies)


def _words(name: str) -> set[str]:
    return {w for w in re.split(r"[@/._-]", name.lower()) if len(w) > 1} - {"node", "js"}


def resolve(project: Project, from_path: str, name: str) -> LockEntry | None:
    """Find the entry `name` resolves to from `from_path` in the project's lockfile."""
    return resolve_in(project.entries, from_path, name)


def wants_metadata(entry: LockEntry) -> bool:
    """True when the registry's version document could change this package's conclusion."""
    return not entry.local and (
        entry.has_install_script or entry.name in KNOWN_NATIVE
        or bool(NATIVE_HINTS.intersection(entry.dependencies)))


def executables(entry: LockEntry) -> tuple[str, ...]:
    """The files (globs relative to the package) a known executable download leaves."""
    major = int(entry.version.split(".")[0]) if entry.version[:1].isdigit() else 0
    for since, files in EXECUTABLE_DOWNLOADS.get(entry.name, ()):
        if major >= since:
            return files
    return ()


def classify(entry: LockEntry, facts: Facts) -> tuple[Mechanism, list[str]]:
    """Decide the mechanism of a package that is not a platform-package parent."""
    known = _known(entry, facts) if _runs_a_script(entry, facts) else None
    if known is not None:
        return known
    if facts.install_scripts is not None:
        return _from_scripts(entry, facts)
    evidence = []
    hints = sorted(NATIVE_HINTS.intersection(entry.dependencies))
    if hints:
        evidence.append(f"lockfile: depends on {', '.join(hints)}")
    if entry.has_install_script:
        evidence.append("lockfile: hasInstallScript (script text not inspected)")
        return _from_hints(entry, facts, evidence, script=True)
    if not entry.scripts_known and hints:
        # pnpm 9+ and yarn lockfiles record no install scripts: a package depending on a
        # native build helper is taken to run it, as npm's hasInstallScript would show.
        evidence.append("lockfile: records no install scripts, so one is assumed")
        return _from_hints(entry, facts, evidence,
                           script=any(d in entry.dependencies for d in ADDON_HEADERS))
    return _from_hints(entry, facts, evidence, script=False)


def _known(entry: LockEntry, facts: Facts) -> tuple[Mechanism, list[str]] | None:
    """What the tables above know of a package's install script; None: nothing."""
    if entry.name in EXECUTABLE_DOWNLOADS:
        files = ", ".join(executables(entry))
        return Mechanism.DOWNLOAD, [
            f"known: the install script of {entry.name} {entry.version.split('.')[0]}.x "
            f"downloads executables for the machine it runs on ({files}), not an addon"]
    if entry.name in CODE_GENERATORS:
        major = entry.version.split(".")[0]
        where = "after the install, and on each target: its client carries the target's query " \
            "engine" if major.isdigit() and int(major) < 7 else \
            "after the install, once: its client holds no engine"
        return Mechanism.GENERATE, [
            f"known: the install script of {entry.name} runs `{CODE_GENERATORS[entry.name]}`, "
            f"which writes the client from the project's schema; the build runs it {where}, "
            "and the smoke test requires the generated client"]
    if (nothing := no_work(entry.name, facts.install_scripts)) is not None:
        return Mechanism.NO_WORK, [nothing]
    build = SCRIPT_BUILDS.get(entry.name)
    if build and facts.install_scripts in (None, build[0]):
        return Mechanism.COMPILE, [f"known: {entry.name}'s install script `{build[0]}` runs "
                                   f"node-gyp rebuild for {build[1]}"]
    return None


def noop(script: str | None) -> bool:
    """True for an install script that does nothing (`exit 0`, `true`, `:`)."""
    return bool(script) and _NOOP.fullmatch(script or "") is not None


def _runs_a_script(entry: LockEntry, facts: Facts) -> bool:
    if facts.install_scripts is not None:
        return bool(facts.install_scripts)
    return entry.has_install_script or not entry.scripts_known


def _from_scripts(entry: LockEntry, facts: Facts) -> tuple[Mechanism, list[str]]:
    script = facts.install_scripts or ""
    evidence = [f"{facts.scripts_from}: install script {script!r}" if script
                else f"{facts.scripts_from}: no install script"]
    if _DOWNLOAD_SCRIPT.search(script):
        # A downloader that also ships prebuilds/ loads those at runtime (node-pty-prebuilt-
        # multiarch): the bundled binaries decide, the download is only the fallback.
        return _from_files(facts, evidence, fallback=Mechanism.DOWNLOAD)
    if _LOADER_SCRIPT.search(script):
        return Mechanism.BUNDLED_PREBUILDS, evidence
    if _COMPILE_SCRIPT.search(script):
        return Mechanism.COMPILE, evidence
    if script:
        return _from_files(facts, evidence, fallback=_opaque(entry, script, evidence))
    return _from_files(facts, evidence, fallback=_implicit_build(entry, facts, evidence))


def _opaque(entry: LockEntry, script: str, evidence: list[str]) -> Mechanism:
    """What a script that names no known tool amounts to, unless the package ships binaries."""
    if noop(script):
        # `install: exit 0` (@datadog/native-metrics 3, @datadog/pprof 3) only stops npm's
        # implicit node-gyp build: whatever binaries the package ships decide.
        evidence.append("the install script does nothing (it only stops npm's implicit build)")
        return Mechanism.NONE
    headers = sorted(set(ADDON_HEADERS).intersection(entry.dependencies))
    if headers:  # an opaque script (node-sass's build.js) in a package shipping C++ glue
        evidence.append(f"lockfile: depends on {', '.join(headers)}, so the script is "
                        "assumed to build native code")
        return Mechanism.COMPILE
    return Mechanism.INSTALL_SCRIPT


def _from_hints(
    entry: LockEntry, facts: Facts, evidence: list[str], *, script: bool
) -> tuple[Mechanism, list[str]]:
    deps = entry.dependencies
    if any(d in deps for d in DOWNLOADERS):
        return Mechanism.DOWNLOAD, evidence
    if any(d in deps for d in PREBUILD_LOADERS):
        return Mechanism.BUNDLED_PREBUILDS, evidence
    if script:
        if any(d in deps for d in ADDON_HEADERS):
            return Mechanism.COMPILE, evidence
        return _from_files(facts, evidence, fallback=Mechanism.INSTALL_SCRIPT)
    return _from_files(facts, evidence, fallback=_implicit_build(entry, facts, evidence))


def _implicit_build(entry: LockEntry, facts: Facts, evidence: list[str]) -> Mechanism:
    """npm runs `node-gyp rebuild` for a binding.gyp when there is no install script."""
    if facts.gypfile is False:
        return Mechanism.NONE  # the package opted out of the implicit build
    if facts.files is not None:
        if has_binding_gyp(facts.files):
            evidence.append(f"{facts.files_from}: binding.gyp and no install script, "
                            "so npm runs node-gyp rebuild")
            return Mechanism.COMPILE
        return Mechanism.NONE
    if facts.gypfile:
        evidence.append(f"{facts.scripts_from}: gypfile true, so npm runs node-gyp rebuild")
        return Mechanism.COMPILE
    if any(d in entry.dependencies for d in ("nan", "node-addon-api", "bindings")):
        evidence.append("assumed: a binding.gyp built implicitly by npm (file list not checked)")
        return Mechanism.COMPILE
    return Mechanism.NONE


def _from_files(
    facts: Facts, evidence: list[str], *, fallback: Mechanism
) -> tuple[Mechanism, list[str]]:
    """Bundled .node files win over the fallback (better-sqlite3 13 ships them, no script)."""
    binaries = bundled_binaries(facts.files) if facts.files is not None else []
    if binaries:
        elsewhere = outside_prebuilds(binaries)
        if len(elsewhere) < len(binaries):
            evidence.append(f"{facts.files_from}: ships prebuilds/")
        if elsewhere:
            shown = ", ".join(elsewhere[:4]) + (", ..." if len(elsewhere) > 4 else "")
            evidence.append(f"{facts.files_from}: ships {len(elsewhere)} platform-named "
                            f"binaries outside prebuilds/ ({shown})")
        return Mechanism.BUNDLED_PREBUILDS, evidence
    return fallback, evidence


def compile_fallback(facts: Facts, entry: LockEntry) -> bool:
    """True when a package whose prebuilt binary is absent still builds from source."""
    if not entry.build:
        return False  # the package manager is told never to run its scripts
    script = facts.install_scripts
    if script is not None:
        if _LOADER_SCRIPT.search(script) or _COMPILE_SCRIPT.search(script):
            return True
        if script:
            return False
        known = facts.files is not None and has_binding_gyp(facts.files)
        return known and facts.gypfile is not False
    scripted = entry.has_install_script or not entry.scripts_known
    return scripted and any(d in entry.dependencies for d in PREBUILD_LOADERS)
