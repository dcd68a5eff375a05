"""node-pipelines: multi-arch container pipelines for Node.js services with native addons."""

from __future__ import annotations

__version__ = "0.1.0"
