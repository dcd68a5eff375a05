"""A package.json read as the project reader needs it: one sentence when it cannot be."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.errors import InputError

# The project's own lifecycle scripts, in the order npm runs them on `npm install`.
LIFECYCLE = ("preinstall", "install", "postinstall", "prepare")


class ProjectError(InputError):
    """A source directory that is not a buildable Node.js project."""


def lifecycle(scripts: Mapping[str, str]) -> tuple[str, ...]:
    """The install-time scripts among `scripts`, in npm's order."""
    return tuple(s for s in LIFECYCLE if s in scripts)



def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or one sentence saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProjectError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProjectError(f"{path} is not valid JSON ({error}): fix the file") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path} does not hold a JSON object: fix the file")
    return data
