"""Every CI wrapper in ci/ validates against its provider's schema and runs the shared script.

The schemas are the copies check-jsonschema vendors (pinned in the test extra), used with the
arguments its own pre-commit hooks pass; no network is needed (the proxy variables point at a
closed port, so a fetch would fail the test rather than pass it).
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from check_jsonschema.catalog import SCHEMA_CATALOG
from ruamel.yaml import YAML  # check-jsonschema's own YAML parser, installed with it

from tests.conftest import REPO, require_program

CI = REPO / "ci"
COMMAND = "dagger run python -m pipelines.build"
PASSWORD = "NODEPIPE_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a secret

# wrapper file -> check-jsonschema's vendored schema name
SCHEMAS = {
    "github/action.yml": "github-actions",
    "github/workflow.yml": "github-workflows",
    "gitlab/node-pipelines.gitlab-ci.yml": "gitlab-ci",
    "circleci/config.yml": "circle-ci",
    "buildkite/pipeline.yml": "buildkite",
    "azure/azure-pipelines.yml": "azure-pipelines",
}
WRAPPERS = [*SCHEMAS, "jenkins/Jenkinsfile"]
SCRIPT_CALLERS = [w for w in WRAPPERS if w != "github/workflow.yml"]  # the workflow uses the action


def validate(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    """Run check-jsonschema offline on `path` with its vendored `schema` and the hook's args."""
    hook_args = SCHEMA_CATALOG[schema]["hook_config"].get("add_args", [])
    offline = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "NO_PROXY": "", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", f"vendor.{schema}",
         *hook_args, str(path)],
        capture_output=True, text=True, env=offline, check=False, timeout=120,
    )


def load(name: str) -> Any:
    """The parsed YAML of wrapper `name`."""
    return YAML(typ="safe", pure=True).load(CI / name)


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_wrapper_validates_against_its_providers_schema(name: str) -> None:
    """The wrapper is valid under the provider's published schema, checked offline."""
    result = validate(CI / name, SCHEMAS[name])
    assert result.returncode == 0, f"wanted a valid {name}, got:\n{result.stdout}{result.stderr}"


# A change that makes each file invalid, to show the validator really checks it.
BREAK = {
    "github/action.yml": lambda d: d["runs"].pop("using"),
    "github/workflow.yml": lambda d: d.pop("jobs"),
    "gitlab/node-pipelines.gitlab-ci.yml": lambda d: d["node-pipelines"].update(script=5),
    "circleci/config.yml": lambda d: d.update(version="two"),
    "buildkite/pipeline.yml": lambda d: d["steps"][0].update(artifact_paths=5),
    "azure/azure-pipelines.yml": lambda d: d["steps"][2].update(condition=["always()"]),
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_a_broken_copy_fails_validation(tmp_path: Path, name: str) -> None:
    """A copy of the wrapper with one invalid value is refused, so the schema check can fail."""
    data = copy.deepcopy(load(name))
    BREAK[name](data)
    broken = tmp_path / Path(name).name
    YAML(typ="safe", pure=True).dump(data, broken)
    result = validate(broken, SCHEMAS[name])
    assert result.returncode == 1, f"wanted {name} refused, got:\n{result.stdout}{result.stderr}"


def jenkins_blocks(text: str) -> list[tuple[str, int, str]]:
    """(name, depth, body) of each `name { ... }` or `name(...) { ... }` block in Groovy text.

    Strings and comments are skipped, so braces inside them do not count; unbalanced braces fail.
    """
    code, i = [], 0
    while i < len(text):
        for quote in ("'''", '"""', "'", '"'):
            if text.startswith(quote, i):
                end = text.find(quote, i + len(quote))
                assert end > 0, f"unterminated string at offset {i}"
                code.append(quote + " " * (end - i - len(quote)) + quote)
                i = end + len(quote)
                break
        else:
            if text.startswith("//", i):
                i = text.find("\n", i) if "\n" in text[i:] else len(text)
            elif text.startswith("/*", i):
                i = text.index("*/", i) + 2
            else:
                code.append(text[i])
                i += 1
    flat = "".join(code)
    blocks, stack = [], []
    for m in re.finditer(r"[{}]", flat):
        if m.group() == "{":
            head = re.search(r"([A-Za-z]+)\s*(\([^()]*\))?\s*$", flat[: m.start()])
            stack.append((head.group(1) if head else "?", m.end()))
        else:
            assert stack, f"unbalanced closing brace at offset {m.start()}"
            name, start = stack.pop()
            blocks.append((name, len(stack), flat[start : m.start()]))
    assert not stack, f"unclosed block {stack[-1][0]!r}"
    return blocks


def test_jenkinsfile_is_a_well_formed_declarative_pipeline() -> None:
    """No Jenkins schema exists (its linter needs a live Jenkins): check Declarative structure."""
    # Parsed for balanced blocks (strings and comments skipped) and held to the Declarative
    # Pipeline syntax reference: one top-level `pipeline` with only its documented sections, an
    # agent, stages whose every stage has steps, and an always-post that archives the report.
    text = (CI / "jenkins/Jenkinsfile").read_text()
    blocks = jenkins_blocks(text)
    top = [b for b in blocks if b[1] == 0]
    assert [b[0] for b in top] == ["pipeline"]
    sections = {b[0] for b in blocks if b[1] == 1}
    allowed = {"agent", "environment", "options", "parameters", "triggers", "tools", "stages",
               "post", "libraries", "when", "input"}
    assert sections <= allowed, f"unknown pipeline sections: {sections - allowed}"
    assert {"stages", "post", "environment", "options"} <= sections
    assert re.search(r"^\s*agent\s+any\s*$", top[0][2], re.MULTILINE)
    stages = [b for b in blocks if b[0] == "stage"]
    steps = [b for b in blocks if b[0] == "steps"]
    assert stages and len(steps) == len(stages)
    always = next(b for b in blocks if b[0] == "always")
    assert "archiveArtifacts" in always[2]


def test_jenkinsfile_takes_the_password_from_a_credentials_binding() -> None:
    """The password comes from credentials(), is read by the shell, never by a Groovy string."""
    text = (CI / "jenkins/Jenkinsfile").read_text()
    assert re.search(r"REGISTRY\s*=\s*credentials\('node-pipelines-registry'\)", text)
    assert 'NODEPIPE_REGISTRY_PASSWORD="$REGISTRY_PSW"' in text
    shell = re.findall(r"sh '''(.*?)'''", text, re.DOTALL)
    assert len(shell) == 1 and "REGISTRY_PSW" in shell[0]
    double_quoted = re.findall(r'"[^"\n]*"', text.replace(shell[0], ""))
    assert not [s for s in double_quoted if "PSW" in s], "a Groovy GString would interpolate it"


def test_the_shared_script_runs_the_readme_command() -> None:
    """ci/nodepipe.sh runs the README's `dagger run python -m pipelines.build`, then only stops
    its engine, reports the cache and exits with the build's status."""
    script = (CI / "nodepipe.sh").read_text()
    assert COMMAND in (REPO / "README.md").read_text()
    last = [line for line in script.splitlines() if line.strip()][-5:]
    assert last == ["status=0", f'{COMMAND} "$@" || status=$?', "engine_down", "report_cache",
                    'exit "$status"'], "the build, the engine stopped and saved, its status"
    assert "https://dl.dagger.io/dagger/install.sh" in script
    assert "DAGGER_VERSION=$DAGGER_PIN" in script


@pytest.mark.parametrize("name", SCRIPT_CALLERS)
def test_every_wrapper_calls_the_shared_script(name: str) -> None:
    """Each wrapper runs ci/nodepipe.sh, and neither installs Dagger nor runs the build itself."""
    text = (CI / name).read_text()
    assert re.search(r"sh \"\$[^\"]*/nodepipe\.sh\"|sh /tmp/node-pipelines/ci/nodepipe\.sh", text)
    assert "dagger run" not in text, "the build command lives in ci/nodepipe.sh only"
    assert "install.sh" not in text


def test_the_example_workflow_uses_the_action() -> None:
    """The GitHub example workflow `uses:` the composite action and passes the token as a secret."""
    steps = load("github/workflow.yml")["jobs"]["image"]["steps"]
    ours = [s for s in steps if str(s.get("uses", "")).split("@")[0].endswith(
        "/node-pipelines/ci/github")]
    assert len(ours) == 1
    assert ours[0]["with"]["registry-password"] == "${{ secrets.GITHUB_TOKEN }}"


def test_github_action_appends_the_summary_and_uploads_the_report() -> None:
    """The action always appends the Markdown to the job summary and uploads the report dir."""
    steps = load("github/action.yml")["runs"]["steps"]
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert summary["if"] == upload["if"] == "always()"
    assert summary["env"]["REPORT_MD"].endswith("/node-pipelines-report.md")
    build = next(s for s in steps if "nodepipe.sh" in s.get("run", ""))
    assert build["env"][PASSWORD] == "${{ inputs.registry-password }}"
    assert upload["with"]["path"] == build["env"]["NODEPIPE_REPORT_DIR"]


def test_every_wrapper_maps_the_password_from_the_providers_secret_store() -> None:
    """GitLab's job token, Buildkite secrets, Azure's explicit env: mapping, CircleCI's context."""
    gitlab = load("gitlab/node-pipelines.gitlab-ci.yml")["node-pipelines"]["variables"]
    assert gitlab[PASSWORD] == "$CI_REGISTRY_PASSWORD"
    assert gitlab["NODEPIPE_IMAGE"] == "$CI_REGISTRY_IMAGE"
    buildkite = load("buildkite/pipeline.yml")["steps"][0]
    assert "NODEPIPE_REGISTRY_PASSWORD" in buildkite["secrets"]
    azure = next(s for s in load("azure/azure-pipelines.yml")["steps"]
                 if "nodepipe.sh" in s.get("script", ""))
    assert azure["env"][PASSWORD] == "$(registryPassword)"
    circle = load("circleci/config.yml")
    assert circle["workflows"]["image"]["jobs"][0]["node-pipelines"]["context"]
    for name in WRAPPERS:
        text = (CI / name).read_text()
        assert not re.search(r"set -[a-z]*x|printenv|^\s*env\s*$", text, re.MULTILINE), name


def test_every_wrapper_uploads_the_report_even_on_failure() -> None:
    """GitLab, CircleCI, Buildkite, Azure and Jenkins keep the report directory as an artifact."""
    gitlab = load("gitlab/node-pipelines.gitlab-ci.yml")["node-pipelines"]["artifacts"]
    assert gitlab["when"] == "always" and gitlab["paths"] == ["node-pipelines-report/"]
    circle = load("circleci/config.yml")["jobs"]["node-pipelines"]
    store = next(s["store_artifacts"] for s in circle["steps"] if "store_artifacts" in s)
    assert store["when"] == "always"
    assert store["path"] == circle["environment"]["NODEPIPE_REPORT_DIR"]
    assert load("buildkite/pipeline.yml")["steps"][0]["artifact_paths"] == [
        "node-pipelines-report/*"]
    azure = load("azure/azure-pipelines.yml")["steps"]
    publish = next(s for s in azure if s.get("task", "").startswith("PublishPipelineArtifact"))
    assert publish["condition"] == "always()"


def shell_snippets() -> dict[str, str]:
    """The shell each wrapper runs, as the shell sees it (Buildkite's `$$` unescaped)."""
    action = load("github/action.yml")["runs"]["steps"]
    gitlab = load("gitlab/node-pipelines.gitlab-ci.yml")["node-pipelines"]["script"]
    circle = load("circleci/config.yml")["jobs"]["node-pipelines"]["steps"]
    azure = load("azure/azure-pipelines.yml")["steps"]
    jenkins = re.findall(r"sh '''(.*?)'''", (CI / "jenkins/Jenkinsfile").read_text(), re.DOTALL)
    return {
        **{f"github step {i}": s["run"] for i, s in enumerate(action) if "run" in s},
        "gitlab": "\n".join(gitlab),
        **{f"circleci step {i}": s["run"]["command"] for i, s in enumerate(circle) if "run" in s},
        "buildkite": load("buildkite/pipeline.yml")["steps"][0]["command"].replace("$$", "$"),
        **{f"azure step {i}": s["script"] for i, s in enumerate(azure) if "script" in s},
        "jenkins": jenkins[0],
    }


@pytest.mark.parametrize("name", ["ci/nodepipe.sh", "ci/engine-cache.sh", *shell_snippets()])
def test_shell_is_shellcheck_clean(tmp_path: Path, name: str) -> None:
    """The shared script and every wrapper's shell pass shellcheck as POSIX sh (when installed)."""
    shellcheck = require_program("shellcheck")  # skips locally, fails in CI (host-setup.sh)
    if name.startswith("ci/"):
        path = REPO / name
    else:
        path = tmp_path / "snippet.sh"
        path.write_text("#!/bin/sh\n" + shell_snippets()[name])
    result = subprocess.run([shellcheck, "-s", "sh", str(path)], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, f"wanted no findings in {name}, got:\n{result.stdout}"


LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock")


def test_github_carries_the_engine_state_in_the_actions_cache_by_default() -> None:
    """Restore before the build and save after it (always), of the directory nodepipe.sh uses,
    keyed by runner os/arch, platforms, lockfiles and commit, with older keys as fallbacks."""
    action = load("github/action.yml")
    assert action["inputs"]["cache"]["default"] == "engine"
    steps = action["runs"]["steps"]
    build = next(s for s in steps if "nodepipe.sh" in s.get("run", ""))
    restore = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache/restore"))
    save = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache/save"))
    assert steps.index(restore) < steps.index(build) < steps.index(save)
    assert build["env"]["NODEPIPE_CI_CACHE"] == "${{ inputs.cache }}"
    assert restore["with"]["path"] == save["with"]["path"] == build["env"]["NODEPIPE_CI_CACHE_DIR"]
    key = restore["with"]["key"]
    for part in ("runner.os", "runner.arch", "inputs.platforms", "github.sha", *LOCKFILES):
        assert part in key, f"wanted {part} in the key {key}"
    assert "inputs.cache != 'off'" in restore["if"]
    assert save["if"].startswith("always()")
    assert save["with"]["key"] == "${{ steps.engine-cache.outputs.cache-primary-key }}"
    fallbacks = restore["with"]["restore-keys"].splitlines()
    assert all(key.startswith(f) for f in fallbacks) and len(fallbacks) == 2


def test_gitlab_carries_the_engine_state_in_its_cache_by_default() -> None:
    """The archive under the project dir (GitLab caches nothing else), the state under /builds
    (shared with dind), per-branch keys falling back to the default branch, saved always."""
    job = load("gitlab/node-pipelines.gitlab-ci.yml")["node-pipelines"]
    env, cache = job["variables"], job["cache"]
    assert env["NODEPIPE_CI_CACHE"] == "engine"
    assert env["NODEPIPE_CI_CACHE_DIR"] == "$CI_PROJECT_DIR/.nodepipe-cache"
    assert env["NODEPIPE_CI_STATE_DIR"].startswith("$CI_PROJECT_DIR/")
    assert cache["paths"] == [".nodepipe-cache/engine-state.tar.zst",
                              ".nodepipe-cache/engine-state.stamp"]
    assert "$CI_COMMIT_REF_SLUG" in cache["key"] and cache["when"] == "always"
    assert cache["fallback_keys"] == [cache["key"].replace("$CI_COMMIT_REF_SLUG",
                                                           "$CI_DEFAULT_BRANCH")]
    assert "tar" in job["before_script"][0] and "zstd" in job["before_script"][0]


def test_circleci_carries_the_engine_state_and_keeps_branches_apart() -> None:
    """restore_cache/save_cache of the cache dir; every key names the arch and a branch, the
    fallbacks only this branch's or the default branch's, so a PR's cache never feeds main."""
    config = load("circleci/config.yml")
    job = config["jobs"]["node-pipelines"]
    assert config["parameters"]["engine-cache"]["default"] == "engine"
    assert job["environment"]["NODEPIPE_CI_CACHE"] == "<< pipeline.parameters.engine-cache >>"
    cache_dir = job["environment"]["NODEPIPE_CI_CACHE_DIR"]
    restore = next(s["restore_cache"] for s in job["steps"] if "restore_cache" in s
                   and "engine" in s["restore_cache"]["keys"][0])
    save = next(s["save_cache"] for s in job["steps"] if "save_cache" in s
                and s["save_cache"]["paths"] == [cache_dir])
    assert save["key"] == restore["keys"][0] and save["when"] == "always"
    for key in restore["keys"]:
        assert "{{ arch }}" in key
        assert "{{ .Branch }}" in key or "<< pipeline.parameters.default-branch >>" in key
    keyfile = next(s["run"]["command"] for s in job["steps"] if "run" in s
                   and "cache-key" in s["run"]["command"])
    assert all(lock in keyfile for lock in LOCKFILES) and "NODEPIPE_PLATFORMS" in keyfile


def test_azure_buildkite_and_jenkins_keep_the_engine_state() -> None:
    """Azure's Cache@2 of the cache dir (arch in the key, off by the setting); Buildkite's cache
    plugin of it, per branch; Jenkins keeps the state on the agent under its CI home."""
    azure = load("azure/azure-pipelines.yml")
    cache = next(s for s in azure["steps"] if s.get("task") == "Cache@2"
                 and "engine" in s["inputs"]["key"])
    assert azure["variables"]["NODEPIPE_CI_CACHE"] == "engine"
    assert cache["inputs"]["path"] == "$(NODEPIPE_CI_CACHE_DIR)"
    assert "$(Agent.OSArchitecture)" in cache["inputs"]["key"]
    assert cache["condition"] == "ne(variables['NODEPIPE_CI_CACHE'], 'off')"
    step = load("buildkite/pipeline.yml")["steps"][0]
    plugin = next(p for p in step["plugins"] if next(iter(p)).startswith("cache#"))
    options = next(iter(plugin.values()))
    assert options["path"] == step["env"]["NODEPIPE_CI_CACHE_DIR"]
    assert options["restore"] == options["save"] == "branch"
    jenkins = (CI / "jenkins/Jenkinsfile").read_text()
    assert 'NODEPIPE_CI_HOME="$WORKSPACE_TMP/node-pipelines-ci"' in jenkins
    assert "disableConcurrentBuilds()" in jenkins
