"""What the audit means for the build: per-target needs and the recommendation."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.audit.model import AuditReport, Target, Verdict

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
    """What one target needs: verdict counts, toolchain, system libraries, blockers."""

    target: Target
    verdicts: dict[str, str]  # package name -> verdict
    needs_toolchain: bool
    build_libraries: tuple[str, ...]
    runtime_libraries: tuple[str, ...]
    missing: tuple[str, ...]

    def sentence(self) -> str:
        """One line for the console."""
        if not self.verdicts:
            return f"{self.target}: no production native package."
        counts: dict[str, int] = {}
        for verdict in self.verdicts.values():
            counts[verdict] = counts.get(verdict, 0) + 1
        count = len(self.verdicts)
        noun = "package" if count == 1 else "packages"
        text = f"{self.target}: {count} production native {noun} (" + ", ".join(
            f"{n} {v}" for v, n in sorted(counts.items())) + ")"
        if self.missing:
            text += f"; MISSING binaries for {', '.join(self.missing)}"
        if self.needs_toolchain:
            building = [n for n, v in self.verdicts.items()
                        if Verdict(v).needs_toolchain]
            text += (f"; needs the toolchain ({' '.join(TOOLCHAIN)}) for {', '.join(building)}, "
                     f"under emulation unless the build host is {self.target.platform}")
        else:
            text += "; no toolchain needed"
        if self.build_libraries:
            text += (f"; system libraries: {' '.join(self.build_libraries)} to build, "
                     f"{' '.join(self.runtime_libraries)} at runtime")
        return text + "."


def summarize(report: AuditReport) -> list[TargetSummary]:
    """One summary per audited target, production packages only."""
    summaries = []
    for target in report.targets:
        pairs = report.for_target(target.platform)
        verdicts = {p.name: str(v) for p, v in pairs}
        building = [p.name for p, v in pairs if v.needs_toolchain]
        build_libs = [lib for n in building for lib in SYSTEM_LIBRARIES.get(n, ((), ()))[0]]
        run_libs = [lib for n in building for lib in SYSTEM_LIBRARIES.get(n, ((), ()))[1]]
        summaries.append(TargetSummary(
            target, verdicts, report.needs_toolchain(target.platform),
            tuple(dict.fromkeys(build_libs)), tuple(dict.fromkeys(run_libs)),
            tuple(p.name for p in report.missing(target.platform))))
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
        else:
            parts.append(f"{summary.target.platform}: prebuilt binaries only, no toolchain")
    return ("Native production dependencies: build one multi-arch image, installing "
            "production dependencies per target (" + "; ".join(parts) + ").")


def summary_json(report: AuditReport) -> dict[str, object]:
    """The summary as JSON-ready data."""
    return {
        "targets": {
            s.target.platform: {
                "libc": s.target.libc, "packages": s.verdicts,
                "needs_toolchain": s.needs_toolchain, "missing": list(s.missing),
                "system_libraries": {"build": list(s.build_libraries),
                                     "runtime": list(s.runtime_libraries)},
            } for s in summarize(report)
        },
        "recommendation": recommendation(report),
    }
