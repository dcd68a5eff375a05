"""Run a packager's production install for a foreign target on this host, the way the
pipeline's deps stage runs it: the packager's own commands, environment and target selection,
with its cache directories moved under tests/.tools/pm-cache and a fresh HOME. Corepack
(setup()) is left out: the build containers run it; the managers come from tests/.tools."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pipelines.packagers import Packager, TargetSpec
from tests.conftest import TOOLS, node_binary, require


def run_production_install(packager: Packager, app: Path, target: TargetSpec, *,
                           manager: str, bindir: str | None) -> None:
    """Install `app`'s production dependencies for `target`; fail with the manager's output."""
    path = [str(node_binary("x64").parent), os.environ["PATH"]]
    if bindir:
        tools = TOOLS / bindir
        require(f"{manager} ({tools})", tools.is_dir())
        path.insert(0, str(tools))
    home = app.parent / "home"
    home.mkdir(exist_ok=True)
    cache = TOOLS / "pm-cache" / manager
    env = {**os.environ, "HOME": str(home), "PATH": ":".join(path)}
    env |= {k: v.replace("/cache/", f"{cache}/") for k, v in packager.env().items()}
    install = packager.install_production(target)
    for command in install.commands:
        done = subprocess.run(command, cwd=app, env=env | dict(install.env), capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{' '.join(command[:4])}: {done.stdout[-2000:]}" \
                                     f"{done.stderr[-2000:]}"
