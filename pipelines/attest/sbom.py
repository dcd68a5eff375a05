"""A CycloneDX 1.6 SBOM (JSON) of one platform's image, made with cyclonedx-python-lib.

What that image holds, as node-pipelines installed it: the production packages of the
lockfile whose os/cpu/libc allow the target (so the target's own platform packages, and no
other's), with version, purl, integrity hash and license where the lockfile has them; each
native package's install path and how its binary got there; the project's own addon; the base
image; the declared system packages. The image itself (by digest) is the BOM's subject, and
depends on the service's direct dependencies; each package on those the lockfile resolves.
"""

from __future__ import annotations

import base64
import binascii
import gc
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from pipelines.attest.steps import Subject, how_installed
from pipelines.audit.coverage import allowed
from pipelines.packagers.lockfiles.entry import LockEntry, resolve_in
from pipelines.plan.model import APP_DIR, NativePackage, Plan, Target

SBOM_TYPE = "application/vnd.cyclonedx+json"
NS = "node-pipelines"  # the namespace of this tool's CycloneDX properties
_SRI = {"sha512": HashAlgorithm.SHA_512, "sha384": HashAlgorithm.SHA_384,
        "sha256": HashAlgorithm.SHA_256, "sha1": HashAlgorithm.SHA_1}
_SERIAL_NAMESPACE = uuid.UUID("6f1d8a52-7c1e-4f4e-9d8e-3a5b9a0c2e11")


def sbom(plan: Plan, target: Target, subject: Subject, *, tool_version: str,
         base_digest: str = "") -> str:
    """The SBOM of `target`'s image `subject`, as CycloneDX JSON text."""
    # The library sorts its components by tuples it builds on every comparison: the garbage
    # collector's passes over those short-lived tuples took half the time of a large SBOM.
    # They hold no cycles; collection resumes (and catches up) once the text is made.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _sbom(plan, target, subject, tool_version=tool_version, base_digest=base_digest)
    finally:
        if was_enabled:
            gc.enable()


def _sbom(plan: Plan, target: Target, subject: Subject, *, tool_version: str,
          base_digest: str) -> str:
    image = _image(plan, subject)
    natives = {p.path: p for p in target.native_packages if p.path}
    packages = installed(plan, target)
    components = [_package(e, target, natives.get(e.path)) for e in packages]
    components += [_own_addon(plan, target, p) for p in target.native_packages if p.own]
    components.append(_base(plan, target, base_digest))
    components += [_system(name, target) for name in plan.shape.apt_packages]
    tools = ToolRepository(components=[Component(type=ComponentType.APPLICATION, name=NS,
                                                 version=tool_version)])
    bom = Bom(
        components=components,
        # The same image gives the same document: serial number from its digest, time from
        # the commit (the `created` label), else none at all rather than the time of the run.
        serial_number=uuid.uuid5(_SERIAL_NAMESPACE, subject.digest),
        metadata=BomMetaData(component=image, tools=tools, timestamp=_created(plan)),
    )
    ref_of = {str(c.bom_ref): c.bom_ref for c in components}
    bom.dependencies.update(
        Dependency(ref=ref_of.get(ref, image.bom_ref),
                   dependencies=[Dependency(ref=ref_of[r]) for r in refs])
        for ref, refs in _graph(plan, packages, str(image.bom_ref)))
    _registered_once(bom, {image.bom_ref, *(c.bom_ref for c in components)})
    return str(JsonV1Dot6(bom).output_as_string(indent=None))


def _registered_once(bom: Bom, registered: set[Any]) -> None:
    """Make `bom.validate()` (every outputter runs it) skip the components in `registered`.

    The library's `register_dependency` scans the dependency list for each component, so
    serialising is quadratic in the number of components (upstream issue #1006 of
    cyclonedx-python-lib: seconds for a few thousand), and it adds an empty entry for each.
    Here every component has its entry, from the lockfile's graph; nothing else is skipped.
    Set on the instance: a subclass of Bom loses the library's serialisation metadata.
    """
    register = bom.register_dependency

    def register_new(target: Any, depends_on: Any = None) -> None:
        if depends_on is None and target.bom_ref in registered:
            return
        register(target, depends_on)

    bom.register_dependency = register_new  # type: ignore[method-assign]


def _graph(plan: Plan, packages: list[LockEntry],
           image: str) -> Iterator[tuple[str, list[str]]]:
    """The lockfile's dependency graph over the installed packages: the image depends on the
    service's direct dependencies, each package on those it resolves to (the way Node finds
    them, or pnpm's links); a dependency the target does not install has no edge."""
    entries = {e.path: e for e in packages}
    if plan.importer is not None:
        entries = {plan.importer.path: plan.importer, **entries}

    def refs(entry: LockEntry) -> list[str]:
        found = (resolve_in(entries, entry.path, name)
                 for name in (*entry.dependencies, *entry.optional_dependencies))
        return sorted({f"npm:{d.path}" for d in found if d is not None and d.path})

    yield image, refs(plan.importer) if plan.importer is not None else []
    for entry in packages:
        yield f"npm:{entry.path}", refs(entry)


def installed(plan: Plan, target: Target) -> list[LockEntry]:
    """The production packages the target's install keeps: those its os/cpu/libc allow."""
    spec = target.spec
    return [e for e in plan.production
            if allowed(e.os, spec.os) and allowed(e.cpu, spec.cpu) and allowed(e.libc, spec.libc)]


def _image(plan: Plan, subject: Subject) -> Component:
    """The image, the BOM's subject: a container component whose version is its digest."""
    qualifiers = {"arch": subject.platform.arch, "os": subject.platform.os}
    if "/" in subject.name:
        qualifiers["repository_url"] = subject.name
    purl = PackageURL("oci", name=subject.name.rpartition("/")[2], version=subject.digest,
                      qualifiers=qualifiers)
    labels = plan.labels
    return Component(
        type=ComponentType.CONTAINER, name=subject.name, version=subject.digest,
        bom_ref=f"image:{subject.digest}", purl=purl,
        description=labels.get("org.opencontainers.image.description"),
        properties=[Property(name=f"{NS}:platform", value=str(subject.platform)),
                    *(Property(name=k, value=v) for k, v in labels.items())],
    )


def _package(entry: LockEntry, target: Target, native: NativePackage | None) -> Component:
    """One installed npm package, with how its native binary got there if it has one."""
    group, _, name = entry.name.rpartition("/")
    properties = [Property(name=f"{NS}:path", value=f"{APP_DIR}/{entry.path}")]
    if entry.constrained:
        properties.append(Property(name=f"{NS}:platform-package", value="true"))
    if native is not None:
        properties.append(Property(name=f"{NS}:native",
                                   value=how_installed(target, native)))
    return Component(
        type=ComponentType.LIBRARY, name=name, group=group or None, version=entry.version,
        bom_ref=f"npm:{entry.path}",
        purl=None if entry.local else PackageURL("npm", namespace=group or None, name=name,
                                                 version=entry.version),
        hashes=_hashes(entry.integrity), licenses=_licenses(entry.license),
        properties=properties,
    )


def _own_addon(plan: Plan, target: Target, package: NativePackage) -> Component:
    """The project's own addon, compiled by its `compile:bindings` script."""
    how = how_installed(target, package)
    path = f"{APP_DIR}/{plan.bindings_output.strip('/')}"
    return Component(type=ComponentType.LIBRARY, name=f"{plan.name} (native addon)",
                     bom_ref=f"addon:{path}",
                     properties=[Property(name=f"{NS}:path", value=path),
                                 Property(name=f"{NS}:native", value=how)])


def _base(plan: Plan, target: Target, digest: str) -> Component:
    """The base image the runtime starts from, by digest where the engine said it."""
    name, _, tag = plan.base_image.rpartition(":") if ":" in plan.base_image.split("/")[-1] \
        else (plan.base_image, "", "")
    purl = PackageURL("docker", name=name.rpartition("/")[2], version=digest or tag or None,
                      qualifiers={"arch": target.platform.arch})
    return Component(type=ComponentType.CONTAINER, name=plan.base_image,
                     version=digest or tag or None, bom_ref=f"base:{plan.base_image}", purl=purl,
                     properties=[Property(name=f"{NS}:role", value="base image")])


def _system(name: str, target: Target) -> Component:
    """A declared system package (its version is the base's distribution's at build time)."""
    distro = "alpine" if target.libc == "musl" else "debian"
    return Component(type=ComponentType.LIBRARY, name=name, bom_ref=f"system:{name}",
                     purl=PackageURL("apk" if distro == "alpine" else "deb", namespace=distro,
                                     name=name, qualifiers={"arch": target.platform.arch}),
                     properties=[Property(name=f"{NS}:role", value="declared system package")])


def _hashes(integrity: str) -> Iterable[HashType]:
    """Subresource Integrity (`sha512-<base64>`, possibly several) as CycloneDX hex hashes."""
    found = []
    for item in integrity.split():
        algorithm, _, encoded = item.partition("-")
        if algorithm in _SRI:
            try:
                content = base64.b64decode(encoded, validate=True).hex()
            except (binascii.Error, ValueError):
                continue
            found.append(HashType(alg=_SRI[algorithm], content=content))
    return found


def _licenses(license_: str) -> Iterable[LicenseExpression]:
    """The package's SPDX license expression, as its package.json states it."""
    return [LicenseExpression(license_)] if license_.strip() else []


def _created(plan: Plan) -> datetime | None:
    created = plan.labels.get("org.opencontainers.image.created", "")
    try:
        return datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
