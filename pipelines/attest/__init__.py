"""What an image is made of, as documents: a CycloneDX SBOM and an in-toto/SLSA provenance
statement per platform, made from the plan (no Dagger, no I/O but reading the lockfile's hash).

Beside the stages and the publish gate: may import the plan and what it is made from, never
Dagger, the run or the registry; the run attaches the documents, the registry side reads them.
"""

from __future__ import annotations

from pipelines.attest.provenance import PROVENANCE_TYPE, provenance
from pipelines.attest.sbom import SBOM_TYPE, sbom
from pipelines.attest.steps import Subject, how_installed, stage_runs

__all__ = ["PROVENANCE_TYPE", "SBOM_TYPE", "Subject", "how_installed", "provenance", "sbom",
           "stage_runs"]
