"""Probe-only settings: environment, secrets from the CI's environment and backing services
reach the probe's run of the service, never the image, the plan or a log."""

from __future__ import annotations

import json

import pytest

from pipelines.build import parser, settings_from_args
from pipelines.errors import InputError
from pipelines.plan.describe import describe_plan
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.run.probe import probe_hint, probe_secret_values
from pipelines.settings import SettingsError, load_settings
from pipelines.stages.checks import service_port
from tests.conftest import REPO

PLAIN = REPO / "tests" / "fixtures" / "services" / "plain-js"


def test_probe_service_flags_accumulate_with_their_own_commas() -> None:
    """Two --probe-service flags are two services, each with its comma-separated settings."""
    args = parser().parse_args([str(PLAIN), "--probe-service",
                                "db=postgres:16-bookworm,POSTGRES_PASSWORD=x,POSTGRES_DB=app",
                                "--probe-service", "cache=redis:7-bookworm",
                                "--probe-secret", "JWT_SECRET", "--probe-env", "A=1,B=2",
                                "--probe-env", "C=x,y,D=?a=1&b=2,3"])
    settings = settings_from_args(args)
    assert settings.probe_service_specs == [
        ("db", "postgres:16-bookworm", {"POSTGRES_PASSWORD": "x", "POSTGRES_DB": "app"}),
        ("cache", "redis:7-bookworm", {})]
    assert settings.probe_secrets == ("JWT_SECRET",)
    assert settings.probe_environment == {"A": "1", "B": "2", "C": "x,y", "D": "?a=1&b=2,3"}


@pytest.mark.parametrize(("image", "env", "port"), [
    ("postgres:16-bookworm", {}, 5432),
    ("docker.io/library/redis:7@sha256:" + "a" * 64, {}, 6379),
    ("localhost:5000/bitnami/postgresql:16", {}, 5432),
    ("ghcr.io/acme/queue:1", {}, None),
    ("ghcr.io/acme/queue:1", {"port": "7000"}, 7000),
    ("postgres:16", {"port": "6543"}, 6543),
])
def test_a_backing_service_waits_for_its_port(image: str, env: dict, port: int | None) -> None:
    """The port the probe waits for: `port=` of the setting, else the image's usual one (an
    unknown image with no `port=` is started without a wait)."""
    assert service_port(image, env) == port


def test_probe_services_from_the_environment_are_semicolon_separated() -> None:
    """NODEPIPE_PROBE_SERVICES separates services with `;`."""
    settings = load_settings({"source": str(PLAIN)}, {
        "NODEPIPE_PROBE_SERVICES": "db=postgres:16,POSTGRES_PASSWORD=x; cache=redis:7"})
    assert [name for name, _, _ in settings.probe_service_specs] == ["db", "cache"]


@pytest.mark.parametrize(("values", "words"), [
    ({"probe_services": "postgres:16"}, "has no host name"),
    ({"probe_services": "db="}, "names no image"),
    ({"probe_services": "db=postgres:16,password"}, "'password', which is not VAR=value"),
    ({"probe_services": "q=acme/queue:1,port=70000"}, "port=70000, which is not a port number"),
    ({"probe_secrets": "jwt-secret"}, "is not a variable name"),
    ({"probe_env": "DATABASE_URL"},
     r"--probe-env \(NODEPIPE_PROBE_ENV\) item 'DATABASE_URL' is not"),
    ({"probe_services": "db=postgres:16,POSTGRES_PASSWORD=x; db=redis:7"},
     "probe service name 'db' is given twice"),
])
def test_bad_probe_settings_are_one_sentence(values: dict, words: str) -> None:
    """Each malformed probe setting is refused naming it and the form it takes."""
    with pytest.raises(SettingsError, match=words):
        load_settings({"source": str(PLAIN), **values}, {})


def test_plan_names_secrets_but_never_their_values() -> None:
    """--print shows the probe's environment, secret names and services (their variables by
    name only); the runtime image's env has none of them."""
    settings = load_settings({"source": str(PLAIN), "probe_env": "MODE=probe",
                              "probe_secrets": "JWT_SECRET",
                              "probe_services": "db=postgres:16,POSTGRES_PASSWORD=x"}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    image = describe_plan(plan)["image"]
    assert image["probe"] == {"env": {"MODE": "probe"}, "secrets": ["JWT_SECRET"],
                              "services": [{"name": "db", "image": "postgres:16",
                                            "env": ["POSTGRES_PASSWORD"]}]}
    assert "MODE" not in image["env"]
    assert "POSTGRES_PASSWORD=x" not in json.dumps(describe_plan(plan))


def test_unset_probe_secrets_are_named_together() -> None:
    """Every secret the CI does not set is named in one sentence; values pass through."""
    with pytest.raises(InputError, match="--probe-secret JWT_SECRET, API_KEY: not set"):
        probe_secret_values(("JWT_SECRET", "API_KEY", "OK"), {"OK": "v"})
    assert probe_secret_values(("OK",), {"OK": "v"}) == {"OK": "v"}


@pytest.mark.parametrize(("output", "words"), [
    ("Error: JWT_SECRET is not set", "--probe-env JWT_SECRET=VALUE, or --probe-secret "
                                     "JWT_SECRET"),
    ("Error: Missing environment variable DATABASE_URL", "--probe-env DATABASE_URL=VALUE"),
    ("Error: Missing environment variable: JWT_SECRET", "--probe-env JWT_SECRET=VALUE"),
    ("An instance of EnvironmentVariablesValidator has failed the validation:\n - property "
     "DATABASE_HOST has failed the following constraints: isString", "names DATABASE_HOST"),
    ("Error: connect ECONNREFUSED 127.0.0.1:5432", "looked for 127.0.0.1:5432 on its own host"),
    ("Error: connect ECONNREFUSED ::1:5432", "looked for ::1:5432 on its own host"),
    ("Error: connect ECONNREFUSED 10.87.0.4:6379", "could not reach 10.87.0.4:6379"),
    ("Error: getaddrinfo ENOTFOUND redis", "could not reach redis: start what listens there "
                                           "with --probe-service"),
])
def test_a_service_that_exits_gets_the_setting_that_supplies_what_it_lacks(
        output: str, words: str) -> None:
    """The service's own output names a missing variable or an unreachable host: the sentence
    names the probe setting that supplies it."""
    plan = prepare(load_settings({"source": str(PLAIN)}, {}), Platform.parse("linux/amd64"),
                   audit={})
    assert words in probe_hint(output, plan)


def test_no_hint_for_what_the_probe_already_supplies() -> None:
    """A variable the probe sets and a service it starts are not suggested again."""
    settings = load_settings({"source": str(PLAIN), "probe_secrets": "JWT_SECRET",
                              "probe_services": "redis=redis:7"}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    assert probe_hint("JWT_SECRET is not set; getaddrinfo ENOTFOUND redis", plan) == ""
