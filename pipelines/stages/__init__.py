"""Lazy Dagger stages: functions from plan values and Dagger objects to Dagger objects.

They never await, never read settings or the environment, and never log.

May import `plan/`, `checks/` (their scripts) and Dagger; never `run/`, `publish/` or `registry/`.
"""

from __future__ import annotations

from pipelines.stages.app import app_build, app_files, generated_code, generated_modules
from pipelines.stages.image import runtime_image
from pipelines.stages.native import (
    bindings_build,
    compiled_deps,
    generated_for_target,
    production_deps,
    rebuilt_deps,
)

__all__ = ["app_build", "app_files", "bindings_build", "compiled_deps", "generated_code",
           "generated_for_target", "generated_modules", "production_deps", "rebuilt_deps",
           "runtime_image"]
