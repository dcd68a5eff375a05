"""The build as data: the plan (targets, stages, cache volumes, output) and what derives it
from the settings and the project (the audit before building, emulation made visible, `--print`).

No Dagger here: both entry points build this plan and hand it to the same stages. May import
`project/`, `audit/`, `packagers/`, `settings` and the floor; never `stages/`, `run/` or
`publish/`.
"""
