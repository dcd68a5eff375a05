"""A real local OCI registry (Debian's docker-registry, distribution 2.8) for component tests,
and a pusher that builds test images through the registry API: blobs, configs, manifests and
indexes, so each test can build exactly the fault it needs."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TOOLS, require, require_program

USER = "pipeline"
# A test password; tests assert it never shows up in any output.
PASSWORD = "s3cret-Pa55-never-printed"  # noqa: S105

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_DOCKER_TYPES = {OCI_MANIFEST: DOCKER_MANIFEST, OCI_CONFIG: DOCKER_CONFIG, OCI_LAYER: DOCKER_LAYER}


def assert_no_secret(text: str, *secrets: str) -> None:
    """Fail if any secret (default: the test password) appears in `text`, without echoing it:
    a plain `assert secret not in text` would print both when it fails."""
    leaked = any(secret in text for secret in (secrets or (PASSWORD,)))
    assert not leaked, "a password appears in the output (not shown here)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocalRegistry:
    """A running docker-registry with htpasswd auth; `host` is 127.0.0.1:PORT."""

    host: str
    process: subprocess.Popen[bytes]
    log: Path
    config: Path
    program: str = "docker-registry"

    def stop(self, *, kill: bool = False) -> None:
        """Stop the registry process and wait for it; `kill` ends it at once, like a crash
        (SIGKILL: no request is finished, no upload closed)."""
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """Start the registry again on the same port, config and storage (after `stop`)."""
        self.stop()
        self.process = _serve(self.config, self.log, self.program)
        _wait_until_answering(self)


def registry_v3() -> str:
    """The distribution v3 registry program (it deletes tags, which 2.8 never does): named by
    NODEPIPE_TEST_REGISTRY_V3, else built by tests/host-setup.sh into tests/.tools."""
    path = os.environ.get("NODEPIPE_TEST_REGISTRY_V3") or str(TOOLS / "registry-v3" / "registry")
    require(f"distribution v3 registry ({path}; host-setup.sh builds it with Go)",
            Path(path).is_file())
    return path


def start_registry(directory: Path, program: str | None = None) -> LocalRegistry:
    """Start docker-registry (or `program`, a registry taking the same configuration) on a
    free loopback port with htpasswd auth; wait until it answers."""
    program = program or require_program("docker-registry")
    htpasswd = require_program("htpasswd")
    directory.mkdir(parents=True, exist_ok=True)
    users = directory / "htpasswd"
    made = subprocess.run([htpasswd, "-Bbc", str(users), USER, PASSWORD], capture_output=True,
                          check=False)
    if made.returncode != 0:  # not check=True: CalledProcessError would print the password
        raise RuntimeError(f"htpasswd failed: {made.stderr.decode(errors='replace')[-500:]}")
    host = f"127.0.0.1:{free_port()}"
    config = directory / "config.yml"
    # JSON is YAML: no YAML library is needed to write the config.
    config.write_text(json.dumps({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")},
                    "delete": {"enabled": True}},
        "http": {"addr": host, "secret": "component-tests"},
        "auth": {"htpasswd": {"realm": "component-tests", "path": str(users)}},
    }))
    log = directory / "registry.log"
    registry = LocalRegistry(host, _serve(config, log, program), log, config, program)
    _wait_until_answering(registry)
    return registry


def _serve(config: Path, log: Path, program: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen([program, "serve", str(config)], stdout=sink, stderr=sink)


def _wait_until_answering(registry: LocalRegistry) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {registry.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://{registry.host}/v2/", timeout=1).status_code in (200, 401):
                return
        except httpx.TransportError:
            time.sleep(0.05)
    registry.stop()
    raise RuntimeError(f"docker-registry did not answer on {registry.host} within 20 s")


@contextmanager
def running_registry(directory: Path, program: str | None = None) -> Iterator[LocalRegistry]:
    """A registry for the duration of a `with` block."""
    registry = start_registry(directory, program)
    try:
        yield registry
    finally:
        registry.stop()


def digest_of(data: bytes) -> str:
    """The sha256 digest of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Pusher:
    """Pushes test content through the registry API with its own httpx client (not the code
    under test), so a bug in pipelines.registry.client cannot hide a bug in the fixtures."""

    host: str
    docker_types: bool = False  # Docker schema 2 media types instead of OCI ones
    client: httpx.Client = field(init=False)
    layers_of: dict[str, list[str]] = field(init=False, default_factory=dict)  # manifest -> layers

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=f"http://{self.host}", auth=(USER, PASSWORD),
                                   timeout=10)

    def media(self, oci_type: str) -> str:
        """The media type to use for `oci_type` in this pusher's flavour."""
        return _DOCKER_TYPES.get(oci_type, oci_type) if self.docker_types else oci_type

    def blob(self, repo: str, data: bytes, media_type: str) -> dict[str, Any]:
        """Upload a blob (monolithic POST+PUT) and return its descriptor."""
        digest = digest_of(data)
        start = self.client.post(f"/v2/{repo}/blobs/uploads/")
        assert start.status_code == 202, start.text
        # httpx would replace the upload URL's own query (_state=...), so merge into it.
        target = httpx.URL(start.headers["location"]).copy_merge_params({"digest": digest})
        done = self.client.put(target, content=data,
                               headers={"Content-Type": "application/octet-stream"})
        assert done.status_code == 201, done.text
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def manifest(
        self, repo: str, reference: str | None, document: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT a manifest or index under a tag (or by digest when `reference` is None)."""
        body = json.dumps(document, separators=(",", ":")).encode()
        answer = self.client.put(f"/v2/{repo}/manifests/{reference or digest_of(body)}",
                                 content=body,
                                 headers={"Content-Type": document["mediaType"]})
        assert answer.status_code == 201, answer.text
        assert answer.headers["docker-content-digest"] == digest_of(body)
        return {"mediaType": document["mediaType"], "digest": digest_of(body), "size": len(body)}

    def image(self, repo: str, platform: str, *, config_platform: str | None = None,
              layers: int = 2, tag: str | None = None) -> dict[str, Any]:
        """Push one platform's config, layers and manifest (by digest, or under `tag`);
        return an index entry for it."""
        os_, arch, *variant = platform.split("/")
        c_os, c_arch, *c_variant = (config_platform or platform).split("/")
        config: dict[str, Any] = {"os": c_os, "architecture": c_arch,
                                  "rootfs": {"type": "layers", "diff_ids": []}}
        if c_variant:
            config["variant"] = c_variant[0]
        contents = [gzip.compress(f"{platform} layer {n}\n".encode(), mtime=0)
                    for n in range(layers)]
        config["rootfs"]["diff_ids"] = [digest_of(gzip.decompress(c)) for c in contents]
        layer_descriptors = [self.blob(repo, c, self.media(OCI_LAYER)) for c in contents]
        document = {
            "schemaVersion": 2,
            "mediaType": self.media(OCI_MANIFEST),
            "config": self.blob(repo, json.dumps(config).encode(), self.media(OCI_CONFIG)),
            "layers": layer_descriptors,
        }
        entry = self.manifest(repo, tag, document)
        self.layers_of[entry["digest"]] = [layer["digest"] for layer in layer_descriptors]
        entry["platform"] = {"os": os_, "architecture": arch, **({"variant": variant[0]}
                                                                  if variant else {})}
        return entry

    def attestation(self, repo: str, subject: dict[str, Any]) -> dict[str, Any]:
        """Push a buildx-style attestation manifest for `subject`; return its index entry."""
        statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1"}).encode()
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(repo, b'{"architecture":"unknown","os":"unknown"}', OCI_CONFIG),
            "layers": [self.blob(repo, statement, "application/vnd.in-toto+json")],
        }
        entry = self.manifest(repo, None, document)
        entry["platform"] = {"os": "unknown", "architecture": "unknown"}
        entry["annotations"] = {"vnd.docker.reference.digest": subject["digest"],
                                "vnd.docker.reference.type": "attestation-manifest"}
        return entry

    def index(self, repo: str, tag: str, entries: Sequence[dict[str, Any]]) -> str:
        """Push an index (OCI) or manifest list (Docker) of `entries` under `tag`; its digest."""
        media_type = DOCKER_LIST if self.docker_types else OCI_INDEX
        document = {"schemaVersion": 2, "mediaType": media_type, "manifests": list(entries)}
        return str(self.manifest(repo, tag, document)["digest"])

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete a manifest by digest (the registry runs with delete enabled)."""
        answer = self.client.delete(f"/v2/{repo}/manifests/{digest}")
        assert answer.status_code == 202, answer.text

    def delete_blob(self, repo: str, digest: str) -> None:
        """Delete a blob from a repository."""
        answer = self.client.delete(f"/v2/{repo}/blobs/{digest}")
        assert answer.status_code == 202, answer.text
        assert self.client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404

    def complete_tags(self, repo: str) -> dict[str, str]:
        """Every tag of `repo` and the index digest it names, failing unless each of those
        indexes has every image manifest, config and layer it lists in the registry."""
        accept = {"Accept": ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])}
        tags = {}
        for tag in self.client.get(f"/v2/{repo}/tags/list").json()["tags"]:
            index = self.client.get(f"/v2/{repo}/manifests/{tag}", headers=accept)
            assert index.status_code == 200, f"tag {tag}: HTTP {index.status_code}"
            tags[tag] = index.headers["docker-content-digest"]
            for entry in index.json()["manifests"]:
                image = self.client.get(f"/v2/{repo}/manifests/{entry['digest']}", headers=accept)
                assert image.status_code == 200, f"tag {tag}: {entry['digest']} is missing"
                for blob in [image.json()["config"], *image.json()["layers"]]:
                    head = self.client.head(f"/v2/{repo}/blobs/{blob['digest']}")
                    assert head.status_code == 200, f"tag {tag}: blob {blob['digest']} is missing"
        return tags

    def tag_digest(self, repo: str, tag: str) -> str | None:
        """What `tag` resolves to, read independently of the code under test."""
        answer = self.client.head(f"/v2/{repo}/manifests/{tag}", headers={
            "Accept": ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])})
        return answer.headers["docker-content-digest"] if answer.status_code == 200 else None
