#!/usr/bin/env bash
# Side-by-side benchmark: dcrf-reference-server vs the real DCRF 1.3.0 (Daphne), measured by
# the same load tool (reference-server/examples/load.rs) with the same parameters, in one run.
# Not part of CI. Loopback only; every scenario is bounded in time and count.
#
#   bash bench/side-by-side.sh            # prints a markdown table of figures and ratios
#
# Env: CHANGES (fan-out changes, 5), FANOUT (sockets, 1000), IDLE (idle sockets measured on
# both servers, 2000), IDLE_REF (idle sockets on the reference server alone, 10000),
# SECONDS_RETRIEVE (5).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CHANGES="${CHANGES:-5}"
FANOUT="${FANOUT:-1000}"
IDLE="${IDLE:-2000}"
IDLE_REF="${IDLE_REF:-10000}"
SECONDS_RETRIEVE="${SECONDS_RETRIEVE:-5}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

OUT="$(mktemp -d -t dcrf-bench-XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "building (release)..." >&2
cargo build -q --release -p dcrf-reference-server --bin dcrf-reference-server --example load
bash interop/dcrf/setup.sh >&2
LOAD="$ROOT/target/release/examples/load"

# wait_for_line FILE: prints the address of the `listening on ws://ADDR/ws/` line.
wait_for_line() {
    for _ in $(seq 1 600); do
        if grep -q '^listening on ' "$1" 2>/dev/null; then
            sed -nE 's#^listening on ws://([^/]+)/ws/.*#\1#p' "$1" | head -n1
            return 0
        fi
        sleep 0.1
    done
    echo "server did not start; see $1" >&2
    return 1
}

# start_reference: fresh reference server; sets ADDR and PID.
start_reference() {
    RUST_LOG=warn "$ROOT/target/release/dcrf-reference-server" --listen 127.0.0.1:0 >"$OUT/ref.out" 2>"$OUT/ref.err" &
    PID=$!; PIDS+=("$PID")
    ADDR="$(wait_for_line "$OUT/ref.out")"
}

# start_dcrf: fresh Django/DCRF under Daphne; sets ADDR and PID.
start_dcrf() {
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    bash interop/dcrf/serve.sh "$port" >"$OUT/dcrf.out" 2>"$OUT/dcrf.err" &
    PID=$!; PIDS+=("$PID")
    ADDR="$(wait_for_line "$OUT/dcrf.out")"
}

stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

# measure NAME: runs the three scenarios against a fresh server of each kind.
measure() {
    local name=$1 start=$2 idle=$3
    for scenario in retrieve fanout idle; do
        "$start"
        echo "$name $scenario on $ADDR (pid $PID)" >&2
        timeout 600 "$LOAD" --ws-url "ws://$ADDR/ws/" --admin-url "http://$ADDR" --server-pid "$PID" \
            --scenario "$scenario" --seconds "$SECONDS_RETRIEVE" --fanout-sockets "$FANOUT" \
            --changes "$CHANGES" --idle "$idle" | tee -a "$OUT/$name.txt" >&2 \
            || echo "$scenario: FAILED (exit $?)" >>"$OUT/$name.txt"
        stop
    done
}

measure reference start_reference "$IDLE"
measure dcrf start_dcrf "$IDLE"
start_reference
timeout 600 "$LOAD" --ws-url "ws://$ADDR/ws/" --admin-url "http://$ADDR" --server-pid "$PID" \
    --scenario idle --idle "$IDLE_REF" | tee "$OUT/reference-10k.txt" >&2
stop

python3 - "$OUT" "$FANOUT" "$IDLE" "$IDLE_REF" <<'PY'
import re, sys, pathlib
out, fanout, idle, idle_ref = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def figures(name):
    text = (out / f"{name}.txt").read_text()
    f = {}
    if m := re.search(r"= (\d+) round trips/s; latency p50 ([\d.]+) ms, p99 ([\d.]+) ms", text):
        f["rps"], f["rtt50"], f["rtt99"] = float(m[1]), float(m[2]), float(m[3])
    if m := re.search(r"p50 ([\d.]+) ms, p99 ([\d.]+) ms, max", text):
        f["fan50"], f["fan99"] = float(m[1]), float(m[2])
    if m := re.search(r"server RSS ([\d.]+) MB \(was ([\d.]+) MB: ([\d.]+) KB per connection\)", text):
        f["rss"], f["rss0"], f["kb"] = float(m[1]), float(m[2]), float(m[3])
    return f
r, d = figures("reference"), figures("dcrf")
big = figures("reference-10k")
def cell(f, k, fmt):
    return fmt.format(f[k]) if k in f else "failed"
def ratio(num, den):
    return f"{num/den:.0f}x" if num and den else "n/a"
print("| metric | reference server | DCRF 1.3.0 (Daphne) | ratio |")
print("| --- | --- | --- | --- |")
print(f"| retrieve round trips/s, 16 connections | {cell(r,'rps','{:,.0f}')} | {cell(d,'rps','{:,.0f}')} | {ratio(r.get('rps'), d.get('rps'))} |")
print(f"| retrieve latency p50 / p99 | {cell(r,'rtt50','{:.3f}')} / {cell(r,'rtt99','{:.3f}')} ms | {cell(d,'rtt50','{:.2f}')} / {cell(d,'rtt99','{:.2f}')} ms | |")
print(f"| fan-out of one change to {fanout} sockets, all received, p50 | {cell(r,'fan50','{:.1f}')} ms | {cell(d,'fan50','{:.1f}')} ms | {ratio(d.get('fan50'), r.get('fan50'))} faster |")
print(f"| same, p99 | {cell(r,'fan99','{:.1f}')} ms | {cell(d,'fan99','{:.1f}')} ms | {ratio(d.get('fan99'), r.get('fan99'))} faster |")
print(f"| memory per idle subscribed connection ({idle} open) | {cell(r,'kb','{:.1f}')} KB | {cell(d,'kb','{:.1f}')} KB | {ratio(d.get('kb'), r.get('kb'))} less |")
print(f"| server RSS with {idle} idle subscribed connections | {cell(r,'rss','{:.1f}')} MB | {cell(d,'rss','{:.1f}')} MB | |")
print(f"| reference server RSS with {idle_ref} idle subscribed connections | {cell(big,'rss','{:.1f}')} MB | | |")
PY
