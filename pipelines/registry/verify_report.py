"""The result of verifying an image index: one row per platform, the index-level problems, and
how it reads as a table, as JSON and as the one sentence of a failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.errors import EXIT_FAILURE, NodePipelinesError

RowStatus = Literal["ok", "missing", "duplicated", "failed", "extra"]


@dataclass(frozen=True)
class PlatformRow:
    """One platform: what the index says, what the registry holds, and what is wrong with it."""

    platform: str
    status: RowStatus
    digest: str | None = None
    layers: int = 0
    size: int = 0  # config plus layers, in bytes, as the manifest declares them
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when this row does not stop verification (an extra platform is only noted)."""
        return self.status in ("ok", "extra")


@dataclass(frozen=True)
class VerifyReport:
    """Everything verification found for one reference; `ok` decides the exit code."""

    reference: str
    digest: str | None
    media_type: str
    rows: tuple[PlatformRow, ...] = ()
    problems: tuple[str, ...] = ()
    attestations_ignored: int = 0
    expected: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every expected platform is present once and checks out."""
        return not self.problems and bool(self.rows) and all(row.ok for row in self.rows)

    def sentences(self) -> list[str]:
        """Every problem found, index-level first, then per platform."""
        return [*self.problems, *(p for row in self.rows for p in row.problems)]

    def summary(self) -> str:
        """One sentence: what was verified, or the first problem and how many more there are."""
        if self.ok:
            platforms = ", ".join(row.platform for row in self.rows if row.status == "ok")
            return f"{self.reference} verified at {self.digest}: {platforms}"
        found = self.sentences() or ["no platform could be checked"]
        more = f" (and {len(found) - 1} more problem{'s' if len(found) > 2 else ''})"
        return f"{self.reference} is not verified: {found[0]}" + (more if len(found) > 1 else "")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the reference, the index digest, `ok`, rows and problems."""
        return {
            "reference": self.reference,
            "digest": self.digest,
            "media_type": self.media_type,
            "ok": self.ok,
            "expected": list(self.expected),
            "attestations_ignored": self.attestations_ignored,
            "problems": list(self.problems),
            "platforms": [
                {
                    "platform": row.platform,
                    "status": row.status,
                    "digest": row.digest,
                    "layers": row.layers,
                    "size": row.size,
                    "problems": list(row.problems),
                }
                for row in self.rows
            ],
        }

    def table(self) -> str:
        """A fixed-width table, one line per platform, then index-level problems."""
        header = ("PLATFORM", "STATUS", "DIGEST", "LAYERS", "SIZE", "PROBLEM")
        lines = [header]
        for row in self.rows:
            digest = (row.digest or "-")[:19]
            problem = "; ".join(row.problems) or "-"
            checked = row.status in ("ok", "failed") and row.layers > 0
            lines.append((row.platform, row.status, digest,
                          str(row.layers) if checked else "-",
                          _size(row.size) if checked else "-", problem))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
        text = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
            + "  " + line[-1]
            for line in lines
        ]
        text.append(f"index: {self.reference} {self.digest or '-'} ({self.media_type or '-'})")
        if self.attestations_ignored:
            text.append(f"attestation entries ignored: {self.attestations_ignored}")
        text.extend(f"problem: {problem}" for problem in self.problems)
        text.append("result: " + ("verified" if self.ok else "NOT verified"))
        return "\n".join(text)


class NotVerified(NodePipelinesError):  # noqa: N818 - the name the publish gate uses
    """The registry answered, and the index is not what was expected; carries the report."""

    exit_code = EXIT_FAILURE

    def __init__(self, report: VerifyReport) -> None:
        super().__init__(report.summary())
        self.report = report


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"
