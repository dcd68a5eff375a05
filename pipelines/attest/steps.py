"""Where each stage of a target ran (native, cross or emulated) and how each native binary got
into its image: the facts the SBOM and the provenance share."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.plan.model import NativePackage, Plan, Target
from pipelines.platforms import Platform


@dataclass(frozen=True)
class Subject:
    """One platform's image as published or exported: repository name, manifest digest."""

    name: str  # REGISTRY/REPO, or the archive's file name for an export
    digest: str  # sha256:... of the platform's image manifest
    platform: Platform

    @property
    def hex(self) -> str:
        """The digest's hex part."""
        return self.digest.partition(":")[2]


def mode(target: Target, stage: str) -> str:
    """How `stage` of `target` ran: `native`, `cross` (on the engine with a cross compiler)
    or `emulated` (on the target's platform under QEMU)."""
    if target.runs_emulated(stage):
        return "emulated"
    if target.emulated and target.cross and stage in ("rebuild", "bindings"):
        return "cross"
    return "native"


def stage_runs(plan: Plan, target: Target) -> list[dict[str, str]]:
    """Each stage that made `target`'s image: its name, the platform it ran on, and how."""
    engine = target.engine_platform or plan.engine_platform
    stages = ["app", "deps"]
    if target.compiled:
        stages.append("rebuild")
    if target.scripted:
        stages.append("scripts")
    if plan.generates_per_target:
        stages.append("generate")
    if plan.compile_bindings:
        stages.append("bindings")
    stages += ["runtime", "smoke", "hygiene"]
    if plan.shape.health != "none":
        stages.append("probe")
    runs = []
    for stage in stages:
        how = "native" if stage in ("app", "deps") else mode(target, stage)
        where: Platform = target.platform if how == "emulated" else engine
        if stage in ("runtime", "smoke", "hygiene", "probe", "scripts", "generate"):
            where = target.platform  # these run on (or assemble) the target's own image
        runs.append({"stage": stage, "platform": str(where), "runs": how,
                     "for": str(target.platform)})
    return runs


def how_installed(target: Target, package: NativePackage) -> str:
    """How the package's native binary reached the image: `prebuilt` (in the package or its
    platform package), `downloaded` by its install script, `cross-compiled`, `compiled`
    (natively), `compiled-emulated`, or the audit's verdict (missing, waived)."""
    if package.verdict == "compile":
        return {"cross": "cross-compiled", "emulated": "compiled-emulated"}.get(
            mode(target, "bindings" if package.own else "rebuild"), "compiled")
    if package.verdict == "download":
        return "downloaded"
    return package.verdict
