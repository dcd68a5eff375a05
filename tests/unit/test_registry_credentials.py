"""Registry credentials: env, Docker's config.json entries, precedence, and secrecy."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from pipelines.registry.credentials import (
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


def fake_helper(directory: Path, name: str, answers: dict[str, dict[str, str]]) -> str:
    """Write docker-credential-<name> answering `get` for known servers; return a PATH."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"answers = {answers!r}\n"
        "server = sys.stdin.read().strip()\n"
        "if sys.argv[1:] != ['get'] or server not in answers:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps(answers[server]))\n"
    )
    script.chmod(0o755)
    return str(bin_dir)


def write_full_config(directory: Path, config: dict[str, object]) -> dict[str, str]:
    """Write a whole config.json; return DOCKER_CONFIG for it."""
    (directory / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(directory)}


@pytest.mark.parametrize("section", ["credHelpers", "credsStore"])
def test_credential_helper_is_asked_first(tmp_path: Path, section: str) -> None:
    """A helper (per registry, or the store) answers before an `auths` entry."""
    path = fake_helper(tmp_path, "fake", {"r.example:5000": {"Username": "h", "Secret": SECRET}})
    helper = {"r.example:5000": "fake"} if section == "credHelpers" else "fake"
    environ = write_full_config(tmp_path, {section: helper,
                                           "auths": {"r.example:5000": encoded("file", "x")}})
    found = docker_config_credentials("r.example:5000", environ | {"PATH": path})
    assert found == Credentials.of("h", SECRET)


def test_helper_without_entry_falls_back_to_auths(tmp_path: Path) -> None:
    """A helper that knows nothing about the registry leaves the `auths` entry in charge."""
    path = fake_helper(tmp_path, "fake", {})
    environ = write_full_config(tmp_path, {"credsStore": "fake",
                                           "auths": {"r.example": encoded("file", SECRET)}})
    found = docker_config_credentials("r.example", environ | {"PATH": path})
    assert found == Credentials.of("file", SECRET)


def test_docker_hub_helper_server_name(tmp_path: Path) -> None:
    """Docker Hub is asked for under its legacy index URL, as docker stores it."""
    path = fake_helper(tmp_path, "fake", {"https://index.docker.io/v1/": {"Username": "hub",
                                                                          "Secret": SECRET}})
    environ = write_full_config(tmp_path, {"credsStore": "fake"})
    found = docker_config_credentials("docker.io", environ | {"PATH": path})
    assert found is not None and found.username == "hub"


def test_missing_helper_program_is_an_error(tmp_path: Path) -> None:
    """A helper named in config.json but absent from PATH is an input error naming it."""
    environ = write_full_config(tmp_path, {"credsStore": "absent"})
    with pytest.raises(CredentialsError, match="docker-credential-absent is not on PATH"):
        docker_config_credentials("r.example", environ | {"PATH": str(tmp_path)})
