"""Where the npm registry is, where its answers are cached, and which CAs to trust."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class RegistryConfig:
    """Where the registry is, where its answers are cached, and which CAs to trust."""

    url: str = DEFAULT_REGISTRY
    cache_dir: Path = field(
        default_factory=lambda: Path.home() / ".cache" / "node-pipelines" / "npm-meta")
    ca_files: tuple[Path, ...] = ()
    concurrency: int = 8  # the proxy here drops bursts of new connections
    timeout_s: float = 30.0
    retry_delay_s: float = 0.5  # doubled after each failed attempt

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RegistryConfig:
        """npm_config_registry, XDG_CACHE_HOME, SSL_CERT_FILE and NODE_EXTRA_CA_CERTS."""
        env = os.environ if env is None else env
        url = env.get("npm_config_registry") or env.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY
        cache_home = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        cas = [Path(env[k]) for k in ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS") if env.get(k)]
        if SYSTEM_BUNDLE.is_file():
            cas.append(SYSTEM_BUNDLE)
        return cls(url=url.rstrip("/") + "/", cache_dir=cache_home / "node-pipelines" / "npm-meta",
                   ca_files=tuple(dict.fromkeys(p for p in cas if p.is_file())))

    def ssl_context(self) -> ssl.SSLContext:
        """The platform's trust store plus every configured bundle (the proxy CA lives there)."""
        context = ssl.create_default_context()
        default = ssl.get_default_verify_paths().cafile
        for path in self.ca_files:
            if default is None or path != Path(default):  # already loaded by the default
                context.load_verify_locations(cafile=str(path))
        return context
