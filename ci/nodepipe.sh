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
#   NODEPIPE_CI_CACHE           engine (default): run the engine here in Docker with its state
#                               on the runner's disk, restored before the build from
#                               NODEPIPE_CI_CACHE_DIR and saved there after a clean stop
#                               (ci/engine-cache.sh), for the provider's cache step to keep;
#                               off: the Dagger CLI starts its own engine and nothing is kept
#   NODEPIPE_CI_CACHE_DIR       the directory the provider caches (default: .nodepipe-cache)
#   NODEPIPE_CI_STATE_DIR       the engine's state directory (default: $NODEPIPE_CI_HOME/engine-state);
#                               a path the Docker daemon sees (with GitLab's dind: under /builds).
#                               When it already holds a state (a long-lived runner), that state
#                               is used and neither restored nor saved
#   NODEPIPE_CI_ENGINE_IMAGE    the engine image (default: Dagger's release image of the pin)
# A missing, foreign or unreadable cache, or an engine that does not start on what was
# restored, is a cold build with one warning line, never a failed job.
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

engine_up() {
    # The engine's state through the provider's cache (ci/README.md): restore, then start.
    engine_name=
    cache_mode=${NODEPIPE_CI_CACHE:-engine}
    if [ -n "${NODEPIPE_CI_ENGINE:-}" ]; then cache_mode=persistent-engine; fi
    if [ "$cache_mode" = off ] || [ "$cache_mode" = persistent-engine ]; then return 0; fi
    if [ "$cache_mode" != engine ]; then
        say "NODEPIPE_CI_CACHE is '$cache_mode'; wanted engine or off"
        exit 2
    fi
    if ! command -v docker >/dev/null 2>&1; then
        say "warning: no docker to run the engine on the runner's disk: the Dagger CLI starts" \
            "its own and this job keeps no cache"
        cache_mode=no-docker
        return 0
    fi
    cache_dir=${NODEPIPE_CI_CACHE_DIR:-.nodepipe-cache}
    state_dir=${NODEPIPE_CI_STATE_DIR:-$ci_home/engine-state}
    mkdir -p "$cache_dir" && cache_dir=$(CDPATH='' cd -- "$cache_dir" && pwd)
    mkdir -p "$state_dir" && state_dir=$(CDPATH='' cd -- "$state_dir" && pwd)
    cache_mode=engine
    NODEPIPE_CACHE_RECORD=$ci_home/engine-cache.record
    export NODEPIPE_CACHE_RECORD
    : > "$NODEPIPE_CACHE_RECORD"
    restored=0
    sh "$here/engine-cache.sh" restore "$cache_dir" "$state_dir" || restored=$?
    engine_name=nodepipe-engine-$$
    if start_engine; then return 0; fi
    say "warning: the engine did not start on the restored state: it is wiped, this build is cold"
    docker rm -f "$engine_name" >/dev/null 2>&1 || true
    sh "$here/engine-cache.sh" wipe "$state_dir" || true
    restored=0
    start_engine || { say "the Dagger engine ($engine_image) did not start in Docker"; exit 1; }
}

start_engine() {
    # The same container the Dagger CLI would start, with its state in a directory we keep.
    engine_image=${NODEPIPE_CI_ENGINE_IMAGE:-registry.dagger.io/engine:v$DAGGER_PIN}
    # The engine's garbage collector keeps 20% of the disk free by default: on a runner with
    # less (a hosted runner's disk often has), it prunes the restored cache as it starts. This
    # engine lives for one job: keep 2 GB free, and the state under 10 GB.
    printf '{"gc": {"minFreeSpace": "2GB", "maxUsedSpace": "10GB"}}\n' > "$cache_dir/engine.json"
    docker run -d --name "$engine_name" --privileged -v "$state_dir:/var/lib/dagger" \
        -v "$cache_dir/engine.json:/etc/dagger/engine.json:ro" \
        "$engine_image" --debug >/dev/null || return 1
    _EXPERIMENTAL_DAGGER_RUNNER_HOST=docker-container://$engine_name
    export _EXPERIMENTAL_DAGGER_RUNNER_HOST
    tries=0
    until dagger core version >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then return 1; fi
        sleep 1
    done
}

sessions_removed() {
    # Whether the engine finished removing every session it began removing (a DEBUG line, so
    # the engine runs with --debug, as the Dagger CLI starts it). A session whose services are
    # slow to stop outlives `dagger run`; stopped meanwhile, the engine fails to persist its
    # cache index ("__Schema does not implement persisted object encoding", seen twice) and
    # resets its whole state at the next start.
    engine_log=$(docker logs "$engine_name" 2>&1) || return 0
    [ "$(printf '%s\n' "$engine_log" | grep -c 'session removed')" -ge \
        "$(printf '%s\n' "$engine_log" | grep -c 'removing session')" ]
}

engine_down() {
    # A clean stop (SIGTERM, then the engine closes its databases) before the state is saved:
    # an engine that was killed resets its own cache when it next starts.
    if [ -z "${engine_name:-}" ]; then return 0; fi
    save=save
    if [ "$restored" = 4 ]; then save=; fi  # a state kept on this runner's disk stays there
    tries=0
    until sessions_removed || [ "$tries" -ge 60 ]; do tries=$((tries + 1)); sleep 1; done
    # 137 is SIGKILL: Docker gave up waiting, the engine's databases may be half written.
    if docker stop --time 300 "$engine_name" >/dev/null \
        && [ "$(docker inspect --format '{{.State.ExitCode}}' "$engine_name" 2>/dev/null)" != 137 ]
    then
        if [ -n "$save" ]; then sh "$here/engine-cache.sh" save "$state_dir" "$cache_dir" || true; fi
    else
        say "warning: the engine did not stop cleanly: its state is not saved"
        echo "save unclean 0 0" >> "$NODEPIPE_CACHE_RECORD"
    fi
    docker rm -f "$engine_name" >/dev/null 2>&1 || true
    engine_name=
}

report_cache() {
    # What the cache moved, next to the build's report: engine-cache.json and a Markdown table.
    [ -d "$NODEPIPE_REPORT_DIR" ] || return 0
    restore_line=$(grep '^restore ' "${NODEPIPE_CACHE_RECORD:-/dev/null}" 2>/dev/null | tail -n 1)
    save_line=$(grep '^save ' "${NODEPIPE_CACHE_RECORD:-/dev/null}" 2>/dev/null | tail -n 1)
    step_json() {
        # shellcheck disable=SC2086 # split "op outcome bytes seconds" into fields
        if [ -n "$1" ]; then set -- $1; printf '{"outcome": "%s", "bytes": %s, "seconds": %s}' "$2" "$3" "$4"
        else printf 'null'; fi
    }
    printf '{"mode": "%s", "restore": %s, "save": %s}\n' "${cache_mode:-off}" \
        "$(step_json "$restore_line")" "$(step_json "$save_line")" \
        > "$NODEPIPE_REPORT_DIR/engine-cache.json"
    md=$NODEPIPE_REPORT_DIR/node-pipelines-report.md
    [ -f "$md" ] || return 0
    {
        printf '\n### Engine cache (%s)\n\n| step | outcome | bytes | seconds |\n|---|---|---|---|\n' \
            "${cache_mode:-off}"
        for line in "$restore_line" "$save_line"; do
            # shellcheck disable=SC2086 # split "op outcome bytes seconds" into fields
            if [ -n "$line" ]; then set -- $line; printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; fi
        done
        printf '\nWhich stages the engine found cached is not in this report: the Dagger SDK does not say.\n'
    } >> "$md"
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
engine_up
# A cancelled job removes its engine; its state is then not worth saving.
trap 'if [ -n "${engine_name:-}" ]; then docker rm -f "$engine_name" >/dev/null 2>&1; fi; exit 130' INT TERM
say "running: dagger run python -m pipelines.build $*"
status=0
dagger run python -m pipelines.build "$@" || status=$?
engine_down
report_cache
exit "$status"
