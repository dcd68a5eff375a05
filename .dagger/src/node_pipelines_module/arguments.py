"""The module's arguments: one documented type per pipeline setting, shared by every function.

Each alias carries the `Doc` that becomes `dagger call ... --help`. The defaults are written
in the function signatures and equal the pipeline's settings defaults
(tests/unit/test_dagger_module.py keeps them equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import dagger
from dagger import DefaultPath, Doc, Ignore

# What never belongs in the build's source: dependencies the engine installs itself, VCS data,
# build output, and a Dagger module of the service's own.
IGNORED = ["node_modules", "**/node_modules", ".git", "build", "dist", "coverage", ".dagger"]

Source = Annotated[
    dagger.Directory,
    DefaultPath("/"),
    Ignore(IGNORED),
    Doc("the service's directory: package.json, its lockfile and the code (default: the "
        "calling module's directory, without node_modules, .git, build and dist)"),
]
OnePlatform = Annotated[str, Doc("the target platform, such as linux/arm64")]
Platforms = Annotated[
    Sequence[str], Doc("target platforms of the image index (linux/amd64, linux/arm64)")
]
AllowUnsupported = Annotated[
    bool, Doc("allow platforms other than linux/amd64 and linux/arm64 (not verified)")
]
NodeMajor = Annotated[
    int | None,
    Doc("Node.js major version (default: .nvmrc, .node-version, engines.node, else 22)"),
]
BaseImage = Annotated[
    str, Doc("base of the build and runtime images (default: node:<major>-bookworm-slim)")
]
CacheNamespace = Annotated[str, Doc("prefix of every cache volume name")]
Workspace = Annotated[
    str | None,
    Doc("one package of an npm, pnpm or yarn workspace to build (its name or folder); the "
        "source is the workspace root"),
]
BuildScript = Annotated[
    str | None,
    Doc("package.json script that builds the app (default: build, else compile; empty: none)"),
]
StartCommand = Annotated[
    Sequence[str], Doc("command of the image (default: from package.json's start script)")
]
Include = Annotated[Sequence[str], Doc("paths to ship that .dockerignore drops")]
Exclude = Annotated[Sequence[str], Doc(".dockerignore patterns to drop as well")]
AptPackages = Annotated[Sequence[str], Doc("system packages of the runtime image")]
BuildAptPackages = Annotated[
    Sequence[str], Doc("system packages of the build and compile stages")
]
Init = Annotated[bool, Doc("run the service under tini as PID 1 (for services that spawn)")]
RuntimePackageManager = Annotated[
    bool, Doc("put the project's package manager, at its pinned version, in the runtime image")
]
Port = Annotated[int, Doc("port the service listens on (PORT in the image, and the probe's)")]
Health = Annotated[
    str,
    Doc("health check: auto, http (GET health-path), tcp (connect to port) or none"),
]
HealthPath = Annotated[str, Doc("health endpoint the probe GETs, such as /healthz")]
NodeOptions = Annotated[str, Doc("NODE_OPTIONS in the runtime image")]
BindingsOutput = Annotated[str, Doc("where the service's compile:bindings leaves its .node files")]
BuildEnv = Annotated[
    Sequence[str],
    Doc("NAME=value for the build containers only, never the image (no secrets)"),
]
Env = Annotated[
    Sequence[str],
    Doc("NAME=value for the runtime image's environment (baked in: never a secret)"),
]
ProbeEnv = Annotated[
    Sequence[str],
    Doc("NAME=value for the health probe's run of the service only (never in the image)"),
]
ProbeServices = Annotated[
    Sequence[str],
    Doc("backing services the probe starts, each NAME=IMAGE[,VAR=value...], reached by NAME"),
]
AllowMissing = Annotated[
    Sequence[str],
    Doc("production packages allowed to have no binary on a target (waived, never passed)"),
]
Strict = Annotated[
    bool,
    Doc("an optional native dependency with no binary on a target blocks the build too"),
]
Emulation = Annotated[
    str, Doc("when a target's build work would run emulated: allow, warn or fail")
]
TagRace = Annotated[
    str, Doc("another publish moving the same tags right after this one: warn (the call "
             "succeeds) or fail")
]
AuditMode = Annotated[
    str, Doc("online: ask the npm registry for prebuild coverage; offline: the lockfile only")
]
Labels = Annotated[
    Sequence[str],
    Doc("NAME=value labels and annotations over the derived org.opencontainers.image.* ones "
        "(a NAME without a dot is org.opencontainers.image.NAME)"),
]
SourceUrl = Annotated[
    str, Doc("the source repository's URL for labels and provenance (the module sees no .git)")
]
Revision = Annotated[str, Doc("the commit built, for labels and provenance")]
Attest = Annotated[
    bool, Doc("make, attach and require an SBOM and provenance for every platform")
]
Image = Annotated[str, Doc("repository to publish to, REGISTRY/REPO, without tag")]
Tags = Annotated[Sequence[str], Doc("tags moved to the index once it is verified")]
Username = Annotated[str, Doc("registry user name (empty: no login)")]
Password = Annotated[dagger.Secret | None, Doc("registry password or token, as a secret")]
Require = Annotated[
    Sequence[str],
    Doc("attestations every platform must have as OCI referrers: sbom, provenance"),
]
Reference = Annotated[str, Doc("the image to verify, REGISTRY/REPO[:TAG][@sha256:...]")]
