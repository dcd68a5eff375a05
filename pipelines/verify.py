"""`python -m pipelines.verify REF --platform P ...`: verify a multi-platform image in a registry.

Every expected platform must appear exactly once in the index (OCI image index or Docker
manifest list) with its own digest; each child manifest must be fetchable, its config must name
the same os/architecture/variant, and each layer blob must exist with a non-zero size.
Attestation entries (unknown/unknown, annotated attestation-manifest) are ignored. With
`--require sbom,provenance`, each platform's manifest must have that SBOM and provenance among
its OCI referrers, each naming it as its subject; with `--key cosign.pub`, the index and those
attestations must carry cosign signatures the key verifies.
Exit 0 verified, 1 not verified, 2 cannot check.

`python -m pipelines.verify --gc-staging REPO [--older-than 24h]` deletes the staging tags a
publish left behind (a registry that refused tag deletion, a run killed outright) once their
name says they are older than the given age; exit 0 all deleted, 1 some kept, 2 cannot check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

import anyio
from cryptography.hazmat.primitives.asymmetric import ec

from pipelines.errors import EXIT_FAILURE, EXIT_OK, InputError, NodePipelinesError
from pipelines.logs import configure_logging
from pipelines.registry.attestations import required_kinds
from pipelines.registry.credentials import credentials_from_env, resolve_credentials
from pipelines.registry.reference import parse_reference
from pipelines.registry.signatures import SigningKeyError, load_public_key
from pipelines.registry.staging import collect_stale
from pipelines.registry.verify import NotVerified, VerifyReport, verify_index
from pipelines.settings import DEFAULT_PLATFORMS

MIN_STALE_AGE = timedelta(hours=1)  # the build's default --timeout


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line of `python -m pipelines.verify`."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.verify",
        description="Verify that a multi-platform image index in a registry is complete.",
        epilog="Credentials: NODEPIPE_REGISTRY_USERNAME and NODEPIPE_REGISTRY_PASSWORD, else "
        "Docker's config.json (DOCKER_CONFIG or ~/.docker). Exit 0 verified, 1 not verified, "
        "2 cannot check.",
    )
    parser.add_argument("reference", nargs="?", help="REGISTRY/REPOSITORY[:TAG][@sha256:...]")
    parser.add_argument("--gc-staging", metavar="REGISTRY/REPOSITORY",
                        help="instead of verifying: delete this repository's nodepipe-staging-* "
                        "tags older than --older-than")
    parser.add_argument("--older-than", default="24h", metavar="AGE",
                        help="with --gc-staging: minimum age, such as 90m, 6h or 7d (default "
                        "24h, at least 1h: a publish holds its staging tags while it runs)")
    parser.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                        help="an expected platform; repeat it or separate with commas "
                        f"(default: {','.join(DEFAULT_PLATFORMS)})")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="how the report is printed on stdout (default: table)")
    parser.add_argument("--require", action="append", default=[], metavar="sbom,provenance",
                        help="also require, for every platform, an SBOM and/or a provenance "
                        "statement attached as an OCI referrer whose subject is its manifest")
    parser.add_argument("--key", metavar="PUB",
                        help="a cosign public key (cosign.pub): the index, and the "
                        "attestations --require names, must carry signatures it verifies")
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                        help="speak plain HTTP to this registry (loopback registries always are)")
    return parser.parse_args(argv)


async def _verify_from_args(args: argparse.Namespace) -> VerifyReport:
    ref = parse_reference(args.reference)
    required = required_kinds(args.require)
    key = _public_key(args.key) if args.key else None
    given = [p for value in args.platform for p in value.split(",") if p.strip()]
    expected = given or list(DEFAULT_PLATFORMS)
    credentials = resolve_credentials(ref.registry, credentials_from_env(os.environ), os.environ)
    return await verify_index(ref, expected, credentials,
                              insecure_registries=args.insecure_registry, require=required,
                              key=key)


def _public_key(path: str) -> ec.EllipticCurvePublicKey:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SigningKeyError(f"cannot read the key {path}: "
                              f"{getattr(error, 'strerror', None) or error}") from None
    return load_public_key(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Verify, print the report on stdout, the failure sentence on stderr; return the exit code."""
    args = parse_args(argv)
    configure_logging()
    if args.gc_staging or not args.reference:
        return _gc_main(args)
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


def _gc_main(args: argparse.Namespace) -> int:
    """`--gc-staging`: delete stale staging tags; each deleted tag on stdout, kept ones named
    on stderr with the registry's reason."""
    try:
        if not args.gc_staging:
            raise InputError("name a reference to verify, or --gc-staging REPO")
        older = parse_age(args.older_than)
        ref = parse_reference(args.gc_staging)
        credentials = resolve_credentials(ref.registry, credentials_from_env(os.environ),
                                          os.environ)
        done = anyio.run(partial(collect_stale, ref, older, credentials,
                                 insecure_registries=args.insecure_registry))
    except NodePipelinesError as error:
        print(f"ERROR {error}", file=sys.stderr)
        return error.exit_code
    for tag in done.deleted:
        print(f"deleted {ref.name}:{tag}")
    if done.kept:
        print(f"ERROR kept {len(done.kept)} staging tags of {ref.name} ({', '.join(done.kept)}): "
              f"{done.reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def parse_age(text: str) -> timedelta:
    """`90m`, `6h`, `7d` (or a sum such as `1d12h`) as a duration of at least an hour."""
    parts = re.fullmatch(r"(?:\d+[smhd])+", text.strip())
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if not parts:
        raise InputError(f"--older-than {text!r} is not an age: write it as 90m, 6h or 7d")
    age = timedelta(seconds=sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])",
                                                                          text)))
    if age < MIN_STALE_AGE:
        raise InputError(f"--older-than {text} is under an hour: a publish holds its staging "
                         "tags while it runs (up to its --timeout, 1 h by default)")
    return age


def _print_report(report: VerifyReport, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.table())


if __name__ == "__main__":
    sys.exit(main())
