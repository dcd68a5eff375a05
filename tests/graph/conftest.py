"""Graph-tier fixtures: the real dagger-io objects of a plan, built offline (no engine)."""

from __future__ import annotations

import pytest
from dagger import dag

from pipelines.build import make_plan
from pipelines.plan import Plan
from pipelines.platforms import Platform
from pipelines.run import Images, build_graph
from pipelines.settings import load_settings


@pytest.fixture
def plan() -> Plan:
    """The default plan for the bundled example on an amd64 engine."""
    return make_plan(load_settings({}, {}), Platform.parse("linux/amd64"))


@pytest.fixture
def images(plan: Plan) -> Images:
    """The lazy graph of the default plan."""
    return build_graph(plan, dag.directory())
