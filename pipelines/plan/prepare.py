"""Settings to plan, without an engine: the project, its shape, the audit, the plan.

Both entry points (`python -m pipelines.build` and the Dagger module) start here.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipelines.packagers.lockfiles.entry import installed
from pipelines.plan.labels import oci_labels
from pipelines.plan.model import Plan, TargetAudit, build_plan
from pipelines.plan.preflight import audit_for_build
from pipelines.platforms import Platform
from pipelines.project import NodeProject
from pipelines.project.shape import shape_of
from pipelines.project.vcs import read_vcs
from pipelines.settings import Settings


def prepare(
    settings: Settings,
    engine: Platform,
    *,
    audit: Mapping[Platform, TargetAudit] | None = None,
) -> Plan:
    """The plan for `settings` on an engine running natively on `engine`.

    `audit` replaces the preflight audit (tests pass verdicts they choose); by default the
    audit runs, and a build it shows cannot work stops here.
    """
    project = NodeProject.load(settings.source, settings.workspace)
    shape = shape_of(settings, project)
    if audit is None:
        audit = audit_for_build(settings, shape.libc, shape.node_major)
    entries = project.lock_entries
    # Where each dev-only package would sit in node_modules, by what it is (a workspace or
    # file: folder at its links, never at its source folder, which ships as the project's).
    dev = tuple((path, e.version, e.name) for path, e in installed(entries) if e.dev)
    production = tuple(e for e in entries.values() if not e.dev and e.path)
    vcs = read_vcs(settings.source)
    return build_plan(settings, project, shape, engine_platform=engine, audit=audit,
                      dev_packages=dev, labels=oci_labels(settings, project, vcs),
                      production=production, importer=entries.get(project.service_path))
