"""Emulation made visible: per target, whether its build work runs natively, cross-built or
emulated, and the policy that may refuse it. No Dagger here, so `--print` applies it too."""

from __future__ import annotations

from pipelines.errors import InputError
from pipelines.logs import get_logger
from pipelines.plan.model import Plan, Target

SYSTEM_PACKAGES_CROSS = ("resolved, downloaded and unpacked on the engine; ldconfig and the "
                         "maintainer scripts of the packages that have them run on the target")


class EmulationRefusedError(InputError):
    """The emulation policy is 'fail' and a target's build work would run emulated."""


def report_emulation(plan: Plan, policy: str) -> None:
    """Say, per target, whether its build work runs natively, cross-built or emulated; fail if
    the policy says so. The checks of a foreign target always run emulated: that is the proof
    its image works there, not build work."""
    log = get_logger()
    emulated = []
    for target in plan.targets:
        work = plan.emulated_work(target)
        where = {"engine": target.engine_name,
                 "engine_platform": str(target.engine_platform or plan.engine_platform)}
        if work:
            emulated.append((target, work))
            level = log.warning if policy == "warn" else log.info
            level("platform_emulated", platform=str(target.platform), **where,
                  stages=list(work), why=[*target.reasons, *_generate_reason(plan)])
        elif target.emulated:
            log.info("platform_cross", platform=str(target.platform), **where,
                     **_system_packages(plan, target))
        else:
            log.info("platform_native", platform=str(target.platform), **where)
    if emulated and policy == "fail":
        raise EmulationRefusedError(
            "; ".join(f"{t.platform} would run {', '.join(w)} emulated on "
                      f"{_engine(plan, t)}" for t, w in emulated)
            + " and the emulation policy is 'fail': map it to a native engine "
            "(--engine PLATFORM=RUNNER_HOST) or pass --emulation warn"
        )


def _generate_reason(plan: Plan) -> list[str]:
    """Why code is generated on the target, when it is."""
    generate = plan.shape.generate
    if generate is None or not generate.per_target:
        return []
    return [f"@prisma/client {generate.version}: `prisma generate` runs on the target, whose "
            "query engine its client holds (from Prisma 7 it holds none)"]


def _system_packages(plan: Plan, target: Target) -> dict[str, str]:
    """What of a cross target's system packages still runs on the target, when it has any."""
    if not plan.shape.apt_packages:
        return {}
    return {"system_packages": SYSTEM_PACKAGES_CROSS}


def _engine(plan: Plan, target: Target) -> str:
    """`this linux/amd64 engine`, or the mapped engine by its host and platform."""
    platform = target.engine_platform or plan.engine_platform
    if target.engine:
        return f"the {platform} engine at {target.engine}"
    return f"this {platform} engine"
