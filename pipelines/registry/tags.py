"""Move tags to a verified index digest: the last step of publishing.

The manifest is fetched by digest and its exact bytes are PUT under each tag with the same
Content-Type, so the tag resolves to that very digest; each tag is then read back, and a tag
naming another digest by then (another publish moved it too) is returned as such.
Nothing is written unless the digest is in the registry first. Tags are written one after the
other, so a registry that goes away halfway is reported with the tags already moved: a
CannotCheck leaving this module means no tag was written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from pipelines.errors import EXIT_FAILURE, InputError, NodePipelinesError
from pipelines.registry.client import CannotCheck, Manifest, RegistryClient, RetryPolicy
from pipelines.registry.credentials import Credentials
from pipelines.registry.index_checks import gather, manifest_type
from pipelines.registry.reference import ImageReference, parse_reference, validate_tag


class TagMoveError(NodePipelinesError):
    """A tag could not be pointed at the digest, or points elsewhere after the move."""

    exit_code = EXIT_FAILURE


@dataclass(frozen=True)
class TagMove:
    """One tag's move: the digest it was pointed at, the one it named right before (if any)
    and the one it names right after, which differs when another publish moved it too."""

    tag: str
    digest: str
    previous: str | None
    now: str | None = None


async def move_tags(
    ref_with_digest: ImageReference | str,
    tags: Iterable[str],
    credentials: Credentials | None,
    *,
    insecure_registries: Iterable[str] = (),
    retry: RetryPolicy | None = None,
) -> tuple[TagMove, ...]:
    """Point every tag at the index digest of `ref_with_digest`, then confirm each one."""
    ref = parse_reference(ref_with_digest) if isinstance(ref_with_digest, str) else ref_with_digest
    if ref.digest is None:
        raise InputError(f"cannot move tags to {ref}: the reference needs an @sha256: digest")
    wanted = list(dict.fromkeys(validate_tag(tag) for tag in tags))
    if not wanted:
        return ()
    repository, digest = ref.repository, ref.digest
    async with RegistryClient(
        ref.api_host, credentials, insecure_registries=insecure_registries, retry=retry
    ) as client:
        manifest = await client.get_manifest(repository, digest)
        if manifest is None or manifest.digest != digest:
            found = "is not in the registry" if manifest is None else "returned other bytes"
            raise TagMoveError(
                f"cannot move {', '.join(wanted)} to {ref.name}@{digest}: that digest {found}; "
                "no tag was changed"
            )
        # The tag must be served with the type the digest is served with.
        manifest = Manifest(digest, manifest_type(manifest), manifest.body)
        resolvers = [partial(client.manifest_digest, repository, tag) for tag in wanted]
        previous = await gather(resolvers)
        await _put_each(client, ref, manifest, wanted)
        after = await _read_back(resolvers, ref, wanted)
    gone = [tag for tag, now in zip(wanted, after, strict=True) if now is None]
    if gone:
        raise TagMoveError(
            f"tags of {ref.name} name nothing right after the move to {digest}: {', '.join(gone)}"
        )
    # A tag naming another digest now was moved again by someone else: the caller says so.
    return tuple(TagMove(tag, digest, before, now)
                 for tag, before, now in zip(wanted, previous, after, strict=True))


async def _read_back(
    resolvers: Sequence[Callable[[], Awaitable[str | None]]], ref: ImageReference,
    tags: list[str],
) -> list[str | None]:
    """What each tag names after the writes; every tag is written by now, so a registry that
    cannot be asked is no longer a CannotCheck (that would say no tag moved)."""
    try:
        return await gather(resolvers)
    except CannotCheck as error:
        raise TagMoveError(
            f"{error}; {', '.join(tags)} were written to {ref.name}@{ref.digest} but could not "
            "be read back to confirm"
        ) from None


async def _put_each(
    client: RegistryClient, ref: ImageReference, manifest: Manifest, tags: list[str]
) -> None:
    """PUT the manifest under each tag in turn; a failure names what moved and what may not."""
    moved: list[str] = []
    for tag in tags:
        try:
            await client.put_manifest(ref.repository, tag, manifest)
        except CannotCheck as error:
            if not moved:
                raise  # nothing written: the caller's sentence can say no tag moved
            rest = ", ".join(tags[len(moved):])
            raise TagMoveError(
                f"{error}; {', '.join(moved)} moved to {ref.name}@{manifest.digest}, {rest} "
                "may still point at the previous index (every tag names either its previous "
                "index or the verified one): publish again to move the rest"
            ) from None
        moved.append(tag)
