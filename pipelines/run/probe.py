"""The health probe of one target: the image started with the probe's own configuration
(environment, secrets, backing services), polled until it answers, and, when it exits, its
output read once more with the setting that would supply what it names as missing."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import dagger

from pipelines.checks import ProbeResult, parse_probe
from pipelines.errors import InputError, PipelineError
from pipelines.plan.model import Plan, Target
from pipelines.run.graph import Clock, Images
from pipelines.stages.checks import backing_service, health_probe, with_probe_setup

ONCE_TIMEOUT_S = 30  # a service that exits at boot does so long before this
TIMEOUT_EXIT = 124  # coreutils' timeout: the command was still running at the bound
PROBE_TIMEOUT_S = 60  # emulated services boot slowly: Node under QEMU takes seconds to start
# What a service prints when a variable it needs is unset, or a host it needs is not there.
_MISSING_VARIABLE = re.compile(
    r"\b([A-Z][A-Z0-9_]{2,})\b[\"'`]?\s+(?i:env(?:ironment)? var(?:iable)?\s+)?"
    r"(?i:(?:is\s+)?(?:not set|missing|required|undefined|must be (?:set|defined|provided)))"
    r"|(?i:missing|required|undefined)\s+(?i:env(?:ironment)?\s+)?(?i:var(?:iable)?)?:?\s*"
    r"[\"'`]?([A-Z][A-Z0-9_]{2,})\b"
    # class-validator, as NestJS's config validation prints it
    r"|\bproperty ([A-Z][A-Z0-9_]{2,}) has failed")
_UNREACHABLE = re.compile(
    r"(?:ECONNREFUSED|ENOTFOUND|EAI_AGAIN|getaddrinfo \w+)\s+"
    r"(\[[0-9a-fA-F:.]+\]|::1|[A-Za-z0-9_.-]+?)(?::(\d+))?(?=[\s,;)'\"]|$)")
# Where a service looks when its setting for another service is left at its default.
_OWN_HOST = {"127.0.0.1", "localhost", "::1", "[::1]"}


def probe_secret_values(names: tuple[str, ...], environ: Mapping[str, str]) -> dict[str, str]:
    """The probe's secrets from the CI's environment; one sentence naming every one unset."""
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise InputError(
            f"--probe-secret {', '.join(missing)}: not set in the environment; set "
            f"{'them' if len(missing) > 1 else 'it'} from the CI's secret store, or drop "
            "the setting")
    return {name: environ[name] for name in names}


def probe_setup(plan: Plan, images: Images,
                secrets: Mapping[str, str]) -> Callable[[dagger.Container], dagger.Container]:
    """The transformer that configures the probe's run of the service on `images`' engine."""
    client = images.client
    return with_probe_setup(
        env=plan.probe.env,
        secrets={name: client.set_secret(f"probe-{name}", value)
                 for name, value in secrets.items()},
        services={name: backing_service(client, image, env)
                  for name, image, env in plan.probe.services})


async def probe_target(  # noqa: PLR0917 - the check's inputs, explicitly
    plan: Plan, images: Images, clock: Clock, target: Target, base: dagger.Container,
    secrets: Mapping[str, str],
) -> ProbeResult:
    """Start the target's image with the probe's configuration and poll it; raise a
    PipelineError with the service's own output when it exits instead."""
    path = plan.shape.health_path if plan.shape.health == "http" else None
    setup = probe_setup(plan, images, secrets)
    runtime = images.runtimes[target.platform]
    ctr = health_probe(runtime, probe_image=base, port=plan.port, path=path,
                       timeout_s=PROBE_TIMEOUT_S, setup=setup)
    try:
        out, err, code = await clock.run("probe", target, _outcome(ctr))
    except PipelineError as error:
        if "exited" not in error.message:
            raise
        output, _ = await _once(runtime.with_(setup), plan)
        raise _exited(plan, target, output) from None
    result = parse_probe(out, str(target.platform), exit_code=code, stderr=err)
    if not result.ok and result.status is None:
        # Nothing ever answered. Under emulation a service can boot and exit slower than the
        # engine notices: run it once more, and if it ends by itself, say so with its output.
        output, once_code = await _once(runtime.with_(setup), plan)
        if once_code != TIMEOUT_EXIT:
            raise _exited(plan, target, output)
    return result


def _exited(plan: Plan, target: Target, output: str) -> PipelineError:
    """The failure of a service that exited instead of listening, with its output."""
    hint = probe_hint(output, plan)
    return PipelineError(
        f"the service exited instead of listening on port {plan.port}"
        + (f" ({hint})" if hint else "") + "; its output when run once more",
        stage="probe", platform=str(target.platform), stderr=output,
    )


def probe_hint(output: str, plan: Plan) -> str:
    """The setting that supplies what the service's output says it lacks, or ""."""
    hints = []
    variable = _MISSING_VARIABLE.search(output)
    if variable:
        name = next(group for group in variable.groups() if group)
        if name not in plan.probe.env and name not in plan.probe.secrets:
            hints.append(f"it names {name} as missing: pass --probe-env {name}=VALUE, or "
                         f"--probe-secret {name} for a secret")
    host = _UNREACHABLE.search(output)
    if host and host.group(1) not in {n for n, _, _ in plan.probe.services}:
        where = host.group(1) + (f":{host.group(2)}" if host.group(2) else "")
        if host.group(1) in _OWN_HOST:
            hints.append(f"it looked for {where} on its own host, where nothing else runs: "
                         "start what listens there with --probe-service NAME=IMAGE and point "
                         "the service's setting at NAME with --probe-env")
        else:
            hints.append(f"it could not reach {where}: start what listens there with "
                         "--probe-service NAME=IMAGE (reached by NAME) and point the "
                         "service's setting at it with --probe-env")
    return "; ".join(hints)


async def _once(runtime: dagger.Container, plan: Plan) -> tuple[str, int]:
    """What the image's command prints when run once, bounded, and its exit code (124 when
    it was still running at the bound): why a service exits."""
    ctr = runtime.with_exec(["timeout", str(ONCE_TIMEOUT_S), *plan.shape.start.cmd],
                            expect=dagger.ReturnType.ANY)
    out, err, code = await _outcome(ctr)
    return f"{out}\n{err}\n(exit code {code})", code


async def _outcome(ctr: dagger.Container) -> tuple[str, str, int]:
    """stdout, stderr and exit code of a check that runs with expect=ANY."""
    return await ctr.stdout(), await ctr.stderr(), await ctr.exit_code()
