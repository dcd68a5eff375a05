"""The image's OCI labels and annotations, as docker/metadata-action names them.

From package.json (title, description, licenses, version, url), git or the CI (source,
revision, and the commit's time as `created`, so a rebuild of the same commit labels its image
the same way), and the `labels` setting over all of them. Never the time of the build: a label
that changes on every run would also change every image's digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.project import NodeProject
from pipelines.project.vcs import Vcs, web_url
from pipelines.settings import Settings

PREFIX = "org.opencontainers.image."
MOVING_TAGS = frozenset({"latest", "edge", "main", "master", "nightly"})


def oci_labels(settings: Settings, project: NodeProject, vcs: Vcs) -> dict[str, str]:
    """Every org.opencontainers.image.* label that is known, then the settings' own, sorted."""
    manifest = project.workspace.service.manifest if project.workspace else project.manifest
    source = settings.source_url or vcs.remote or _repository(manifest)
    revision = settings.revision or vcs.commit
    derived = {
        "title": project.name,
        "description": _text(manifest.get("description")),
        "licenses": _license(manifest.get("license")),
        "version": _version(settings, manifest),
        "source": source,
        "url": _text(manifest.get("homepage")) or source,
        "revision": revision,
        # The commit's time is only the commit's when the revision is git's own HEAD.
        "created": vcs.committed_at if revision == vcs.commit else "",
    }
    labels = {PREFIX + key: value for key, value in derived.items() if value}
    labels.update(settings.label_overrides)
    return dict(sorted((k, v) for k, v in labels.items() if v))


def _version(settings: Settings, manifest: Mapping[str, Any]) -> str:
    """The tag being published when it names a version, else package.json's version."""
    if settings.publish:
        fixed = [t for t in settings.tags if t not in MOVING_TAGS]
        if fixed:
            return fixed[0]
    return _text(manifest.get("version"))


def _repository(manifest: Mapping[str, Any]) -> str:
    """package.json's `repository` as a URL (`{"url": "git+https://..."}` or a string)."""
    value = manifest.get("repository")
    url = value.get("url") if isinstance(value, dict) else value
    url = _text(url).removeprefix("git+")
    return web_url(url) if "://" in url or "@" in url else ""


def _license(value: Any) -> str:
    """An SPDX expression from `license` (or the old `{"type": ...}` form)."""
    if isinstance(value, dict):
        value = value.get("type")
    return _text(value)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
