"""Package managers behind one interface (`Packager`); `detect` picks the project's own.

Below the audit and the project reader: may import only the floor (`platforms`, `errors`).
"""

from __future__ import annotations

from pipelines.packagers.base import CacheDir, Command, Install, Packager, TargetSpec
from pipelines.packagers.detect import PackagerError, detect
from pipelines.packagers.npm import Npm
from pipelines.packagers.pnpm import Pnpm
from pipelines.packagers.yarn import YarnBerry, YarnClassic

__all__ = [
    "CacheDir",
    "Command",
    "Install",
    "Npm",
    "Packager",
    "PackagerError",
    "Pnpm",
    "TargetSpec",
    "YarnBerry",
    "YarnClassic",
    "detect",
]
