"""yarn 1's yarn.lock (its own text format, no os/cpu/libc) as the audit's entries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.packagers.lockfiles.entry import LockEntry, LockfileError, mapping, read_json
from pipelines.packagers.lockfiles.graph import package_name, to_entries, workspace_dirs
from pipelines.packagers.lockfiles.platform_names import platform_tag
from pipelines.packagers.lockfiles.policy import ALWAYS
from pipelines.packagers.lockfiles.yarn_berry import (
    FIELDS,
    LOCKFILE,
    Package,
    hoist,
    lookup,
    workspace_globs,
)


def parse_classic(text: str, path: Path) -> dict[str, dict[str, Any]]:
    """yarn 1's lockfile format: `key:` blocks, two-space indented `field value` lines."""
    entries: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    section: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        content = line.strip()
        if indent == 0 and content.endswith(":"):
            current, section = {}, None
            for key in content[:-1].split(", "):
                entries[_unquote(key)] = current
        elif indent == 2 and current is not None and content.endswith(":"):
            section = current.setdefault(_unquote(content[:-1]), {})
        elif indent == 2 and current is not None:
            key, value = _field(content, path, number)
            current[key], section = value, None
        elif indent == 4 and section is not None:
            key, value = _field(content, path, number)
            section[key] = value
        else:
            raise LockfileError(f"{path} line {number} is not yarn lockfile syntax: restore it or "
                             "regenerate it with `yarn install`")
    return entries


def _field(content: str, path: Path, number: int) -> tuple[str, str]:
    if content.startswith('"'):
        end = content.find('"', 1)
        key, rest = content[1:end], content[end + 1:]
    else:
        key, _, rest = content.partition(" ")
    if not rest.strip() or not key:
        raise LockfileError(f"{path} line {number} is not yarn lockfile syntax: restore it or "
                         "regenerate it with `yarn install`")
    return key, _unquote(rest.strip())


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def read_classic_lockfile(root: Path, manifest: Mapping[str, Any]) -> dict[str, LockEntry]:
    """A yarn 1 yarn.lock; it records no os/cpu/libc, so platform packages are recognised by
    their names (`@img/sharp-linux-arm64`, `-linux-arm64-gnu`)."""
    path = root / LOCKFILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LockfileError(f"cannot read {path}: {error}") from None
    raw = parse_classic(text, path)
    by_descriptor: dict[str, str] = {}
    packages: dict[str, Package] = {}
    for descriptor, data in raw.items():
        version = data.get("version")
        if not isinstance(version, str):
            raise LockfileError(f"{path}: entry {descriptor!r} has no version: regenerate it with "
                             "`yarn install`")
        name = package_name(descriptor)
        ident = f"{name}@{version}"
        by_descriptor[descriptor] = ident
        if ident not in packages:
            packages[ident] = _classic_package(ident, name, version, data)
    workspaces = _classic_workspaces(root, manifest, packages)
    for package in packages.values():
        if package.workspace is not None:
            continue
        for dep, spec in package.specs.items():
            package.deps[dep] = workspaces.get(dep) or lookup(
                by_descriptor, f"{dep}@{spec}", package.name, path)
    for package in packages.values():
        if package.workspace is not None:
            _classic_workspace_deps(package, root, manifest, workspaces=workspaces,
                                    by_descriptor=by_descriptor, path=path)
    _name_platforms(packages)
    return to_entries(hoist(packages, scripts_known=False, popular_on_top=True),
                      ALWAYS)


def _classic_package(ident: str, name: str, version: str, data: Mapping[str, Any]) -> Package:
    deps = dict(mapping(data.get("dependencies")))
    optional = dict(mapping(data.get("optionalDependencies")))
    resolved = data.get("resolved")
    url = resolved.split("#", 1)[0] if isinstance(resolved, str) else None
    # registry.yarnpkg.com mirrors the npm registry: let the configured registry answer.
    if url and "registry.yarnpkg.com/" in url:
        url = None
    return Package(id=ident, name=name, version=version, specs={**deps, **optional},
                    optional=set(optional), resolved=url)


def _classic_workspaces(root: Path, manifest: Mapping[str, Any],
                        packages: dict[str, Package]) -> dict[str, str]:
    """The root and the workspace packages (yarn 1 leaves them out of yarn.lock)."""
    found = {}
    packages[""] = Package(id="", name=str(manifest.get("name") or ""), version="",
                            workspace="")
    for directory in workspace_dirs(root, workspace_globs(manifest)):
        where = directory.relative_to(root).as_posix()
        own = read_json(directory / "package.json", f"{where}/package.json")
        name = str(own.get("name") or where)
        packages[where] = Package(id=where, name=name, version=str(own.get("version") or ""),
                                   workspace=where)
        found[name] = where
    return found


def _classic_workspace_deps(package: Package, root: Path, manifest: Mapping[str, Any], *,
                            workspaces: Mapping[str, str], by_descriptor: Mapping[str, str],
                            path: Path) -> None:
    where = package.workspace or ""
    own = manifest if not where else read_json(root / where / "package.json",
                                               f"{where}/package.json")
    label = f"{where}/package.json" if where else "package.json"
    for fieldname in FIELDS:
        for name, spec in mapping(own.get(fieldname)).items():
            ident = workspaces.get(name) or by_descriptor.get(f"{name}@{spec}")
            if ident is None:
                raise LockfileError(
                    f"{label} and yarn.lock are out of sync: {name}@{spec} is declared but "
                    "not locked; run `yarn install` and commit the lockfile")
            if fieldname == "devDependencies":
                package.dev[name] = ident
            else:
                package.deps[name] = ident
                package.specs[name] = spec
            if fieldname == "optionalDependencies":
                package.optional.add(name)


def _name_platforms(packages: Mapping[str, Package]) -> None:
    """Platform packages by name: os/cpu from the name, glibc where a musl sibling exists."""
    for parent in packages.values():
        children = [packages[parent.deps[n]] for n in parent.optional if n in parent.deps]
        tags = {c.id: platform_tag(c.name.rpartition("/")[2]) for c in children}
        platformed = {i: t for i, t in tags.items() if t.os and t.cpu}
        if len(platformed) < 2:
            continue  # one optional dependency with a platform word is no platform set
        musl = any(t.libc == "musl" for t in platformed.values())
        for ident, tag in platformed.items():
            child = packages[ident]
            libc = tag.libc or ("glibc" if musl and tag.os == "linux" else None)
            child.os, child.cpu = (str(tag.os),), (str(tag.cpu),)
            child.libc = (libc,) if libc else ()
            child.platform_known = False
