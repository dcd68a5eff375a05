"""Results of the check scripts, read from the JSON line each prints, and the sentences users read.

Whether a check passed is decided here from the data, not from the script's own `ok`, so the
sentence a user reads and the verdict can never disagree.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from pipelines.checks.system_packages import SystemPackageCheck, parse_system_packages
from pipelines.errors import PipelineError

_LOADING = re.compile(r"^smoke: loading (.+)$", re.MULTILINE)


class _Judged:
    """What every check result shares: `problems` decide `ok`, the report shape and the error."""

    STAGE: ClassVar[str]
    platform: str

    @property
    def problems(self) -> tuple[str, ...]:
        """The sentences a user reads; each result says what its own are."""
        raise NotImplementedError

    @property
    def ok(self) -> bool:
        """True when the check found nothing wrong."""
        return not self.problems

    def describe(self) -> dict[str, Any]:
        """JSON-safe data for reports."""
        data = asdict(self)  # type: ignore[call-overload] # every subclass is a dataclass
        return {**data, "ok": self.ok, "problems": list(self.problems)}

    def raise_for_failure(self) -> None:
        """Raise a PipelineError naming every problem, if there is one."""
        if self.problems:
            raise PipelineError("; ".join(self.problems), stage=self.STAGE, platform=self.platform)


@dataclass(frozen=True)
class PackageLoad:
    """One native package (or addon file) the smoke script loaded, or the error it got."""

    name: str
    ok: bool
    error: str | None
    addons: tuple[str, ...]  # the .node files actually dlopen()ed
    warning: str | None = None
    optional: bool = False  # optional and absent on the target (skipped by the audit)


@dataclass(frozen=True)
class ExecutableCheck:
    """An executable an install script downloaded (a glob such as `schema-engine-*`): the files
    that match, and what each is built for (`arm64 64-bit`, `not ELF`)."""

    pattern: str
    files: tuple[tuple[str, str], ...]  # (path, what its ELF header says)
    error: str | None
    ok: bool


@dataclass(frozen=True)
class ProgramCheck:
    """A program the image's command runs (or a module node preloads), and where it resolved."""

    name: str
    path: str | None
    error: str | None
    ok: bool


@dataclass(frozen=True)
class SmokeResult(_Judged):
    """What the smoke script saw inside one target's runtime image."""

    STAGE: ClassVar[str] = "smoke"

    platform: str
    arch: str
    expected_arch: str
    libc: str
    expected_libc: str
    glibc_version: str | None
    node_version: str
    packages: tuple[PackageLoad, ...]
    executables: tuple[ExecutableCheck, ...] = ()
    programs: tuple[ProgramCheck, ...] = ()
    system: tuple[SystemPackageCheck, ...] = ()
    generated: tuple[ProgramCheck, ...] = ()  # generated code (Prisma's client) and its folder

    @property
    def problems(self) -> tuple[str, ...]:
        """One sentence per failure; empty when the image passed."""
        found = []
        if self.arch != self.expected_arch:
            found.append(f"process.arch is {self.arch}, wanted {self.expected_arch}")
        if self.libc != self.expected_libc:
            found.append(f"the C library is {self.libc}, wanted {self.expected_libc}")
        found += [f"{p.name} failed to load: {p.error}" for p in self.packages if not p.ok]
        found += [f"executable {e.pattern}: {e.error or 'not for the target'}"
                  for e in self.executables if not e.ok]
        found += [f"the start command's {p.name} does not resolve in the image: {p.error}"
                  for p in self.programs if not p.ok]
        found += [f"system package {s.name}: {s.error or 'not usable on the target'}"
                  for s in self.system if not s.ok]
        found += [f"generated code {g.name} is not usable in the image: {g.error}"
                  for g in self.generated if not g.ok]
        return tuple(found)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Packages that loaded but whose binding could not be exercised."""
        return tuple(f"{p.name}: {p.warning}" for p in self.packages if p.ok and p.warning)



@dataclass(frozen=True)
class ProbeResult(_Judged):
    """The last answer of the service's health endpoint, polled from a second container."""

    STAGE: ClassVar[str] = "probe"

    platform: str
    url: str
    status: int | str | None  # an HTTP status, or "connected" for a tcp:// probe
    error: str | None
    body: str | None
    attempts: int
    elapsed_s: float
    timeout_s: float

    @property
    def problems(self) -> tuple[str, ...]:
        """The one sentence explaining an unhealthy service; empty when it answered 2xx."""
        if self.ok:
            return ()
        if self.status is None:
            if self.url.startswith("tcp://"):
                return (f"nothing accepted connections at {self.url} within "
                        f"{self.timeout_s:g} s ({self.error}): is the service listening on "
                        "that port (--port)?",)
            return (
                f"the health endpoint {self.url} did not answer within {self.timeout_s:g} s "
                f"({self.error})",
            )
        body = f": {self.body.strip()[:120]}" if self.body and self.body.strip() else ""
        return (f"the health endpoint {self.url} answered {self.status}, wanted 2xx{body}",)

    @property
    def ok(self) -> bool:
        """True when the endpoint answered with a 2xx status, or the port accepted a connection."""
        if isinstance(self.status, str):
            return self.status == "connected"
        return self.status is not None and 200 <= self.status < 300



@dataclass(frozen=True)
class DevDependency:
    """A lockfile entry marked dev-only that is present in the image's node_modules."""

    name: str
    path: str
    version: str | None

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


@dataclass(frozen=True)
class HygieneResult(_Judged):
    """What the hygiene script found inside one target's runtime image."""

    STAGE: ClassVar[str] = "hygiene"

    platform: str
    uid: int
    user: str | None
    node_env: str | None
    build_tools: tuple[str, ...]
    node_gyp_caches: tuple[str, ...]
    dev_dependencies: tuple[DevDependency, ...]
    errors: tuple[str, ...]
    unchecked: tuple[str, ...]  # paths the default user may not read
    app_bytes: int
    node_modules_bytes: int
    # (path under the app, what it is built for): ELF files of another machine, not an addon
    foreign_binaries: tuple[tuple[str, str], ...] = ()

    @property
    def problems(self) -> tuple[str, ...]:
        """One sentence per kind of offender, listing the offenders; empty when clean."""
        found = []
        if self.build_tools:
            found.append(f"build tools in the image: {', '.join(self.build_tools)}")
        if self.node_gyp_caches:
            found.append(f"node-gyp caches in the image: {', '.join(self.node_gyp_caches)}")
        if self.dev_dependencies:
            names = ", ".join(str(d) for d in self.dev_dependencies)
            found.append(f"devDependencies in node_modules: {names}")
        if self.foreign_binaries:
            files = ", ".join(f"{path} ({got})" for path, got in self.foreign_binaries)
            found.append(
                f"binaries of another machine among the application's files: {files}; a "
                "lifecycle script of the build stage made them on the engine, and they ship to "
                "every target: leave them out of the image (--exclude PATH) or make them at "
                "container start")
        if self.uid == 0:
            found.append("the default user is root (uid 0): the image must run as a non-root user")
        if self.node_env != "production":
            got = "not set" if self.node_env is None else f"{self.node_env!r}"
            found.append(f"NODE_ENV is {got}, wanted 'production'")
        return (*found, *self.errors)



def parse_smoke(
    stdout: str, platform: str, *, exit_code: int | None = None, stderr: str = ""
) -> SmokeResult:
    """Read smoke.js output; raise PipelineError when it printed no result (it crashed)."""
    data = _result("smoke", stdout, platform, exit_code, stderr)
    try:
        packages = tuple(
            PackageLoad(
                name=str(p["name"]),
                ok=bool(p["ok"]),
                error=p.get("error"),
                addons=tuple(p.get("addons") or ()),
                warning=p.get("warning"),
                optional=bool(p.get("optional")),
            )
            for p in data["packages"]
        )
        executables = tuple(
            ExecutableCheck(
                pattern=str(e["pattern"]),
                files=tuple((str(f["path"]), str(f["got"])) for f in e["files"]),
                error=e.get("error"),
                ok=bool(e["ok"]) and bool(e["files"]),
            )
            for e in data.get("executables") or ()
        )
        return SmokeResult(
            platform=platform,
            arch=str(data["arch"]),
            expected_arch=str(data["expected_arch"]),
            libc=str(data["libc"]),
            expected_libc=str(data["expected_libc"]),
            glibc_version=data.get("glibc_version"),
            node_version=str(data.get("node_version", "")),
            packages=packages,
            executables=executables,
            programs=_programs(data.get("programs")),
            system=parse_system_packages(data.get("system") or ()),
            generated=_programs(data.get("generated")),
        )
    except (KeyError, TypeError) as error:
        raise _malformed("smoke", platform, error, stderr) from error


def _programs(found: Any) -> tuple[ProgramCheck, ...]:
    """What smoke.js resolved: the start command's programs and preloaded modules, or the
    generated code's folders."""
    return tuple(
        ProgramCheck(name=str(p["name"]), path=p.get("path"), error=p.get("error"),
                     ok=bool(p["ok"]) and bool(p.get("path")))
        for p in found or ()
    )


def _status(value: Any) -> int | str | None:
    if value is None or value == "connected":
        return value  # type: ignore[no-any-return]
    return int(value)


def parse_probe(
    stdout: str, platform: str, *, exit_code: int | None = None, stderr: str = ""
) -> ProbeResult:
    """Read probe.js output; raise PipelineError when it printed no result."""
    data = _result("probe", stdout, platform, exit_code, stderr)
    try:
        return ProbeResult(
            platform=platform,
            url=str(data["url"]),
            status=_status(data["status"]),
            error=data.get("error"),
            body=data.get("body"),
            attempts=int(data["attempts"]),
            elapsed_s=float(data["elapsed_s"]),
            timeout_s=float(data["timeout_s"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise _malformed("probe", platform, error, stderr) from error


def parse_hygiene(
    stdout: str, platform: str, *, exit_code: int | None = None, stderr: str = ""
) -> HygieneResult:
    """Read hygiene.js output; raise PipelineError when it printed no result."""
    data = _result("hygiene", stdout, platform, exit_code, stderr)
    try:
        return HygieneResult(
            platform=platform,
            uid=int(data["user"]["uid"]),
            user=data["user"].get("name"),
            node_env=data.get("node_env"),
            build_tools=tuple(data["build_tools"]),
            node_gyp_caches=tuple(data["node_gyp_caches"]),
            dev_dependencies=tuple(
                DevDependency(str(d["name"]), str(d["path"]), d.get("version"))
                for d in data["dev_dependencies"]
            ),
            errors=tuple(data.get("errors") or ()),
            unchecked=tuple(data.get("unchecked") or ()),
            app_bytes=int(data["sizes"]["app_bytes"]),
            node_modules_bytes=int(data["sizes"]["node_modules_bytes"]),
            foreign_binaries=tuple((str(f["path"]), str(f["got"]))
                                   for f in data.get("foreign_binaries") or ()),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise _malformed("hygiene", platform, error, stderr) from error


def _result(
    check: str, stdout: str, platform: str, exit_code: int | None, stderr: str
) -> dict[str, Any]:
    # The result is the last JSON object line: an addon may print to stdout while loading.
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                return data
    code = "" if exit_code is None else f" (exit code {exit_code})"
    loading = _LOADING.findall(stderr)
    if check == "smoke" and loading:
        # The script announces each package on stderr before loading it: the last one killed it.
        message = f"the smoke script died while loading {loading[-1].strip()}{code}"
    else:
        message = f"the {check} script printed no result{code}"
    raise PipelineError(message, stage=_stage(check), platform=platform, stderr=stderr)


def _malformed(check: str, platform: str, error: Exception, stderr: str) -> PipelineError:
    return PipelineError(
        f"the {check} script printed a result this version cannot read ({error!r}): "
        "the shipped scripts and pipelines/checks are out of step",
        stage=_stage(check),
        platform=platform,
        stderr=stderr,
    )


def _stage(check: str) -> str:
    return "hygiene" if check == "hygiene" else "smoke"
