"""Verify a multi-platform image in a registry: `python -m pipelines.verify REF --platform P ...`.

Every expected platform must appear exactly once in the index (OCI image index or Docker
manifest list) with its own digest; each child manifest must be fetchable, its config must name
the same os/architecture/variant, and each layer blob must exist with a non-zero size.
Attestation entries (unknown/unknown, annotated attestation-manifest) are ignored.
Exit 0 verified, 1 not verified, 2 cannot check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import anyio

from pipelines.credentials import Credentials, credentials_from_env, resolve_credentials
from pipelines.errors import EXIT_OK, InputError, NodePipelinesError
from pipelines.index_checks import (
    checker,
    digest_of,
    gather,
    manifest_type,
    platform_entries,
    shared_digests,
)
from pipelines.logs import configure_logging
from pipelines.platforms import Platform
from pipelines.reference import ImageReference, parse_reference
from pipelines.registry import (
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    CannotCheck,
    Manifest,
    RegistryClient,
    RetryPolicy,
)
from pipelines.settings import DEFAULT_PLATFORMS
from pipelines.verify_report import NotVerified, PlatformRow, VerifyReport

__all__ = ["CannotCheck", "NotVerified", "PlatformRow", "VerifyReport", "main", "verify_index"]


async def verify_index(
    ref: ImageReference | str,
    platforms: Iterable[Platform | str],
    credentials: Credentials | None,
    *,
    insecure_registries: Iterable[str] = (),
    retry: RetryPolicy | None = None,
) -> VerifyReport:
    """Check the index at `ref` against `platforms`; raise CannotCheck if the registry can't say."""
    ref = parse_reference(ref) if isinstance(ref, str) else ref
    expected = tuple(dict.fromkeys(
        p if isinstance(p, Platform) else Platform.parse(p) for p in platforms
    ))
    if not expected:
        raise InputError(
            "no platform to verify: name at least one, e.g. --platform linux/amd64"
        )
    base = VerifyReport(str(ref), None, "", expected=tuple(str(p) for p in expected))
    async with RegistryClient(
        ref.api_host, credentials, insecure_registries=insecure_registries, retry=retry
    ) as client:
        index = await client.get_manifest(ref.repository, ref.reference)
        if index is None:
            return _failed(base, f"the registry has no manifest for {ref} (HTTP 404)")
        media_type = manifest_type(index)
        base = VerifyReport(str(ref), index.digest, media_type, expected=base.expected)
        problem = _index_problem(ref, index, media_type, expected)
        if problem:
            return _failed(base, problem)
        return await _check_entries(client, ref.repository, base, index, expected)


async def _check_entries(
    client: RegistryClient,
    repository: str,
    base: VerifyReport,
    index: Manifest,
    expected: Sequence[Platform],
) -> VerifyReport:
    entries, attestations, problems = platform_entries(index.document())
    found = Counter(platform for platform, _ in entries)
    problems += shared_digests(entries)
    rows: dict[Platform, PlatformRow] = {}
    to_check: list[tuple[Platform, dict[str, Any]]] = []
    for platform in expected:
        count = found[platform]
        if count == 0:
            rows[platform] = PlatformRow(str(platform), "missing",
                                         problems=(f"{platform} is missing from the index",))
        elif count > 1:
            rows[platform] = PlatformRow(
                str(platform), "duplicated",
                problems=(f"{platform} appears {count} times in the index, wanted once",))
        else:
            to_check.append(next((p, d) for p, d in entries if p == platform))
    checked = await gather([checker(client, repository, p, d) for p, d in to_check])
    rows.update((row_platform, row) for (row_platform, _), row in zip(to_check, checked,
                                                                         strict=True))
    extras = [PlatformRow(str(p), "extra", digest_of(d)) for p, d in entries if p not in expected]
    return VerifyReport(
        base.reference, base.digest, base.media_type,
        rows=(*(rows[p] for p in expected), *extras),
        problems=tuple(problems), attestations_ignored=attestations, expected=base.expected,
    )


def _index_problem(
    ref: ImageReference, index: Manifest, media_type: str, expected: Sequence[Platform]
) -> str:
    wanted = ", ".join(str(p) for p in expected)
    if ref.digest and index.digest != ref.digest:
        return f"the registry returned content with digest {index.digest} for {ref.digest}"
    if media_type in IMAGE_MANIFEST_TYPES:
        return (f"{ref} is a single-platform image manifest, not an index: "
                f"wanted an index with {wanted}")
    if media_type not in INDEX_TYPES:
        return f"{ref} has media type {media_type or 'none'}, which is not an image index"
    try:
        manifests = index.document().get("manifests")
    except ValueError:
        manifests = None
    if not isinstance(manifests, list):
        return f"the index at {ref} has no list of manifests"
    return ""


def _failed(base: VerifyReport, problem: str) -> VerifyReport:
    return VerifyReport(base.reference, base.digest, base.media_type, problems=(problem,),
                        expected=base.expected)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line of `python -m pipelines.verify`."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.verify",
        description="Verify that a multi-platform image index in a registry is complete.",
        epilog="Credentials: NODEPIPE_REGISTRY_USERNAME and NODEPIPE_REGISTRY_PASSWORD, else "
        "Docker's config.json (DOCKER_CONFIG or ~/.docker). Exit 0 verified, 1 not verified, "
        "2 cannot check.",
    )
    parser.add_argument("reference", help="REGISTRY/REPOSITORY[:TAG][@sha256:...]")
    parser.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                        help="an expected platform; repeat it or separate with commas "
                        f"(default: {','.join(DEFAULT_PLATFORMS)})")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="how the report is printed on stdout (default: table)")
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                        help="speak plain HTTP to this registry (loopback registries always are)")
    return parser.parse_args(argv)


async def _verify_from_args(args: argparse.Namespace) -> VerifyReport:
    ref = parse_reference(args.reference)
    given = [p for value in args.platform for p in value.split(",") if p.strip()]
    expected = given or list(DEFAULT_PLATFORMS)
    credentials = resolve_credentials(ref.registry, credentials_from_env(os.environ), os.environ)
    return await verify_index(ref, expected, credentials,
                              insecure_registries=args.insecure_registry)


def main(argv: Sequence[str] | None = None) -> int:
    """Verify, print the report on stdout, the failure sentence on stderr; return the exit code."""
    args = parse_args(argv)
    configure_logging()
    try:
        report = anyio.run(_verify_from_args, args)
    except NodePipelinesError as error:
        if args.format == "json":
            print(json.dumps({"reference": args.reference, "ok": False, "error": str(error)}))
        print(f"ERROR {error}", file=sys.stderr)
        return error.exit_code
    _print_report(report, args.format)
    if not report.ok:
        failure = NotVerified(report)
        print(f"ERROR {failure}", file=sys.stderr)
        return failure.exit_code
    return EXIT_OK


def _print_report(report: VerifyReport, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.table())


if __name__ == "__main__":
    sys.exit(main())
