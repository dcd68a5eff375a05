"""Settings: the only module that reads flags, the environment and the config file.

Precedence, highest first: command-line flags, `NODEPIPE_*` environment variables,
`node-pipelines.toml` in the source directory, then the defaults below.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pipelines.engines.setting import engine_blockers, engine_items
from pipelines.errors import InputError
from pipelines.platforms import Platform, libc_of_image, node_base_image
from pipelines.registry.reference import parse_reference, validate_tag

ENV_PREFIX = "NODEPIPE_"
CONFIG_FILE = "node-pipelines.toml"
BUNDLED_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "native-service"
DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")
_NAME_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_ENV_ITEM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_LABEL_ITEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*=")
# What a CI says about the source when the checkout cannot (a shallow clone has no remote of
# use): the repository's URL and the commit, by setting, first match wins.
_CI_SOURCE = {
    "source_url": (("GITHUB_SERVER_URL", "GITHUB_REPOSITORY"), ("CI_PROJECT_URL",),
                   ("BUILD_REPOSITORY_URI",)),
    "revision": (("GITHUB_SHA",), ("CI_COMMIT_SHA",), ("BUILDKITE_COMMIT",), ("CIRCLE_SHA1",),
                 ("BUILD_SOURCEVERSION",), ("GIT_COMMIT",)),
}
_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.:=~-]*$")
# Settings that must never live in a file of the source tree.
SECRET_SETTINGS = ("registry_password", "sign_key", "sign_password")


class SettingsError(InputError):
    """A setting, flag or config file the pipeline cannot use."""


def _split_list(value: Any) -> Any:
    """Accept `a,b` (flags, env, toml strings) as well as real lists."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _split_assignments(value: Any) -> Any:
    """`A=1,B=x,y` as `A=1` and `B=x,y`: a piece that does not start a new `NAME=` belongs to
    the value before it, so a value may hold commas (a URL's query, a list)."""
    items = _split_list(value)
    if not isinstance(items, list):
        return items
    merged: list[str] = []
    for item in items:
        if merged and not _ENV_ITEM.match(item):
            merged[-1] += "," + item
        else:
            merged.append(item)
    return merged


class Settings(BaseSettings):
    """Everything a build can be told; defaults build the bundled example for amd64 and arm64."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    source: Path = BUNDLED_EXAMPLE
    platforms: Annotated[tuple[Platform, ...], NoDecode] = tuple(
        Platform.parse(p) for p in DEFAULT_PLATFORMS
    )
    allow_unsupported_platforms: bool = False
    # None: from the project; a major without an official image needs base_image
    node_major: int | None = Field(default=None, ge=1, le=99)
    base_image: str = ""  # empty: node:<node_major>-bookworm-slim (older majors: see platforms)
    image: str = ""
    tags: Annotated[tuple[str, ...], NoDecode] = ("latest",)
    publish: bool = False
    export_path: Path | None = None  # None: build/<package name>.oci.tar
    cache_namespace: str = "nodepipe"
    registry_username: str = ""
    registry_password: SecretStr = SecretStr("")
    workspace: str | None = None  # a workspace package (name or folder) to build alone
    build_script: str | None = None  # None: `build`, else `compile`, else none; "" for none
    start_command: Annotated[tuple[str, ...], NoDecode] = ()  # empty: from package.json
    include: Annotated[tuple[str, ...], NoDecode] = ()
    exclude: Annotated[tuple[str, ...], NoDecode] = ()
    apt_packages: Annotated[tuple[str, ...], NoDecode] = ()
    build_apt_packages: Annotated[tuple[str, ...], NoDecode] = ()
    init: bool = False
    # The project's package manager, at its pinned version, in the runtime image (corepack).
    runtime_package_manager: bool = False
    build_env: Annotated[tuple[str, ...], NoDecode] = ()  # NAME=value, build containers only
    env: Annotated[tuple[str, ...], NoDecode] = ()  # NAME=value, the runtime image's ENV
    # The health probe's alone, never the image's: NAME=value, names of secrets read from the
    # environment (as Dagger secrets), and backing services NAME=IMAGE[,VAR=value...].
    probe_env: Annotated[tuple[str, ...], NoDecode] = ()
    probe_secrets: Annotated[tuple[str, ...], NoDecode] = ()
    probe_services: Annotated[tuple[str, ...], NoDecode] = ()
    port: int = Field(default=8080, ge=1, le=65535)
    health: Literal["auto", "http", "tcp", "none"] = "auto"
    health_path: str = ""  # empty: the health check waits for the port to accept connections
    node_options: str = "--max-old-space-size=2048"
    bindings_output: str = "build/Release"
    allow_missing: Annotated[tuple[str, ...], NoDecode] = ()
    strict: bool = False  # an optional native package with no binary blocks the build too
    emulation: Literal["allow", "warn", "fail"] = "warn"
    # another publish moving the same tags right after this one: a warning, or a failure
    tag_race: Literal["warn", "fail"] = "warn"
    audit: Literal["online", "offline"] = "online"
    log_format: Literal["auto", "console", "json"] = "auto"
    report_dir: Path | None = None  # None: no report files
    timeout_s: float = Field(default=3600.0, gt=0)
    # PLATFORM=RUNNER_HOST: that target is built, checked and pushed on its own Dagger engine.
    engines: Annotated[tuple[str, ...], NoDecode] = ()
    # NAME=value image labels (and annotations), over the org.opencontainers.image.* ones
    # derived from package.json and git; a name without a dot is org.opencontainers.image.NAME.
    labels: Annotated[tuple[str, ...], NoDecode] = ()
    source_url: str = ""  # empty: git's origin remote (a CI's repository URL where it says)
    revision: str = ""  # empty: git's HEAD (a CI's commit where it says)
    attest: bool = True  # an SBOM and provenance per platform, attached and required
    # A cosign private key (a file's path, or its PEM text in NODEPIPE_SIGN_KEY) and its
    # password: the index and each attestation are signed, and the signatures required.
    sign_key: SecretStr = SecretStr("")
    sign_password: SecretStr = SecretStr("")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: `load_settings` reads the environment it is handed, so the
        process's own NODEPIPE_* variables never leak into a test or the Dagger module."""
        return (init_settings,)

    @field_validator("platforms", mode="before")
    @classmethod
    def _parse_platforms(cls, value: Any) -> Any:
        items = _split_list(value)
        if isinstance(items, list | tuple):
            return tuple(p if isinstance(p, Platform) else Platform.parse(str(p)) for p in items)
        return items

    @field_validator("tags", "start_command", "include", "exclude", "apt_packages",
                     "build_apt_packages", "allow_missing", "probe_secrets", "labels",
                     mode="before")
    @classmethod
    def _parse_lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("build_env", "env", "probe_env", mode="before")
    @classmethod
    def _parse_assignments(cls, value: Any) -> Any:
        return _split_assignments(value)

    @field_validator("probe_services", mode="before")
    @classmethod
    def _parse_services(cls, value: Any) -> Any:
        """One service per item; in a single string (environment, toml) `;` separates them,
        since a service's own settings are comma-separated."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(";") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check_probe(self) -> Settings:
        for item in self.probe_env:
            if not _ENV_ITEM.match(item):
                raise ValueError(f"--probe-env ({ENV_PREFIX}PROBE_ENV) item "
                                 f"{item.split('=')[0]!r} is not NAME=value: pass for example "
                                 "DATABASE_URL=postgres://db/app")
        for name in self.probe_secrets:
            if not _ENV_NAME.match(name):
                raise ValueError(f"--probe-secret ({ENV_PREFIX}PROBE_SECRETS) item {name!r} is "
                                 "not a variable name: pass the name of a variable the CI "
                                 "sets, such as JWT_SECRET")
        for spec in self.probe_services:
            problem = _service_problem(spec)
            if problem:
                raise ValueError(f"--probe-service ({ENV_PREFIX}PROBE_SERVICES) "
                                 f"{spec.split(',')[0]!r} {problem}: write it "
                                 "as NAME=IMAGE[,VAR=value...], for example "
                                 "db=postgres:16-bookworm,POSTGRES_PASSWORD=x")
        names = [spec.split("=", 1)[0].strip() for spec in self.probe_services]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"probe service name {', '.join(map(repr, twice))} is given twice: "
                             "each backing service needs a host name of its own")
        return self

    @property
    def probe_environment(self) -> dict[str, str]:
        """`probe_env` as a mapping."""
        return dict(item.split("=", 1) for item in self.probe_env)

    @property
    def probe_service_specs(self) -> list[tuple[str, str, dict[str, str]]]:
        """Each backing service as (host name, image, environment)."""
        specs = []
        for spec in self.probe_services:
            head, *rest = [part.strip() for part in spec.split(",")]
            name, _, image = head.partition("=")
            specs.append((name, image, dict(item.split("=", 1) for item in rest)))
        return specs

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.platforms:
            raise ValueError("no platform given: name at least one, such as linux/amd64")
        if len(set(self.platforms)) != len(self.platforms):
            raise ValueError("a platform is listed twice: name each platform once")
        unsupported = [str(p) for p in self.platforms if not p.supported]
        if unsupported and not self.allow_unsupported_platforms:
            raise ValueError(
                f"platform {', '.join(unsupported)} is not verified by node-pipelines: "
                "pass --allow-unsupported-platforms to build it anyway"
            )
        if self.publish and not self.image:
            raise ValueError("publishing needs an image reference: pass --image REGISTRY/REPO")
        if self.image:
            reference = parse_reference(self.image)  # raises its own one-sentence InputError
            if reference.digest or reference.tag:
                raise ValueError(
                    f"image {self.image!r} carries a tag or digest: pass the repository as "
                    "--image and the tags as --tags"
                )
        for tag in self.tags:
            validate_tag(tag)
        if bool(self.registry_username) != bool(self.registry_password.get_secret_value()):
            missing = "password" if self.registry_username else "username"
            raise ValueError(
                f"the registry {missing} is missing: set both NODEPIPE_REGISTRY_USERNAME and "
                "NODEPIPE_REGISTRY_PASSWORD, or neither (Docker's config.json is used then)"
            )
        return self

    @field_validator("engines", mode="before")
    @classmethod
    def _parse_engines(cls, value: Any) -> Any:
        return engine_items(_split_list(value))

    @model_validator(mode="after")
    def _check_engines(self) -> Settings:
        blockers = engine_blockers(self.engines, self.platforms)
        if blockers:
            raise ValueError(
                f"setting engines ({ENV_PREFIX}ENGINES, --engine): {'; '.join(blockers)}: "
                "write each as PLATFORM=SCHEME://ADDRESS for a platform of the build, for "
                "example linux/arm64=tcp://arm-builder:1234"
            )
        return self

    @property
    def engine_hosts(self) -> dict[Platform, str]:
        """The runner host of each platform that has an engine of its own."""
        return {Platform.parse(p): host for p, host in
                (item.split("=", 1) for item in self.engines)}

    @model_validator(mode="after")
    def _check_lists(self) -> Settings:
        for name in self.apt_packages + self.build_apt_packages:
            if not _APT_NAME.match(name):
                raise ValueError(
                    f"{name!r} is not a Debian or Alpine package name: list names such as "
                    "ffmpeg,tini (comma-separated)"
                )
        for name, items in (("build_env", self.build_env), ("env", self.env)):
            for item in items:
                if not _ENV_ITEM.match(item):
                    raise ValueError(
                        f"{name} item {item.split('=')[0]!r} is not NAME=value: pass for "
                        "example LOG_LEVEL=info (comma-separated)"
                    )
        for item in self.labels:
            if not _LABEL_ITEM.match(item):
                raise ValueError(
                    f"labels item {item.split('=')[0]!r} is not NAME=value: pass for example "
                    "url=https://example.com/api,vendor=Example (comma-separated)"
                )
        if self.health == "http" and not self.health_path:
            raise ValueError("--health http needs --health-path, for example /healthz")
        return self

    @property
    def build_environment(self) -> dict[str, str]:
        """`build_env` as a mapping."""
        return dict(item.split("=", 1) for item in self.build_env)

    @property
    def label_overrides(self) -> dict[str, str]:
        """`labels` as a mapping of full label names."""
        pairs = (item.split("=", 1) for item in self.labels)
        return {(k if "." in k else f"org.opencontainers.image.{k}"): v for k, v in pairs}

    @property
    def runtime_environment(self) -> dict[str, str]:
        """`env` as a mapping."""
        return dict(item.split("=", 1) for item in self.env)

    def base_for(self, node_major: int) -> str:
        """The runtime and build base image: the setting, or Node's slim Debian image (bookworm
        where the major has one); empty for a major without an official image."""
        return self.base_image or node_base_image(node_major) or ""

    @property
    def libc(self) -> str:
        """The C library of the base image (glibc or musl): its tag says, whatever the major."""
        return libc_of_image(self.base_for(22))

    @property
    def unsupported_platforms(self) -> tuple[Platform, ...]:
        """Opted-in platforms outside linux/amd64 and linux/arm64."""
        return tuple(p for p in self.platforms if not p.supported)

    def export_file(self, package_name: str) -> Path:
        """Where the OCI archive goes: the setting, or build/<package name>.oci.tar."""
        if self.export_path is not None:
            return self.export_path
        name = _NAME_UNSAFE.sub("-", package_name.lower().lstrip("@")).strip("-") or "image"
        return Path("build") / f"{name}.oci.tar"


def _service_problem(spec: str) -> str | None:
    """What is wrong with a probe service NAME=IMAGE[,VAR=value...], or None."""
    head, *rest = [part.strip() for part in spec.split(",")]
    name, eq, image = head.partition("=")
    if not eq or not _HOST_NAME.match(name):
        return "has no host name (NAME=)"
    if not image or any(c.isspace() for c in image):
        return "names no image"
    bad = [item for item in rest if not _ENV_ITEM.match(item)]
    if bad:
        return f"has {bad[0].split('=')[0]!r}, which is not VAR=value"
    ports = [item.split("=", 1)[1] for item in rest if item.startswith("port=")]
    if any(not p.isdigit() or not 0 < int(p) < 65536 for p in ports):
        return f"has port={ports[0]}, which is not a port number"
    return None


def read_config_file(source: Path) -> dict[str, Any]:
    """Return the values in `<source>/node-pipelines.toml`, or nothing when there is none."""
    path = source / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(
            f"cannot read {path}: {error.strerror or error}; fix its permissions or remove it"
        ) from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML ({error}): fix the file") from None
    unknown = sorted(set(values) - set(Settings.model_fields) - {"source"})
    if unknown:
        raise SettingsError(
            f"{path} has unknown setting {', '.join(unknown)}: "
            f"known settings are {', '.join(sorted(Settings.model_fields))}"
        )
    secrets = sorted(set(values) & set(SECRET_SETTINGS))
    if secrets:
        raise SettingsError(
            f"{path} sets {', '.join(secrets)}, a secret that must not live in the source tree: "
            f"remove it and set {', '.join(ENV_PREFIX + s.upper() for s in secrets)} in the "
            "environment (your CI's secret store)"
        )
    values.pop("source", None)  # the file lives in the source; it cannot move it
    return values


def load_settings(
    flags: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge flags > environment > config file > defaults into validated Settings."""
    environ = os.environ if environ is None else environ
    env_values = _env_values(environ)
    source_value = flags.get("source") or env_values.get("source") or BUNDLED_EXAMPLE
    source = Path(source_value).expanduser()
    file_values = read_config_file(source) if source.is_dir() else {}
    given = {k: v for k, v in flags.items() if v is not None}
    merged = {**_ci_values(environ), **file_values, **env_values, **given}
    merged["source"] = source
    try:
        return Settings(**merged)
    except ValidationError as error:
        raise SettingsError(_sentence(error)) from None


def _ci_values(environ: Mapping[str, str]) -> dict[str, str]:
    """source_url and revision as the CI's own variables give them (lowest precedence)."""
    found: dict[str, str] = {}
    for setting, choices in _CI_SOURCE.items():
        for names in choices:
            values = [environ.get(name, "").strip() for name in names]
            if all(values):
                found[setting] = "/".join(values)
                break
    return found


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env parsing over a given mapping instead of os.environ."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings, env_prefix=ENV_PREFIX)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._environ.items()}


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read NODEPIPE_* variables with pydantic-settings' own parsing."""
    try:
        return dict(_MappingEnvSource(environ)())
    except ValueError as error:  # SettingsError from a malformed JSON value in a list setting
        raise SettingsError(f"a {ENV_PREFIX}* environment variable is malformed: {error}") from None


def _sentence(error: ValidationError) -> str:
    """Turn pydantic's first error into one sentence naming the setting."""
    first = error.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"unknown setting {field!r}: see `python -m pipelines.build --help`"
    if first["type"] == "value_error" and isinstance(first.get("ctx", {}).get("error"), InputError):
        return message
    if not field:
        return message
    env = ENV_PREFIX + field.upper()
    return f"setting {field} ({env}): {message}"


def public_view(settings: Settings) -> dict[str, Any]:
    """Settings as JSON-safe data with the secret masked, for --print and reports."""
    data: dict[str, Any] = json.loads(settings.model_dump_json())
    for name in SECRET_SETTINGS:
        data[name] = "***" if getattr(settings, name).get_secret_value() else ""
    data["platforms"] = [str(p) for p in settings.platforms]
    return data
