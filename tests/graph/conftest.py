"""Graph-tier fixtures: the real dagger-io objects of a plan, built offline (no engine)."""

from __future__ import annotations

import pytest
from dagger import dag

from pipelines.plan.model import NativePackage, Plan, TargetAudit
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.run.graph import Images, build_graph
from pipelines.settings import load_settings

# What the online audit says about the example (tests/unit/test_preflight.py checks it for
# real); fixed here so the graph does not depend on the network or a disk cache.
EXAMPLE_AUDIT = TargetAudit((
    NativePackage("bcrypt", "6.0.0", "prebuilt", path="node_modules/bcrypt"),
    NativePackage("better-sqlite3", "13.2.0", "prebuilt", path="node_modules/better-sqlite3"),
    NativePackage("sharp", "0.35.5", "prebuilt", path="node_modules/sharp"),
    NativePackage("native-service (native)", "1.0.0", "compile", own=True),
))


@pytest.fixture
def plan() -> Plan:
    """The default plan for the bundled example on an amd64 engine."""
    settings = load_settings({}, {})
    return prepare(settings, Platform.parse("linux/amd64"),
                   audit=dict.fromkeys(settings.platforms, EXAMPLE_AUDIT))


@pytest.fixture
def images(plan: Plan) -> Images:
    """The lazy graph of the default plan."""
    return build_graph(plan, dag.directory())
