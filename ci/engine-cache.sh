#!/bin/sh
# The Dagger engine's state directory as one file a CI provider's cache step can save/restore.
#
#   sh ci/engine-cache.sh save    STATE_DIR CACHE_DIR   (the engine must be stopped)
#   sh ci/engine-cache.sh restore CACHE_DIR STATE_DIR
#   sh ci/engine-cache.sh wipe    STATE_DIR             (empties it, as root)
#
# CACHE_DIR holds engine-state.tar.zst (tar.gz without zstd) and engine-state.stamp. The stamp
# names the format, the Dagger version and the runner's os/arch: a restore whose stamp differs
# (another arch, another engine version) restores nothing, so an engine never reads another
# arch's state. The state holds files of every owner, device nodes (overlay whiteouts) and
# trusted.* xattrs (opaque directories), so tar runs as root: directly, or through `sudo -n`.
# The archive file itself is left readable by the caller, for the provider's cache step.
#
# Never fails a build: a missing, foreign or unreadable cache prints one warning line and exits
# 3 (restore: STATE_DIR is left empty, the build is cold; save: nothing is written). Exit 0 on
# success, 2 on a usage error, 4 when restore finds STATE_DIR already holding a state (a
# long-lived runner kept it): that state is used as it is. Prints `nodepipe-cache: restored|saved
# BYTES bytes in SECONDS s`; with NODEPIPE_CACHE_RECORD=FILE it also appends one line
# `restore|save OUTCOME BYTES SECONDS` there, for the report (ci/nodepipe.sh).
set -eu

DAGGER_PIN=0.21.8
FORMAT=1

say() { printf 'nodepipe-cache: %s\n' "$*" >&2; }
record() {
    if [ -n "${NODEPIPE_CACHE_RECORD:-}" ]; then
        printf '%s %s %s %s\n' "$op" "$1" "${2:-0}" "${3:-0}" >> "$NODEPIPE_CACHE_RECORD"
    fi
}
# warn OUTCOME SENTENCE...: one warning line, recorded, exit 3.
warn() { outcome=$1; shift; record "$outcome"; say "warning: $*"; exit 3; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1
    fi
}

stamp() { printf 'format=%s dagger=%s runner=%s/%s\n' "$FORMAT" "$DAGGER_PIN" \
    "$(uname -s | tr '[:upper:]' '[:lower:]')" "$(uname -m)"; }

codec() {
    if command -v zstd >/dev/null 2>&1; then echo zst; else echo gz; fi
}

now() { date +%s.%N 2>/dev/null | sed 's/N$/0/'; }

seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

save() {
    state=$1 cache=$2
    [ -d "$state" ] || warn absent "no engine state at $state: nothing saved"
    mkdir -p "$cache"
    ext=$(codec)
    archive=$cache/engine-state.tar.$ext
    start=$(now)
    rm -f "$cache"/engine-state.tar.* "$cache/engine-state.stamp"
    if [ "$ext" = zst ]; then compress='zstd -q -T0 -3'; else compress='gzip -1'; fi
    if ! as_root tar --xattrs --xattrs-include='*' --numeric-owner -I "$compress" \
        -C "$state" -cf "$archive.part" . \
        || ! as_root chown "$(id -u):$(id -g)" "$archive.part"; then
        as_root rm -f "$archive.part" 2>/dev/null || true
        warn failed "could not archive the engine state (GNU tar as root failed): nothing saved"
    fi
    mv "$archive.part" "$archive"
    stamp > "$cache/engine-state.stamp"
    bytes=$(wc -c < "$archive" | tr -d ' ') seconds=$(seconds_since "$start")
    say "saved $bytes bytes in $seconds s"
    record saved "$bytes" "$seconds"
}

restore() {
    cache=$1 state=$2
    if [ -n "$(as_root find "$state" -mindepth 1 -maxdepth 1 2>/dev/null | head -n 1)" ]; then
        say "the engine state in $state is kept from an earlier job on this runner: not restored"
        record kept
        exit 4
    fi
    archive=
    for candidate in "$cache/engine-state.tar.zst" "$cache/engine-state.tar.gz"; do
        if [ -z "$archive" ] && [ -f "$candidate" ]; then archive=$candidate; fi
    done
    [ -n "$archive" ] || warn absent "no engine cache in $cache: this build is cold"
    if [ "$(cat "$cache/engine-state.stamp" 2>/dev/null)" != "$(stamp)" ]; then
        warn foreign "the engine cache in $cache was written for another runner or engine" \
            "($(head -c 80 "$cache/engine-state.stamp" 2>/dev/null || echo no stamp)): this build is cold"
    fi
    start=$(now)
    case $archive in *.zst) decompress='zstd -q -d' ;; *) decompress='gzip -d' ;; esac
    as_root mkdir -p "$state" || warn failed "cannot create $state as root: this build is cold"
    if ! as_root tar --xattrs --xattrs-include='*' --numeric-owner -I "$decompress" \
        -C "$state" -xf "$archive" 2>/dev/null; then
        as_root find "$state" -mindepth 1 -delete 2>/dev/null || true
        warn unreadable "the engine cache $archive is unreadable: this build is cold"
    fi
    bytes=$(wc -c < "$archive" | tr -d ' ') seconds=$(seconds_since "$start")
    say "restored $bytes bytes in $seconds s"
    record restored "$bytes" "$seconds"
}

wipe() {
    as_root find "$1" -mindepth 1 -delete 2>/dev/null || warn failed "cannot empty $1"
}

op=${1:-}
case $op in
    wipe) [ $# -eq 2 ] || { say "usage: engine-cache.sh wipe STATE_DIR"; exit 2; }
        wipe "$2" ;;
    save) [ $# -eq 3 ] || { say "usage: engine-cache.sh save STATE_DIR CACHE_DIR"; exit 2; }
        save "$2" "$3" ;;
    restore) [ $# -eq 3 ] || { say "usage: engine-cache.sh restore CACHE_DIR STATE_DIR"; exit 2; }
        restore "$2" "$3" ;;
    *) say "usage: engine-cache.sh save STATE_DIR CACHE_DIR | restore CACHE_DIR STATE_DIR"; exit 2 ;;
esac
