"""Emulation made visible: per target, whether its build work runs natively, cross-built or
emulated, and the policy that may refuse it. No Dagger here, so `--print` applies it too."""

from __future__ import annotations

from pipelines.errors import InputError
from pipelines.logs import get_logger
from pipelines.plan import Plan


class EmulationRefusedError(InputError):
    """The emulation policy is 'fail' and a target's build work would run emulated."""


def report_emulation(plan: Plan, policy: str) -> None:
    """Say, per target, whether its build work runs natively, cross-built or emulated; fail if
    the policy says so. The checks of a foreign target always run emulated: that is the proof
    its image works there, not build work."""
    log = get_logger()
    emulated = []
    for target in plan.targets:
        work = target.emulated_work(plan.compile_bindings, bool(plan.shape.apt_packages))
        if work:
            emulated.append((target, work))
            level = log.warning if policy == "warn" else log.info
            level("platform_emulated", platform=str(target.platform),
                  engine=str(plan.engine_platform), stages=list(work),
                  why=list(target.reasons))
        else:
            event = "platform_cross" if target.emulated else "platform_native"
            log.info(event, platform=str(target.platform), engine=str(plan.engine_platform))
    if emulated and policy == "fail":
        raise EmulationRefusedError(
            "; ".join(f"{t.platform} would run {', '.join(w)} emulated" for t, w in emulated)
            + f" on this {plan.engine_platform} engine and the emulation policy is 'fail': use a "
            "native engine for it or pass --emulation warn"
        )
