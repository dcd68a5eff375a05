"""Registry credentials: env, Docker's config.json entries, precedence, and secrecy."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pipelines.credentials import (
    Credentials,
    CredentialsError,
    credentials_from_env,
    docker_config_credentials,
    docker_config_path,
    resolve_credentials,
)

# A ':' inside the password must survive the user:password split.
SECRET = "pa:ss-w0rd-unit"  # noqa: S105 - a test value


def write_config(directory: Path, auths: dict[str, object]) -> dict[str, str]:
    """Write config.json with `auths` and return an environ pointing DOCKER_CONFIG at it."""
    (directory / "config.json").write_text(json.dumps({"auths": auths}))
    return {"DOCKER_CONFIG": str(directory)}


def encoded(user: str, password: str) -> dict[str, str]:
    """An `auth` entry as `docker login` writes it."""
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_env_credentials() -> None:
    """Both variables set give credentials; neither gives None."""
    found = credentials_from_env({"NODEPIPE_REGISTRY_USERNAME": "ci",
                                  "NODEPIPE_REGISTRY_PASSWORD": SECRET})
    assert found is not None and found.username == "ci"
    assert found.password.get_secret_value() == SECRET
    assert credentials_from_env({}) is None


@pytest.mark.parametrize("present", ["NODEPIPE_REGISTRY_USERNAME", "NODEPIPE_REGISTRY_PASSWORD"])
def test_half_set_env_is_an_error(present: str) -> None:
    """Only one of the two variables set is an input error naming the missing one."""
    with pytest.raises(CredentialsError, match="is not set: set both") as caught:
        credentials_from_env({present: SECRET})
    assert SECRET not in str(caught.value) and caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("key", "registry"),
    [
        ("localhost:5000", "localhost:5000"),
        ("http://localhost:5000", "localhost:5000"),
        ("https://registry.example/v2/", "registry.example"),
        ("https://index.docker.io/v1/", "docker.io"),
    ],
)
def test_auth_entry_lookup(tmp_path: Path, key: str, registry: str) -> None:
    """An `auth` entry is found under host, URL and Docker Hub's legacy index key."""
    environ = write_config(tmp_path, {"other.example": encoded("x", "y"),
                                      key: encoded("me", SECRET)})
    found = docker_config_credentials(registry, environ)
    assert found is not None and found.username == "me"
    assert found.password.get_secret_value() == SECRET


def test_username_password_entry(tmp_path: Path) -> None:
    """An entry with username and password fields is used too."""
    environ = write_config(tmp_path, {"r.example": {"username": "u", "password": SECRET}})
    found = docker_config_credentials("r.example", environ)
    assert found == Credentials.of("u", SECRET)


def test_absent_entry_and_file(tmp_path: Path) -> None:
    """No file, no auths, or no matching entry gives None."""
    assert docker_config_credentials("r.example", {"DOCKER_CONFIG": str(tmp_path)}) is None
    environ = write_config(tmp_path, {"r.example:5000": encoded("u", "p")})
    assert docker_config_credentials("r.example", environ) is None


def test_default_path_is_home_docker(tmp_path: Path) -> None:
    """Without DOCKER_CONFIG, config.json is read from ~/.docker."""
    assert docker_config_path({"HOME": str(tmp_path)}) == tmp_path / ".docker" / "config.json"
    (tmp_path / ".docker").mkdir()
    write_config(tmp_path / ".docker", {"r.example": encoded("home", SECRET)})
    found = docker_config_credentials("r.example", {"HOME": str(tmp_path)})
    assert found is not None and found.username == "home"


NO_COLON = json.dumps({"auths": {"r.example": {"auth": "bm9jb2xvbg=="}}})  # base64 of "nocolon"


@pytest.mark.parametrize("content", ["{not json", NO_COLON])
def test_unreadable_config_is_an_error(tmp_path: Path, content: str) -> None:
    """Broken JSON or an auth without user:password is an input error that hides the value."""
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(CredentialsError, match="cannot read Docker credentials") as caught:
        docker_config_credentials("r.example", {"DOCKER_CONFIG": str(tmp_path)})
    assert "bm9jb2xvbg" not in str(caught.value)


def test_explicit_credentials_win(tmp_path: Path) -> None:
    """Settings or env credentials are used before config.json."""
    environ = write_config(tmp_path, {"r.example": encoded("file", "x")})
    explicit = Credentials.of("settings", SECRET)
    assert resolve_credentials("r.example", explicit, environ) is explicit
    fallback = resolve_credentials("r.example", None, environ)
    assert fallback is not None and fallback.username == "file"


def test_password_never_prints() -> None:
    """repr, str and f-strings of credentials show no password."""
    credentials = Credentials.of("u", SECRET)
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert SECRET not in text
