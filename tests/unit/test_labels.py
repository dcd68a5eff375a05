"""OCI labels: from package.json, git and the CI, with the settings over them, never the time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipelines.plan.labels import oci_labels
from pipelines.project import NodeProject
from pipelines.project.vcs import Vcs, read_vcs, web_url
from pipelines.settings import SettingsError, load_settings
from tests.conftest import require_program

P = "org.opencontainers.image."
VCS = Vcs(remote="https://git.example/team/api", commit="a" * 40,
          committed_at="2026-01-02T03:04:05Z")


def project(tmp_path: Path, **manifest: object) -> NodeProject:
    """A minimal npm project whose package.json holds `manifest`."""
    (tmp_path / "package.json").write_text(json.dumps({"name": "api", **manifest}))
    (tmp_path / "package-lock.json").write_text(json.dumps(
        {"name": "api", "lockfileVersion": 3, "packages": {"": {"name": "api"}}}))
    return NodeProject.load(tmp_path)


def test_labels_come_from_package_json_and_git(tmp_path: Path) -> None:
    """title, description, licenses, version, url from package.json; source, revision and
    created (the commit's time) from git."""
    labels = oci_labels(load_settings({"source": str(tmp_path)}, {}),
                        project(tmp_path, version="1.2.3", description="An API",
                                license="MIT", homepage="https://api.example"), VCS)
    assert labels == {P + "created": "2026-01-02T03:04:05Z", P + "description": "An API",
                      P + "licenses": "MIT", P + "revision": "a" * 40,
                      P + "source": "https://git.example/team/api", P + "title": "api",
                      P + "url": "https://api.example", P + "version": "1.2.3"}


def test_the_published_tag_is_the_version_unless_it_moves(tmp_path: Path) -> None:
    """A version tag being published is the version; `latest` is not a version."""
    proj = project(tmp_path, version="1.2.3")

    def version(tags: str) -> str:
        settings = load_settings({"source": str(tmp_path), "publish": True,
                                  "image": "r.example/api", "tags": tags}, {})
        return oci_labels(settings, proj, VCS)[P + "version"]

    assert version("latest,v2.0.1") == "v2.0.1"
    assert version("latest") == "1.2.3"


def test_settings_override_and_a_ci_fills_in_what_git_cannot(tmp_path: Path) -> None:
    """The labels setting wins; GitHub's variables give source and revision without git."""
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "team/api",
           "GITHUB_SHA": "b" * 40, "NODEPIPE_LABELS": "url=https://docs.example,vendor.x=y"}
    settings = load_settings({"source": str(tmp_path)}, env)
    labels = oci_labels(settings, project(tmp_path), Vcs())
    assert labels[P + "source"] == "https://github.com/team/api"
    assert labels[P + "revision"] == "b" * 40
    assert labels[P + "url"] == "https://docs.example"
    assert labels["vendor.x"] == "y"
    assert P + "created" not in labels, "no commit time known: created must be left out"


def test_created_is_left_out_when_the_revision_is_not_gits(tmp_path: Path) -> None:
    """A revision set by hand is another commit than git's HEAD: its time is unknown."""
    settings = load_settings({"source": str(tmp_path), "revision": "c" * 40}, {})
    assert P + "created" not in oci_labels(settings, project(tmp_path), VCS)


def test_a_malformed_label_is_one_sentence(tmp_path: Path) -> None:
    """A labels item without = fails naming it."""
    with pytest.raises(SettingsError, match="labels item 'oops' is not NAME=value"):
        load_settings({"source": str(tmp_path), "labels": "oops"}, {})


@pytest.mark.parametrize(("remote", "url"), [
    ("git@github.com:team/api.git", "https://github.com/team/api"),
    ("ssh://git@git.example:2222/team/api.git", "https://git.example/team/api"),
    ("https://x-access-token:ghs_secret@github.com/team/api.git", "https://github.com/team/api"),
    ("/srv/git/api.git", ""),
])
def test_remotes_become_web_urls_without_credentials(remote: str, url: str) -> None:
    """scp-like and ssh remotes read as https; a token in the remote never reaches a label."""
    assert web_url(remote) == url


def test_git_gives_the_commit_and_its_time(tmp_path: Path) -> None:
    """A real checkout: HEAD, its committer time in UTC, the origin remote without a token."""
    git = require_program("git")
    env = {"GIT_COMMITTER_DATE": "2026-01-02T03:04:05+01:00", "HOME": str(tmp_path),
           "GIT_AUTHOR_DATE": "2026-01-02T03:04:05+01:00", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q"], ["remote", "add", "origin", "https://u:t0k@git.example/a.git"],
                 ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q",
                  "--allow-empty", "-m", "x"]):
        subprocess.run([git, "-C", str(tmp_path), *args], check=True, env=env)
    vcs = read_vcs(tmp_path)
    assert vcs.committed_at == "2026-01-02T02:04:05Z"
    assert vcs.remote == "https://git.example/a"
    assert len(vcs.commit) == 40
    assert read_vcs(tmp_path / "nowhere") == Vcs()
