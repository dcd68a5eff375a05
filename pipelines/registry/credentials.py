"""Registry credentials: explicit settings first, then Docker's config.json (credential helpers,
then `auths` entries).

The password is a pydantic SecretStr from the moment it is read, so a repr, a log line or an
exception message shows `**********` instead of it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from pipelines.errors import InputError
from pipelines.registry.reference import DOCKER_HUB, DOCKER_HUB_API

USERNAME_ENV = "NODEPIPE_REGISTRY_USERNAME"
PASSWORD_ENV = "NODEPIPE_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a secret
# config.json names Docker Hub by its legacy index URL; all of these mean the same registry.
_DOCKER_HUB_SERVER = "https://index.docker.io/v1/"  # the server name helpers store Hub under
_DOCKER_HUB_KEYS = frozenset({DOCKER_HUB, DOCKER_HUB_API, "index.docker.io"})


class CredentialsError(InputError):
    """Credentials that are present but unusable (half-set, or an unreadable config.json)."""


@dataclass(frozen=True)
class Credentials:
    """A registry login; `password` never prints."""

    username: str
    password: SecretStr

    @classmethod
    def of(cls, username: str, password: str | SecretStr) -> Credentials:
        """Build credentials, wrapping a plain password in SecretStr."""
        secret = password if isinstance(password, SecretStr) else SecretStr(password)
        return cls(username=username, password=secret)


def explicit_credentials(username: str, password: str | SecretStr) -> Credentials | None:
    """Credentials from settings: None when both are empty, an error when only one is set."""
    secret = password if isinstance(password, SecretStr) else SecretStr(password)
    has_password = bool(secret.get_secret_value())
    if not username and not has_password:
        return None
    if not username or not has_password:
        missing = USERNAME_ENV if not username else PASSWORD_ENV
        raise CredentialsError(
            f"{missing} is not set: set both {USERNAME_ENV} and {PASSWORD_ENV}, or neither"
        )
    return Credentials(username, secret)


def credentials_from_env(environ: Mapping[str, str]) -> Credentials | None:
    """Read NODEPIPE_REGISTRY_USERNAME/PASSWORD; None when neither is set."""
    return explicit_credentials(environ.get(USERNAME_ENV, ""), environ.get(PASSWORD_ENV, ""))


def docker_config_path(environ: Mapping[str, str]) -> Path:
    """Where Docker keeps config.json: $DOCKER_CONFIG/config.json or ~/.docker/config.json."""
    directory = environ.get("DOCKER_CONFIG")
    if directory:
        return Path(directory) / "config.json"
    home = environ.get("HOME") or os.path.expanduser("~")  # noqa: PTH111 - HOME may be unset
    return Path(home) / ".docker" / "config.json"


def docker_config_credentials(registry: str, environ: Mapping[str, str]) -> Credentials | None:
    """Look `registry` (host[:port]) up in Docker's config.json: a credential helper named for
    it or the credsStore, else its `auths` entry; None when nothing is found."""
    path = docker_config_path(environ)
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CredentialsError(
            f"cannot read Docker credentials from {path}: {type(error).__name__}"
        ) from None
    if not isinstance(config, dict):
        return None
    wanted = _DOCKER_HUB_KEYS if registry in _DOCKER_HUB_KEYS else {registry}
    # Docker's order: a helper named for the registry, then credsStore, then `auths`.
    helpers = _section(config, "credHelpers")
    helper = next((h for k, h in helpers.items() if _normalise_key(k) in wanted), None)
    helper = helper or config.get("credsStore")
    if isinstance(helper, str) and helper:
        server = _DOCKER_HUB_SERVER if registry in _DOCKER_HUB_KEYS else registry
        found = _helper_credentials(helper, server, environ)
        if found is not None:
            return found
    for key, entry in _section(config, "auths").items():
        if _normalise_key(key) in wanted and isinstance(entry, dict):
            found = _entry_credentials(entry, path, key)
            if found is not None:
                return found
    return None


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _helper_credentials(helper: str, server: str, environ: Mapping[str, str]) -> Credentials | None:
    """Ask `docker-credential-<helper> get`, as docker does; None when it has no entry."""
    program = shutil.which(f"docker-credential-{helper}", path=environ.get("PATH"))
    if program is None:
        raise CredentialsError(
            f"Docker's config.json names the credential helper {helper!r}, but "
            f"docker-credential-{helper} is not on PATH"
        )
    try:
        done = subprocess.run([program, "get"], input=server, capture_output=True, text=True,
                              timeout=30, check=False, env=dict(environ))
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CredentialsError(
            f"the credential helper docker-credential-{helper} failed: {type(error).__name__}"
        ) from None
    if done.returncode != 0:  # helpers exit 1 with "credentials not found" for unknown servers
        return None
    try:
        answer = json.loads(done.stdout)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        username, secret = None, None
    # "<token>" marks an identity token, which needs an OAuth exchange this client lacks.
    if not isinstance(username, str) or not isinstance(secret, str) or username == "<token>":
        return None
    return Credentials.of(username, secret)


def resolve_credentials(
    registry: str, explicit: Credentials | None, environ: Mapping[str, str]
) -> Credentials | None:
    """Explicit credentials (settings or env) win; otherwise Docker's config.json; else None."""
    if explicit is not None:
        return explicit
    return docker_config_credentials(registry, environ)


def _normalise_key(key: str) -> str:
    # Keys are written as host, host:port, or full URLs such as https://index.docker.io/v1/.
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
    return key.split("/", 1)[0]


def _entry_credentials(entry: dict[str, Any], path: Path, key: str) -> Credentials | None:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            # The sentence names the entry, never its content: it holds the password.
            raise CredentialsError(
                f"cannot read Docker credentials from {path}: the auth of {key!r} "
                "is not base64 of user:password"
            )
        return Credentials.of(username, password)
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return Credentials.of(name, secret)
    return None
