"""What the audit means for the build: per-target needs and the recommendation."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.audit.model import AuditReport, Target

TOOLCHAIN = ("python3", "make", "g++")
# Debian packages a source build needs, then those the runtime image needs to load the result.
# Only libraries the addon links from the system: bundled ones (sqlite3, re2, argon2) need none.
SYSTEM_LIBRARIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "libpq": (("libpq-dev",), ("libpq5",)),
    "canvas": (("libcairo2-dev", "libpango1.0-dev", "libjpeg-dev", "libgif-dev",
                "librsvg2-dev"), ("libcairo2", "libpango-1.0-0", "libpangocairo-1.0-0",
                                  "libjpeg62-turbo", "libgif7", "librsvg2-2")),
    "sharp": (("libvips-dev",), ("libvips42",)),
    "kerberos": (("libkrb5-dev",), ("libgssapi-krb5-2",)),
    "node-expat": (("libexpat1-dev",), ("libexpat1",)),
    "keytar": (("libsecret-1-dev",), ("libsecret-1-0",)),
    "usb": (("libudev-dev",), ("libudev1",)),
    "node-hid": (("libusb-1.0-0-dev", "libudev-dev"), ("libusb-1.0-0", "libudev1")),
    "node-rdkafka": (("libssl-dev", "zlib1g-dev"), ("libssl3", "zlib1g")),
    "odbc": (("unixodbc-dev",), ("libodbc2",)),
    "gl": (("libxi-dev", "libglu1-mesa-dev", "libglew-dev"), ("libxi6", "libgl1")),
}
SINGLE_ARCH = ("No production dependency is native: single architecture is enough unless "
               "your users run on ARM.")


@dataclass(frozen=True)
class TargetSummary:
    """What one target needs: verdict counts, toolchain, system libraries, blockers.

    Packages are counted as the table lists them, one per lockfile package (name@version): a
    lockfile holding one name at two versions counts two, as the table and the plan show.
    """

    target: Target
    verdicts: tuple[tuple[str, str], ...]  # (name@version, verdict), one per package
    needs_toolchain: bool
    build_libraries: tuple[str, ...]
    runtime_libraries: tuple[str, ...]
    missing: tuple[str, ...]  # name@version
    building: tuple[str, ...] = ()  # name@version of the packages that may compile
    skipped: tuple[str, ...] = ()  # name@version of optional ones with no binary: a warning

    def sentence(self) -> str:
        """One line for the console."""
        if not self.verdicts:
            return f"{self.target}: no production native package."
        counts: dict[str, int] = {}
        for _, verdict in self.verdicts:
            counts[verdict] = counts.get(verdict, 0) + 1
        count = len(self.verdicts)
        noun = "package" if count == 1 else "packages"
        named = _distinct(self.verdicts)
        text = f"{self.target}: {count} production native {noun} ({named}" + ", ".join(
            f"{n} {v}" for v, n in sorted(counts.items())) + ")"
        if self.missing:
            text += f"; MISSING binaries for {', '.join(self.missing)}"
        if self.skipped:
            text += (f"; optional, skipped (the service runs without them): "
                     f"{', '.join(self.skipped)}")
        if self.needs_toolchain:
            text += (f"; needs the toolchain ({' '.join(TOOLCHAIN)}) for "
                     f"{', '.join(self.building)}, under emulation unless the build host is "
                     f"{self.target.platform}")
        else:
            text += "; no toolchain needed"
        if self.build_libraries:
            text += (f"; system libraries: {' '.join(self.build_libraries)} to build, "
                     f"{' '.join(self.runtime_libraries)} at runtime")
        return text + "."


def _distinct(verdicts: tuple[tuple[str, str], ...]) -> str:
    """`11 name@version, 10 names; ` where copies of one version or versions of one name make
    the counts differ (the table lists each lockfile package, one row per location)."""
    specs = {spec for spec, _ in verdicts}
    names = {spec.rpartition("@")[0] for spec in specs}
    parts = [f"{len(specs)} name@version"] if len(specs) != len(verdicts) else []
    if len(names) != len(specs):
        parts.append(f"{len(names)} names")
    return "".join(f"{p}, " for p in parts[:-1]) + (f"{parts[-1]}; " if parts else "")


def summarize(report: AuditReport) -> list[TargetSummary]:
    """One summary per audited target, production packages only."""
    summaries = []
    for target in report.targets:
        pairs = report.for_target(target.platform)
        building = [p for p, _ in pairs if p.needs_toolchain(target.platform)]
        names = dict.fromkeys(p.name for p in building)
        build_libs = [lib for n in names for lib in SYSTEM_LIBRARIES.get(n, ((), ()))[0]]
        run_libs = [lib for n in names for lib in SYSTEM_LIBRARIES.get(n, ((), ()))[1]]
        summaries.append(TargetSummary(
            target, tuple((p.spec, str(v)) for p, v in pairs),
            report.needs_toolchain(target.platform),
            tuple(dict.fromkeys(build_libs)), tuple(dict.fromkeys(run_libs)),
            tuple(p.spec for p in report.missing(target.platform)),
            tuple(dict.fromkeys(p.spec for p in building)),
            tuple(p.spec for p in report.skipped(target.platform))))
    return summaries


def recommendation(report: AuditReport) -> str:
    """The advice the summary ends with."""
    if not report.native():
        return SINGLE_ARCH
    summaries = summarize(report)
    parts = []
    for summary in summaries:
        if summary.missing:
            parts.append(f"{summary.target.platform}: fix the missing binaries first")
        elif summary.needs_toolchain:
            parts.append(f"{summary.target.platform}: native stage with toolchain")
        elif downloads := _executable_downloads(report, summary.target):
            verb = "downloads" if len(downloads) == 1 else "download"
            parts.append(f"{summary.target.platform}: {', '.join(downloads)} {verb} "
                         "executables on the target, no toolchain")
        else:
            parts.append(f"{summary.target.platform}: prebuilt binaries only, no toolchain")
    return ("Native production dependencies: build one multi-arch image, installing "
            "production dependencies per target (" + "; ".join(parts) + ").")


def _executable_downloads(report: AuditReport, target: Target) -> list[str]:
    return [p.spec for p, _ in report.for_target(target.platform) if p.executables]


def summary_json(report: AuditReport) -> dict[str, object]:
    """The summary as JSON-ready data."""
    return {
        "targets": {
            s.target.platform: {
                "libc": s.target.libc, "packages": dict(s.verdicts),
                "count": len(s.verdicts),
                "needs_toolchain": s.needs_toolchain, "missing": list(s.missing),
                "skipped": list(s.skipped),
                "system_libraries": {"build": list(s.build_libraries),
                                     "runtime": list(s.runtime_libraries)},
            } for s in summarize(report)
        },
        "recommendation": recommendation(report),
    }
