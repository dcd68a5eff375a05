"""What git says about the source: the remote it came from, the commit and the commit's time.

Read with the `git` program; a tree that is no git checkout, or a machine without git, gives
empty values (the labels then leave them out; nothing is made up, least of all the time now).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")  # git@host:owner/repo.git
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^@/]*@", re.IGNORECASE)
_GIT_TIMEOUT_S = 10


@dataclass(frozen=True)
class Vcs:
    """The git facts of a source tree; empty strings where git could not say."""

    remote: str = ""  # https URL of origin, credentials stripped
    commit: str = ""  # full hex of HEAD
    committed_at: str = ""  # HEAD's committer time, RFC 3339 in UTC


def read_vcs(source: Path) -> Vcs:
    """The remote, commit and commit time of the git checkout at `source` (empty outside one)."""
    git = shutil.which("git")
    if git is None:
        return Vcs()
    commit = _git(git, source, "rev-parse", "--verify", "HEAD")
    if not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return Vcs()
    seconds = _git(git, source, "show", "-s", "--format=%ct", "HEAD")
    remote = _git(git, source, "config", "--get", "remote.origin.url")
    return Vcs(remote=web_url(remote), commit=commit,
               committed_at=rfc3339(int(seconds)) if seconds.isdigit() else "")


def web_url(remote: str) -> str:
    """A git remote as the https URL people open: scp-like and ssh forms rewritten, any
    user or token in it removed (a CI checkout's remote can carry one), `.git` dropped."""
    remote = remote.strip()
    if not remote or remote.startswith(("/", ".", "file:")):
        return ""  # a local path says nothing to anyone else
    scp = _SCP_LIKE.match(remote)
    if scp and "://" not in remote:
        remote = f"https://{scp.group(1)}/{scp.group(2)}"
    remote = _USERINFO.sub(r"\1", remote)
    if re.match(r"^(?:ssh|git\+ssh)://", remote):  # an ssh port is no https port
        remote = re.sub(r"^[a-z+]+://([^/:]+)(?::\d+)?/", r"https://\1/", remote)
    remote = re.sub(r"^git://", "https://", remote)
    return remote.removesuffix("/").removesuffix(".git")


def rfc3339(seconds: int) -> str:
    """A Unix time as RFC 3339 in UTC (`2026-12-07T18:48:35Z`)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git(git: str, source: Path, *args: str) -> str:
    try:
        done = subprocess.run([git, "-C", str(source), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
