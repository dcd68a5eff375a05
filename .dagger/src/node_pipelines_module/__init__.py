"""Build Node.js services with native addons into one verified multi-platform image.

A thin adapter over the `pipelines` package of this repository: the same plan, the same
stages and the same checks as `python -m pipelines.build`.
"""

from .main import NodePipelines as NodePipelines
