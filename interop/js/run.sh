#!/usr/bin/env bash
# JavaScript interop checks of dcrf-spec: the single entry point for CI and
# for the Rust test that calls it.
#
#   bash interop/js/run.sh [TEST_FILE...]      (default: every *.test.mjs)
#
# Environment:
#   DCRF_WS_BASE    ws://HOST:PORT of a running reference server (its paths
#                   /ws/, /ws/full/, /ws/multiplexed/ hang off it)
#   DCRF_HTTP_BASE  http://HOST:PORT of the same server (admin API);
#                   default: DCRF_WS_BASE with ws:// replaced by http://
#   When DCRF_WS_BASE is unset this script starts the reference server itself
#   (`cargo run -q -p dcrf-reference-server -- --listen 127.0.0.1:0` from the
#   repository root), reads its `listening on ws://ADDR/ws/` line, and stops
#   it on exit.
#   DCRF_SERVER_START_TIMEOUT  seconds to wait for that line (default 900:
#                   the first run may compile the server)
#
# Exit status: non-zero when npm ci fails, the server cannot be started, or
# any test fails. A test whose server cannot be reached fails; none is skipped.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

log() { printf 'interop/js: %s\n' "$*" >&2; }

# ---- dependencies ----------------------------------------------------------
# npm ci writes node_modules/.package-lock.json; reinstall when it is missing
# or older than package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund >&2
fi

# ---- reference server ------------------------------------------------------
SERVER_PID=""
SERVER_DIR=""
NODE_PID=""
START_FAILED=0

# Stop a process we started in its own process group (setsid): the group,
# else the process alone.
stop_group() {
    kill -"$2" -- "-$1" 2>/dev/null || kill -"$2" "$1" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    if [ -n "$NODE_PID" ]; then
        stop_group "$NODE_PID" TERM
        wait "$NODE_PID" 2>/dev/null || true
    fi
    if [ -n "$SERVER_PID" ]; then
        # The server runs in its own session/process group (setsid), so this
        # stops cargo and the server binary it runs, and nothing else.
        stop_group "$SERVER_PID" TERM
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        stop_group "$SERVER_PID" KILL
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$SERVER_DIR" ]; then rm -rf "$SERVER_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_server() {
    SERVER_DIR="$(mktemp -d -t dcrf-interop-js-XXXXXX)"
    local out="$SERVER_DIR/stdout" err="$SERVER_DIR/stderr"
    local timeout="${DCRF_SERVER_START_TIMEOUT:-900}"
    log "starting the reference server: cargo run -q -p dcrf-reference-server -- --listen 127.0.0.1:0"
    (
        cd "$REPO_ROOT"
        if command -v setsid >/dev/null 2>&1; then
            exec setsid cargo run -q -p dcrf-reference-server -- --listen 127.0.0.1:0
        else
            exec cargo run -q -p dcrf-reference-server -- --listen 127.0.0.1:0
        fi
    ) >"$out" 2>"$err" </dev/null &
    SERVER_PID=$!
    local deadline=$((SECONDS + timeout)) line addr
    while :; do
        line="$(grep -m1 -E '^listening on ws://[^/]+/ws/' "$out" 2>/dev/null || true)"
        if [ -n "$line" ]; then
            addr="$(printf '%s\n' "$line" | sed -E 's#^listening on ws://([^/]+)/ws/.*$#\1#')"
            export DCRF_WS_BASE="ws://$addr"
            export DCRF_HTTP_BASE="http://$addr"
            export DCRF_FRESH_SERVER=1
            log "reference server listening on $DCRF_WS_BASE (pid $SERVER_PID)"
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "the reference server exited before printing 'listening on ws://ADDR/ws/'"
            break
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "no 'listening on ws://ADDR/ws/' line within ${timeout}s"
            break
        fi
        sleep 0.5
    done
    log "server stdout:"; tail -n 40 "$out" >&2 || true
    log "server stderr:"; tail -n 40 "$err" >&2 || true
    return 1
}

if [ -z "${DCRF_WS_BASE:-}" ]; then
    if ! start_server; then
        # Run the tests anyway: the schema checks still report, and every
        # test that needs the server fails with a message naming the cause.
        START_FAILED=1
        unset DCRF_WS_BASE DCRF_HTTP_BASE
        export DCRF_SERVER_START_ERROR="run.sh could not start the reference server (cargo run -p dcrf-reference-server); its output is printed above"
    fi
else
    export DCRF_WS_BASE
    export DCRF_HTTP_BASE="${DCRF_HTTP_BASE:-$(printf '%s' "$DCRF_WS_BASE" | sed -E 's#^ws(s?)://#http\1://#')}"
    log "using the server at $DCRF_WS_BASE (admin API $DCRF_HTTP_BASE)"
fi

# ---- tests -----------------------------------------------------------------
if [ "$#" -gt 0 ]; then
    FILES=("$@")
else
    FILES=(*.test.mjs)
fi

# node runs in the background (own process group) and is waited for, so a
# TERM or INT to this script stops the tests and the server at once.
NODE_ARGS=(--test --test-reporter=spec --test-concurrency=1 --test-timeout=300000 --test-force-exit "${FILES[@]}")
if command -v setsid >/dev/null 2>&1; then
    setsid node "${NODE_ARGS[@]}" </dev/null &
else
    node "${NODE_ARGS[@]}" </dev/null &
fi
NODE_PID=$!
status=0
wait "$NODE_PID" || status=$?
NODE_PID=""

if [ "$START_FAILED" -ne 0 ]; then
    log "FAILED: the reference server could not be started"
    [ "$status" -ne 0 ] || status=1
fi
exit "$status"
