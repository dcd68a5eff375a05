"""The probe's own configuration on a real engine: a secret variable and a backing service
bound by name reach the service's run on amd64 and on arm64, and the image keeps neither.

The backing service is a one-line TCP server on the Node base image (the images these tests may
pull are the Node ones), standing in for Postgres: what is proven is the binding, not Postgres.
"""

from __future__ import annotations

import dagger
import pytest
from dagger import dag

from pipelines.checks import parse_probe
from pipelines.stages.checks import health_probe, with_probe_setup

pytestmark = pytest.mark.engine

BASE = "node:22-bookworm-slim"
# Listens on 8080 only when JWT_SECRET is set and db:5432 answers, as a real service would.
SERVICE = (
    "const net=require('net');if(!process.env.JWT_SECRET){console.error('JWT_SECRET is not "
    "set');process.exit(1)}const c=net.connect(5432,'db',()=>{c.end();require('http')"
    ".createServer((q,r)=>r.end('ok')).listen(8080)});c.on('error',e=>{console.error(e.message);"
    "process.exit(1)})"
)
DATABASE = "require('net').createServer(s=>s.end()).listen(5432)"


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
async def test_secret_and_backing_service_reach_the_probe(engine: None, platform: str) -> None:
    """With the secret and the service the probe passes; the image's own env has no secret."""
    runtime = (dag.container(platform=dagger.Platform(platform)).from_(BASE)
               .with_default_args(["node", "-e", SERVICE]))
    db = (dag.container().from_(BASE).with_exposed_port(5432)
          .with_default_args(["node", "-e", DATABASE]).as_service(use_entrypoint=True))
    setup = with_probe_setup(env={"MODE": "probe"},
                             secrets={"JWT_SECRET": dag.set_secret("probe-jwt", "s3cr3t")},
                             services={"db": db})
    probe = health_probe(runtime, probe_image=dag.container().from_(BASE), port=8080,
                         path="/", timeout_s=60, setup=setup)
    result = parse_probe(await probe.stdout(), platform, exit_code=await probe.exit_code())
    assert result.ok, result.problems
    names = [await v.name() for v in await runtime.env_variables()]
    assert "JWT_SECRET" not in names and "MODE" not in names
