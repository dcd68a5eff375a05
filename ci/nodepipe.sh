#!/bin/sh
# The one entry point every CI wrapper in ci/ calls (ci/README.md).
#
#   sh ci/nodepipe.sh [python -m pipelines.build flags ...]
#
# 1. Puts the pinned Dagger CLI on PATH: a `dagger` already there is used only when it is that
#    exact version; otherwise Dagger's documented install script installs it into a local bin dir.
# 2. Installs node-pipelines from the repository this script is in (the wrapper checked it out at
#    the ref it wants) into a virtualenv, so an externally managed system Python is never touched.
# 3. Runs the README's command, `dagger run python -m pipelines.build ...`, with the report
#    directory set, and exits with its status, so the job fails when the build fails.
#
# Configuration is the pipeline's own NODEPIPE_* settings (flags beat them); a wrapper may pass
# them empty, which means unset. This script adds, for the wrappers to map their provider onto:
#   NODEPIPE_CI_SHA             the commit; when NODEPIPE_TAGS is unset the tags become its first
#                               12 characters, the ref name (made a valid tag) and, on the
#                               default branch, latest
#   NODEPIPE_CI_REF_NAME        the branch or git tag being built
#   NODEPIPE_CI_DEFAULT_BRANCH  when it equals NODEPIPE_CI_REF_NAME, NODEPIPE_PUBLISH is unset
#                               and NODEPIPE_IMAGE is set, the build publishes
#   NODEPIPE_CI_ENGINE          a persistent engine (becomes _EXPERIMENTAL_DAGGER_RUNNER_HOST,
#                               e.g. tcp://dagger-engine:1234), so its cache outlives the job
# NODEPIPE_ENGINES (a platform's own engine, e.g. linux/arm64=tcp://arm-builder:1234) is the
# pipeline's own setting; its sessions are started with the same pinned CLI
# (_EXPERIMENTAL_DAGGER_CLI_BIN), so the SDK downloads no second one.
#   NODEPIPE_CI_HOME            where the CLI and the virtualenv go (default: ci/.home here)
#   NODEPIPE_CI_PYTHON          the Python that creates the virtualenv (default: python3)
# It defaults NODEPIPE_SOURCE to the working directory (the service's checkout; the pipeline's
# own default is its bundled example) and NODEPIPE_REPORT_DIR to node-pipelines-report in it.
#
# Secrets (NODEPIPE_REGISTRY_PASSWORD) stay in the environment: this script never traces (`set -x`
# is switched off below), never prints the environment and never writes a variable to a file.
set -eu
set +x

# The Dagger version: the same literal as the dagger-io pin in pyproject.toml
# (tests/unit/test_versions.py fails when they differ).
DAGGER_PIN=0.21.8

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
repo=$(dirname -- "$here")
ci_home=${NODEPIPE_CI_HOME:-$here/.home}
NODEPIPE_REPORT_DIR=${NODEPIPE_REPORT_DIR:-node-pipelines-report}
export NODEPIPE_REPORT_DIR

say() { printf 'nodepipe-ci: %s\n' "$*" >&2; }

cli_version() {
    # The first X.Y.Z `dagger version` prints: releases have printed both
    # "dagger vX.Y.Z (registry.dagger.io/engine:vX.Y.Z) linux/amd64" and "version: vX.Y.Z".
    "$1" version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1
}

fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    else
        say "neither curl nor wget is installed: install one to fetch the Dagger CLI"
        exit 2
    fi
}

ensure_dagger() {
    found=$(command -v dagger 2>/dev/null || true)
    if [ -n "$found" ] && [ "$(cli_version "$found")" = "$DAGGER_PIN" ]; then
        say "using $found (v$DAGGER_PIN)"
        use_cli "$found"
        return
    fi
    bin_dir=$ci_home/bin
    if [ ! -x "$bin_dir/dagger" ] || [ "$(cli_version "$bin_dir/dagger")" != "$DAGGER_PIN" ]; then
        say "installing the Dagger CLI v$DAGGER_PIN into $bin_dir"
        mkdir -p "$bin_dir"
        # Downloaded to a file first, so a cut-off download never runs half a script.
        fetch https://dl.dagger.io/dagger/install.sh "$ci_home/install-dagger.sh"
        DAGGER_VERSION=$DAGGER_PIN BIN_DIR=$bin_dir sh "$ci_home/install-dagger.sh" >&2
    fi
    PATH=$bin_dir:$PATH
    export PATH
    if [ "$(cli_version dagger)" != "$DAGGER_PIN" ]; then
        say "wanted the Dagger CLI v$DAGGER_PIN on PATH, got '$(cli_version dagger)'"
        exit 2
    fi
    use_cli "$bin_dir/dagger"
}

use_cli() {
    # Sessions on a platform's own engine (NODEPIPE_ENGINES) start this same CLI.
    _EXPERIMENTAL_DAGGER_CLI_BIN=${_EXPERIMENTAL_DAGGER_CLI_BIN:-$1}
    export _EXPERIMENTAL_DAGGER_CLI_BIN
}

ensure_node_pipelines() {
    venv=$ci_home/venv
    if [ ! -x "$venv/bin/python" ]; then
        "${NODEPIPE_CI_PYTHON:-python3}" -m venv "$venv"
    fi
    say "installing node-pipelines from $repo"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$repo" >&2
    PATH=$venv/bin:$PATH
    export PATH
}

unset_empty() {
    # An empty value means "not given": pydantic-settings would read it as an empty setting.
    for name in "$@"; do
        eval "value=\${$name:-}"
        if [ -z "$value" ]; then unset "$name"; fi
    done
    value=
}

derive_from_ci() {
    ref_tag=$(printf '%s' "${NODEPIPE_CI_REF_NAME:-}" | tr -c 'A-Za-z0-9_.-' '-' \
        | sed 's/^[.-]*//' | cut -c 1-128)
    on_default=false
    if [ -n "${NODEPIPE_CI_REF_NAME:-}" ] \
        && [ "${NODEPIPE_CI_REF_NAME:-}" = "${NODEPIPE_CI_DEFAULT_BRANCH:-}" ]; then
        on_default=true
    fi
    if [ -z "${NODEPIPE_TAGS:-}" ] && [ -n "${NODEPIPE_CI_SHA:-}" ]; then
        NODEPIPE_TAGS=$(printf '%s' "$NODEPIPE_CI_SHA" | cut -c 1-12)
        if [ -n "$ref_tag" ]; then NODEPIPE_TAGS=$NODEPIPE_TAGS,$ref_tag; fi
        if [ "$on_default" = true ]; then NODEPIPE_TAGS=$NODEPIPE_TAGS,latest; fi
        export NODEPIPE_TAGS
    fi
    if [ -z "${NODEPIPE_PUBLISH:-}" ] && [ -n "${NODEPIPE_IMAGE:-}" ] && [ "$on_default" = true ]
    then
        NODEPIPE_PUBLISH=true
        export NODEPIPE_PUBLISH
    fi
    if [ -n "${NODEPIPE_CI_ENGINE:-}" ]; then
        _EXPERIMENTAL_DAGGER_RUNNER_HOST=$NODEPIPE_CI_ENGINE
        export _EXPERIMENTAL_DAGGER_RUNNER_HOST
    fi
}

unset_empty NODEPIPE_SOURCE NODEPIPE_PLATFORMS NODEPIPE_IMAGE NODEPIPE_TAGS NODEPIPE_PUBLISH \
    NODEPIPE_REGISTRY_USERNAME NODEPIPE_REGISTRY_PASSWORD NODEPIPE_CACHE_NAMESPACE \
    NODEPIPE_ENGINES NODEPIPE_WORKSPACE
derive_from_ci
NODEPIPE_SOURCE=${NODEPIPE_SOURCE:-.}
export NODEPIPE_SOURCE
say "image: ${NODEPIPE_IMAGE:-none}; tags: ${NODEPIPE_TAGS:-default}; publish: ${NODEPIPE_PUBLISH:-false}"
mkdir -p "$ci_home"
ensure_dagger
ensure_node_pipelines
mkdir -p "$NODEPIPE_REPORT_DIR"
say "running: dagger run python -m pipelines.build $*"
exec dagger run python -m pipelines.build "$@"
