"""The referrers API path, against a test double of a registry that has it (the local
registry of the component tests has not): no fallback tag is written, the API's list is read."""

from __future__ import annotations

import json
from typing import Any

import httpx

from pipelines.registry.client import sha256_digest
from pipelines.registry.referrers import Artifact, ArtifactClient, attach, referrers

INDEX = "application/vnd.oci.image.index.v1+json"
SUBJECT = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": "sha256:" + "ab" * 32, "size": 100}


class ReferrersRegistry:
    """A TEST DOUBLE of an OCI 1.1 registry with the referrers API: it keeps blobs and
    manifests in memory, answers `OCI-Subject` on a manifest with a subject, and lists
    referrers at /v2/<repo>/referrers/<digest>. Not a real registry."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.requests: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request the way the distribution spec says."""
        path = request.url.path
        self.requests.append(f"{request.method} {path}")
        if "/blobs/uploads/" in path:
            if request.method == "POST":
                return httpx.Response(202, headers={"Location": "/v2/team/api/blobs/uploads/1"})
            self.blobs[request.url.params["digest"]] = request.content
            return httpx.Response(201)
        if "/blobs/" in path:
            digest = path.rpartition("/")[2]
            return httpx.Response(200, headers={"Content-Length": str(len(self.blobs[digest]))}
                                  ) if digest in self.blobs else httpx.Response(404)
        if "/manifests/" in path and request.method == "PUT":
            self.manifests[path.rpartition("/")[2]] = request.content
            subject = json.loads(request.content).get("subject")
            return httpx.Response(201, headers={"OCI-Subject": subject["digest"]} if subject
                                  else {})
        if "/referrers/" in path:
            return httpx.Response(200, json=self._index(path.rpartition("/")[2]),
                                  headers={"Content-Type": INDEX})
        return httpx.Response(404)

    def _index(self, digest: str) -> dict[str, Any]:
        found = []
        for key, body in self.manifests.items():
            document = json.loads(body)
            if (document.get("subject") or {}).get("digest") == digest:
                found.append({"mediaType": document["mediaType"], "digest": key,
                              "size": len(body), "artifactType": document["artifactType"]})
        return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": found}


async def test_a_registry_with_the_referrers_api_gets_no_fallback_tag() -> None:
    """The artifact is PUT by digest, the registry indexes it, no `sha256-<hex>` tag is
    written, and `referrers` reads the API's list."""
    double = ReferrersRegistry()
    async with ArtifactClient("registry.test", None) as client:
        client._http = httpx.AsyncClient(transport=httpx.MockTransport(double.handle))
        digest = await attach(client, "team/api", SUBJECT,
                              Artifact("application/vnd.cyclonedx+json", b'{"a":1}'))
        listed = await referrers(client, "team/api", SUBJECT["digest"])
    assert [d["digest"] for d in listed] == [digest]
    assert listed[0]["artifactType"] == "application/vnd.cyclonedx+json"
    assert not any("sha256-" in r for r in double.requests), double.requests
    manifest = json.loads(double.manifests[digest])
    assert manifest["subject"] == SUBJECT
    assert manifest["config"]["digest"] == sha256_digest(b"{}")
    assert manifest["layers"][0]["digest"] == sha256_digest(b'{"a":1}')
