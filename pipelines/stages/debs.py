"""System packages of a foreign Debian target without emulation: resolved, downloaded and
unpacked on the engine's own platform, then merged into the target's runtime image.

apt resolves the packages as a machine of the target's architecture would, against the target
image's own dpkg status (what the base has is not installed again), downloads the archives
into the target's own apt cache volumes (they hold that architecture's lists and archives
only, as when apt runs on the target), and `dpkg-deb` unpacks each one natively. The target's
dpkg status, file lists and control files come along, so `dpkg -l` in the image tells the
truth. On the target itself runs only what has to execute there: the maintainer scripts of
the packages that have a postinst or a preinst that does something on a fresh install, run
directly as dpkg would run them (dpkg's own database work is not worth emulating), and
ldconfig.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import dagger

from pipelines.plan.model import Plan, Target
from pipelines.stages.caches import with_caches
from pipelines.stages.client import client
from pipelines.stages.system import KEEP_APT_ARCHIVES

WORK_DIR = "/tmp/nodepipe-debs"  # noqa: S108 - a path inside the build container
UNPACKED = "/tmp/nodepipe-unpacked"  # noqa: S108 - a path inside the build container
STATUS = "/var/lib/dpkg/status"


def _script(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def unpacked_packages(plan: Plan, target: Target) -> dagger.Directory:
    """The target's declared system packages unpacked on the engine's platform: `root/` (the
    files, and /var/lib/dpkg updated), and the packages whose scripts must run on the target,
    one a line, in apt's configure order: `preinst` (a preinst that does something on a fresh
    install) and `configure` (a postinst)."""
    own = client().container(platform=dagger.Platform(str(target.platform))).from_(
        plan.base_image)  # read, never run: no emulation
    apt = [c for c in target.caches if c.is_apt]
    return (
        client().container().from_(plan.base_image)
        .with_directory("/etc/apt", own.directory("/etc/apt"))
        .with_file(f"{WORK_DIR}/status", own.file(STATUS))
        .with_new_file(f"{WORK_DIR}/unpack.sh", _script("debs-unpack.sh"))
        .with_(with_caches(apt))
        .with_exec(["sh", "-c", KEEP_APT_ARCHIVES])
        .with_exec(["sh", f"{WORK_DIR}/unpack.sh", target.debian_arch, f"{WORK_DIR}/status",
                    UNPACKED, *plan.shape.apt_packages])
        .directory(UNPACKED)
    )


def with_unpacked_packages(
    plan: Plan, target: Target
) -> Callable[[dagger.Container], dagger.Container]:
    """Merge the packages unpacked on the engine into the image, then run on the target only
    the maintainer scripts that must run there, and ldconfig."""
    unpacked = unpacked_packages(plan, target)
    # The lists of packages whose scripts run (`preinst`, `configure`), and the script.
    tools = unpacked.without_directory("root").with_new_file(
        "configure.sh", _script("debs-configure.sh"))

    def apply(ctr: dagger.Container) -> dagger.Container:
        return (
            ctr.with_directory("/", unpacked.directory("root"))
            # Mounted, not copied: nothing of the tools or the list ends up in the image.
            .with_mounted_directory(WORK_DIR, tools)
            .with_exec(["sh", f"{WORK_DIR}/configure.sh", WORK_DIR])
            .without_mount(WORK_DIR)
        )

    return apply
