"""An in-toto Statement v1 with a SLSA Provenance v1 predicate for one platform's image.

Says what was built (the image by digest), from what (the source repository and commit, the
lockfile by hash, the base image), by what (node-pipelines and its version, the Dagger SDK and
engine versions), with which settings (the secret ones left out) and how each stage ran for the
platform: natively, cross-compiled on the engine, or emulated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pipelines.attest.steps import Subject, how_installed, stage_runs
from pipelines.plan.model import Plan, Target

PROVENANCE_TYPE = "application/vnd.in-toto+json"
STATEMENT = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:node-pipelines:build:v1"
BUILDER_ID = "urn:node-pipelines:builder"


def provenance(
    plan: Plan, target: Target, subject: Subject, *, settings: Mapping[str, Any],
    versions: Mapping[str, str], base_digest: str = "", invocation: str = "",
) -> dict[str, Any]:
    """The statement for `target`'s image `subject`. `settings` is the public view of the
    settings (secrets masked), `versions` names node-pipelines, dagger-io and the engine."""
    source = plan.labels.get("org.opencontainers.image.source", "")
    revision = plan.labels.get("org.opencontainers.image.revision", "")
    public = {k: v for k, v in settings.items()
              if k not in ("registry_password", "sign_key", "sign_password")}
    predicate: dict[str, Any] = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "source": {"uri": source, "revision": revision},
                "platform": str(target.platform),
                "settings": public,
            },
            "internalParameters": {
                "enginePlatform": str(target.engine_platform or plan.engine_platform),
                "engine": target.engine_name,
                "stages": stage_runs(plan, target),
                "natives": [{"name": p.name, "version": p.version,
                             "how": how_installed(target, p)} for p in target.native_packages],
            },
            "resolvedDependencies": _dependencies(plan, source, revision, base_digest),
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": dict(versions)},
            "metadata": {"invocationId": invocation} if invocation else {},
        },
    }
    return {
        "_type": STATEMENT,
        "subject": [{"name": subject.name, "digest": {"sha256": subject.hex}}],
        "predicateType": SLSA_PROVENANCE,
        "predicate": predicate,
    }


def provenance_json(statement: Mapping[str, Any]) -> str:
    """The statement as the compact JSON text that is attached and written."""
    return json.dumps(statement, separators=(",", ":"), sort_keys=True)


def _dependencies(
    plan: Plan, source: str, revision: str, base_digest: str
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if source or revision:
        entry: dict[str, Any] = {"uri": f"git+{source}"} if source else {"name": "source"}
        if revision:
            entry["digest"] = {"gitCommit": revision}
        found.append(entry)
    lockfile = plan.source / plan.packager.lockfile
    if lockfile.is_file():
        found.append({"name": plan.packager.lockfile,
                      "digest": {"sha256": hashlib.sha256(lockfile.read_bytes()).hexdigest()}})
    base: dict[str, Any] = {"uri": f"docker://{plan.base_image}", "name": "base image"}
    if base_digest.startswith("sha256:"):
        base["digest"] = {"sha256": base_digest.partition(":")[2]}
    found.append(base)
    return found
