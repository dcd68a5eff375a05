"""The per-target half: production dependencies, the install scripts that must run for the
target, and the service's own addon.

Compiles and downloads for a glibc target run on the engine's own platform with Debian's cross
compiler and the package managers told the target's arch; their `.node` files are checked for
the target's ELF machine before they go on. Only plain install scripts, and compiles for targets
without a cross compiler (musl), run on the target itself, under emulation when it is foreign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagger

from pipelines.checks import script
from pipelines.plan.caches import NODE_GYP_DIR
from pipelines.plan.model import APP_DIR, Plan, Target
from pipelines.stages.app import (
    app_source,
    generated_code,
    installed_modules,
    manifests,
    with_install,
    with_packager,
)
from pipelines.stages.caches import with_caches
from pipelines.stages.client import client
from pipelines.stages.system import with_foreign_libraries, with_toolchain

ELF_SCRIPT = "/tmp/nodepipe/elf.js"  # noqa: S108 - a path inside the build container
# sh -c OPTIONAL_BUILD NAME COMMAND...: an optional package's build, whose failure is said and
# left to the smoke check (which then finds it absent, a warning) instead of failing the stage.
OPTIONAL_BUILD = ('"$@" || echo "nodepipe: optional $0 did not build for this target; the '
                  'image ships without it, as npm would install it" >&2')


def production_deps(plan: Plan, target: Target, source: dagger.Directory) -> dagger.Container:
    """`node_modules` with production dependencies only, holding the target's binaries.

    Scripts are off, so nothing executes: this runs natively on the engine with the package
    manager told the target's os, cpu and libc, and unpacks the target's platform packages and
    bundled prebuilds without emulation.
    """
    return (
        client().container()
        .from_(plan.base_image)
        .with_(with_caches(target.caches))
        .with_(with_packager(plan))
        .with_directory(APP_DIR, manifests(plan, source))
        .with_(with_install(plan.install_production(target)))
    )


def with_node_headers(ctr: dagger.Container) -> dagger.Container:
    """node-gyp compiles against the headers of the image's own Node, never a download."""
    return ctr.with_env_variable("npm_config_nodedir", "/usr/local").with_env_variable(
        "npm_config_devdir", NODE_GYP_DIR
    )


def target_builder(plan: Plan, target: Target, *, toolchain: bool) -> dagger.Container:
    """A build container on the target's own platform (emulated when foreign)."""
    ctr = (
        client().container(platform=dagger.Platform(str(target.platform)))
        .from_(plan.base_image)
        .with_(with_caches(target.caches))
        .with_(with_node_headers)
    )
    if toolchain:
        ctr = ctr.with_(with_toolchain(plan.shape.libc, plan.shape.build_apt_packages))
    return ctr.with_(with_packager(plan))


def engine_toolchain(plan: Plan) -> dagger.Container:
    """One toolchain on the engine's own platform for every target compiled there: native g++
    and the cross g++ of each foreign glibc target, with the declared build packages (the
    libraries among them also for each foreign arch, `NAME:<arch>` through Debian multiarch),
    installed once for all of them."""
    cross = sorted({(t.platform.arch, t.triplet) for t in plan.targets if t.cross})
    packages = ["python3", "make", "pkg-config", "g++",
                *("g++-" + triplet.replace("_", "-") for _, triplet in cross)]
    apt = [c for c in plan.build_caches if c.is_apt]
    ctr = client().container().from_(plan.base_image).with_(with_caches(apt))
    for arch, _ in cross:
        ctr = ctr.with_exec(["dpkg", "--add-architecture", arch])
    return ctr.with_(with_foreign_libraries(
        packages, plan.shape.build_apt_packages, [arch for arch, _ in cross]
    )).with_(with_node_headers)


def with_cross_env(target: Target) -> Callable[[dagger.Container], dagger.Container]:
    """Compile for `target`: Debian's `<triplet>-` tools, and node-gyp, prebuild-install and
    node-pre-gyp told the target's arch, platform and libc through npm_config_*."""
    triplet, node_arch = target.triplet, target.platform.node_arch

    def apply(ctr: dagger.Container) -> dagger.Container:
        ctr = ctr.with_env_variable("PKG_CONFIG_LIBDIR",
                                    f"/usr/lib/{triplet}/pkgconfig:/usr/share/pkgconfig")
        for name, tool in (("CC", "gcc"), ("CXX", "g++"), ("LINK", "g++"), ("AR", "ar"),
                           ("RANLIB", "ranlib"), ("STRIP", "strip")):
            ctr = ctr.with_env_variable(name, f"{triplet}-{tool}")
        for name, value in (("arch", node_arch), ("target_arch", node_arch),
                            ("platform", "linux"), ("target_platform", "linux"),
                            ("libc", target.libc)):
            ctr = ctr.with_env_variable(f"npm_config_{name}", value)
        return ctr

    return apply


def compile_builder(plan: Plan, target: Target) -> dagger.Container:
    """Where the target's compiles run: the engine's shared toolchain (natively, or cross for
    a foreign glibc target); else the target itself (musl: Debian has no musl cross g++)."""
    if target.cross or (not target.emulated and plan.shape.libc == "glibc"):
        own = [c for c in target.caches if not c.is_apt]
        ctr = engine_toolchain(plan).with_(with_caches(own))
        if target.cross:
            ctr = ctr.with_(with_cross_env(target))
        return ctr.with_(with_packager(plan))
    return target_builder(plan, target, toolchain=True)


def checked_for_target(
    ctr: dagger.Container, target: Target, paths: Sequence[str]
) -> dagger.Container:
    """Refuse any `.node` under `paths` that is not for the target's machine and class."""
    if not paths:
        return ctr
    return ctr.with_new_file(ELF_SCRIPT, script("elf.js")).with_exec(
        ["node", ELF_SCRIPT, "--arch", target.platform.node_arch, *paths]
    )


def _paths_of(target: Target, names: Sequence[str]) -> list[str]:
    where = {p.name: p.path for p in target.native_packages if p.path}
    return [f"{APP_DIR}/{where.get(name, f'node_modules/{name}')}" for name in names]


def compiled_deps(
    plan: Plan, target: Target, source: dagger.Directory, deps: dagger.Container
) -> dagger.Container:
    """The compiles and downloads the audit names for this target (`target.compiled`), where
    `compile_builder` puts them, their `.node` files checked for the target."""
    optional = {p.name for p in target.native_packages if p.optional}
    required = [name for name in target.compiled if name not in optional]
    built = (
        compile_builder(plan, target)
        .with_directory(APP_DIR, manifests(plan, source))
        .with_directory(APP_DIR, installed_modules(plan, deps))
    )
    if required:
        built = built.with_exec(list(plan.packager.rebuild(required)))
    for name in target.compiled:
        if name in optional:  # as the package manager does: the service goes on without it
            built = built.with_exec(["sh", "-c", OPTIONAL_BUILD, name,
                                     *plan.packager.rebuild((name,))])
    return checked_for_target(built, target, _paths_of(target, target.compiled))


def rebuilt_deps(
    plan: Plan, target: Target, source: dagger.Directory, deps: dagger.Container,
    compiled: dagger.Container | None,
) -> dagger.Container:
    """Run exactly the install scripts the audit names for this target: after its compiles
    (`compiled`, from compiled_deps), the plain scripts on the target."""
    if compiled is not None and not target.scripted:
        return compiled
    return (
        target_builder(plan, target, toolchain=False)
        .with_directory(APP_DIR, manifests(plan, source))
        .with_directory(APP_DIR, installed_modules(plan, compiled or deps))
        .with_exec(list(plan.packager.rebuild(target.scripted)))
    )


def bindings_build(
    plan: Plan, target: Target, source: dagger.Directory, deps: dagger.Container
) -> dagger.Container:
    """The service's own addon (its `compile:bindings` script), built for the target from
    the folder the script builds in (a change elsewhere in the source does not rebuild it), or
    from the whole source when the script names none."""
    sources = app_source(plan, source)
    if plan.bindings_sources:
        sources = manifests(plan, source).with_directory(
            plan.bindings_sources, sources.directory(plan.bindings_sources))
    built = (
        compile_builder(plan, target)
        .with_directory(APP_DIR, installed_modules(plan, deps))
        .with_directory(APP_DIR, sources)
        .with_workdir(plan.workdir)
        .with_exec(list(plan.packager.run_script("compile:bindings")))
    )
    output = f"{APP_DIR}/{plan.bindings_output.strip('/')}"
    return checked_for_target(built, target, [output])


def generated_for_target(plan: Plan, target: Target, app: dagger.Container) -> dagger.Directory:
    """The target's own Prisma client: `prisma generate` run on the target (emulated when
    foreign) over the build stage's tree, since before Prisma 7 the client holds the query
    engine of the machine that generates it."""
    generate = plan.shape.generate
    assert generate is not None
    ctr = (
        target_builder(plan, target, toolchain=False)
        .with_directory(APP_DIR, app.directory(APP_DIR))
        .with_workdir(plan.workdir)
        .with_exec(list(generate.command(APP_DIR)))
    )
    return generated_code(plan, ctr)
