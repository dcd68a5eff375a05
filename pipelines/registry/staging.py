"""Staging tags: their names, deleting the ones a publish made, and collecting stale ones.

A publish pushes under `nodepipe-staging-<UTC time>-<random>` (and, with several engines,
`<that>-<platform>` per platform) and no other tag names its index until it is verified. Once
the tags have moved, or the publish failed or was cancelled, those staging tags only clutter
the repository, so they are deleted with OCI distribution 1.1's tag delete
(`DELETE /v2/<name>/manifests/<tag>`), which removes the tag and never the manifest: the index
stays reachable by digest, and every other tag naming it stays. A registry may refuse tag
deletion (400 or 405: distribution 2.x never supports it); then the tags are kept and the
caller says so. Nothing here ever deletes by digest, since that would take every tag naming
the manifest with it (a release tag included).

The time in the name is what tells a stale staging tag from one a publish still holds: a
publish holds its staging tags only while it runs, so a tag whose name says it was made longer
ago than any publish can run is stale.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from pipelines.registry.client import CannotCheck, RegistryClient, RetryPolicy, error_code
from pipelines.registry.credentials import Credentials
from pipelines.registry.reference import ImageReference, parse_reference, validate_tag

STAGING_PREFIX = "nodepipe-staging-"
_TIME_FORMAT = "%Y%m%d%H%M%S"
# Cleanup is a courtesy after the outcome is decided: a registry that is away gets two tries.
CLEANUP_RETRY = RetryPolicy(attempts=2, base_delay_s=1.0, max_delay_s=1.0, timeout_s=10.0)


def staging_tag() -> str:
    """A tag no one else uses: its UTC creation time (read back by `made_at`), then
    randomness for uniqueness."""
    return f"{STAGING_PREFIX}{time.strftime(_TIME_FORMAT, time.gmtime())}-{secrets.token_hex(4)}"


def made_at(tag: str) -> datetime | None:
    """When a staging tag (or a per-platform one derived from it) was made, from its name;
    None for any other tag."""
    if not tag.startswith(STAGING_PREFIX):
        return None
    stamp = tag[len(STAGING_PREFIX):len(STAGING_PREFIX) + len("YYYYmmddHHMMSS")]
    try:
        return datetime.strptime(stamp, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


class TagClient(RegistryClient):
    """The registry client with what staging tags need: listing and deleting tags."""

    async def __aenter__(self) -> TagClient:
        return self

    async def delete_tag(self, repository: str, tag: str) -> str | None:
        """Remove `tag` (never the manifest it names) with OCI distribution 1.1's tag delete;
        None once it is gone (or was never there), else why the registry refused: a registry
        may answer 400 or 405 where tag deletion is off or unsupported."""
        response = await self._call("DELETE", repository, f"manifests/{validate_tag(tag)}",
                                    push=True, keep=(400, 405))
        if response.status_code in (400, 405):
            return f"HTTP {response.status_code} {error_code(response).strip(' ()')}".strip()
        return None

    async def tags(self, repository: str) -> list[str]:
        """Every tag of `repository`, following the registry's pagination (Link headers)."""
        found: list[str] = []
        path = "tags/list?n=1000"
        while path:
            response = await self._call("GET", repository, path, push=False)
            if response.status_code == 404:
                return found
            found.extend(response.json().get("tags") or [])
            path = _next_page(response.headers.get("link", ""), repository)
        return found


def _next_page(link: str, repository: str) -> str:
    """The path after `/v2/REPO/` of a Link header's next page; empty on the last page."""
    match = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", link)
    if not match:
        return ""
    target = httpx.URL(match.group(1))
    prefix = f"/v2/{repository}/"
    path = target.path[len(prefix):] if target.path.startswith(prefix) else "tags/list"
    query = target.query.decode()
    return f"{path}?{query}" if query else path


@dataclass
class Cleanup:
    """What became of the staging tags: deleted, or kept with the reason."""

    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reason: str = ""  # why the kept ones are kept

    def summary(self) -> str:
        """One sentence for the log."""
        done = f"deleted {', '.join(self.deleted)}" if self.deleted else "deleted none"
        if not self.kept:
            return done
        return f"{done}; kept {', '.join(self.kept)}: {self.reason}"


async def delete_staging_tags(
    repository: ImageReference | str,
    tags: Sequence[str],
    credentials: Credentials | None,
    *,
    insecure_registries: Iterable[str] = (),
    retry: RetryPolicy = CLEANUP_RETRY,
) -> Cleanup:
    """Delete each of `tags` (staging tags only) that exists in `repository`; never raises
    for the registry: what could not be deleted is kept, with the reason."""
    ref = parse_reference(repository) if isinstance(repository, str) else repository
    wanted = [tag for tag in dict.fromkeys(tags) if made_at(tag) is not None]
    result = Cleanup()
    try:
        async with TagClient(ref.api_host, credentials,
                             insecure_registries=insecure_registries, retry=retry) as client:
            for n, tag in enumerate(wanted):
                if await client.manifest_digest(ref.repository, tag) is None:
                    continue  # never made (a failed push), or already gone
                refused = await client.delete_tag(ref.repository, tag)
                if refused is not None:
                    result.kept += wanted[n:]
                    result.reason = (f"registry {ref.api_host} refused to delete a tag "
                                     f"({refused}): tag deletion is off or unsupported there")
                    return result
                result.deleted.append(tag)
    except CannotCheck as error:
        result.kept += [t for t in wanted if t not in result.deleted]
        result.reason = str(error)
    return result


def stale(tags: Iterable[str], older_than: timedelta, now: datetime) -> list[str]:
    """The staging tags among `tags` made more than `older_than` before `now`, oldest first."""
    aged = [(made, tag) for tag in tags if (made := made_at(tag)) is not None
            and now - made > older_than]
    return [tag for _, tag in sorted(aged)]


async def collect_stale(
    repository: ImageReference | str,
    older_than: timedelta,
    credentials: Credentials | None,
    *,
    now: datetime | None = None,
    insecure_registries: Iterable[str] = (),
) -> Cleanup:
    """Delete the staging tags of `repository` older than `older_than`; the rest, a running
    publish's among them, are left alone. A registry that cannot be asked raises CannotCheck."""
    ref = parse_reference(repository) if isinstance(repository, str) else repository
    async with TagClient(ref.api_host, credentials,
                         insecure_registries=insecure_registries) as client:
        tags = await client.tags(ref.repository)
    old = stale(tags, older_than, now or datetime.now(UTC))
    return await delete_staging_tags(ref, old, credentials,
                                     insecure_registries=insecure_registries)
