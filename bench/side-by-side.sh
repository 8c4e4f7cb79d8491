#!/usr/bin/env bash
# Side-by-side benchmark: dcrf-reference-server vs the baseline (bench/baseline, a minimal
# tokio-tungstenite server answering the same retrieve and pushing the same event) and the
# real DCRF 1.3.0 (Django + Daphne, from interop/dcrf), measured by the same load tool
# (reference-server/examples/load.rs) with the same parameters, in one run. Not part of CI
# and not pass/fail: it prints figures.
#
#   bash bench/side-by-side.sh        # progress on stderr; environment + markdown table on stdout
#
# The machine is shared and noisy: the retrieve, pipelined and fanout scenarios run ROUNDS
# times (3) for the reference server and the baseline, alternating which goes first, and the
# table shows the median of the rounds (each round's ratio is printed below it). DCRF and the
# idle scenario run once.
#
# Scenarios, each against a freshly started server of each kind:
#   retrieve  round trips/s over CONNECTIONS sockets for SECONDS_RETRIEVE seconds;
#   pipelined replies/s on one socket sending retrieves without waiting (WINDOW unanswered at
#             most) for SECONDS_RETRIEVE seconds;
#   fanout    FANOUT sockets subscribed to pk 1, CHANGES changes made through the admin API
#             (PATCH /admin/users/1); time until every socket received the event, p50/p99;
#   idle      IDLE subscribed sockets on both servers: server RSS growth (VmRSS, /proc);
#             then IDLE_REF (10,000) on the reference server alone: absolute RSS.
#
# Env (defaults): CONNECTIONS (16), SECONDS_RETRIEVE (5), WINDOW (1000), FANOUT (1000),
# CHANGES (10), IDLE (2000), IDLE_REF (10000), ROUNDS (3), SCENARIO_TIMEOUT (300 s per load-tool run),
# SERVERS ("reference baseline dcrf": which servers to measure; without dcrf, no Python
# setup is needed and its column says "not measured").
# Loopback only. Every wait is bounded (the load tool times out a socket after 30 s, each
# load-tool run is killed after SCENARIO_TIMEOUT); a failed scenario shows as "failed" in the
# table, with the tool's error. Servers are stopped on exit (trap), including on Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONNECTIONS="${CONNECTIONS:-16}"
SECONDS_RETRIEVE="${SECONDS_RETRIEVE:-5}"
WINDOW="${WINDOW:-1000}"
SERVERS="${SERVERS:-reference baseline dcrf}"
FANOUT="${FANOUT:-1000}"
CHANGES="${CHANGES:-10}"
IDLE="${IDLE:-2000}"
IDLE_REF="${IDLE_REF:-10000}"
SCENARIO_TIMEOUT="${SCENARIO_TIMEOUT:-300}"
ROUNDS="${ROUNDS:-3}"

# Sockets: the load tool holds up to IDLE_REF client ends, the server as many server ends
# (separate processes, so each needs IDLE_REF plus some headroom).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_REF + 1024)) ]; then
    echo "warning: open-file limit $(ulimit -n) is below IDLE_REF + 1024 = $((IDLE_REF + 1024))" >&2
fi

OUT="$(mktemp -d -t dcrf-bench-XXXXXX)"
export DCRF_DB="$OUT/dcrf.sqlite3"   # serve.sh deletes and re-migrates it on every start
PIDS=()
PID=""

# stop_pid PID: SIGTERM (and its children, e.g. a `manage.py migrate` still running under
# serve.sh), up to 10 s to exit, then SIGKILL.
stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "pid $pid still alive after SIGTERM, sending SIGKILL" >&2
            pkill -KILL -P "$pid" 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building (release)..." >&2
cargo build -q --release -p dcrf-reference-server --bin dcrf-reference-server --example load
cargo build -q --release -p dcrf-bench-baseline
case " $SERVERS " in *" dcrf "*) bash interop/dcrf/setup.sh >&2 ;; esac
LOAD="$ROOT/target/release/examples/load"
SERVER="$ROOT/target/release/dcrf-reference-server"
BASELINE="$ROOT/target/release/dcrf-bench-baseline"

# wait_for_line FILE PID: prints ADDR of the `listening on ws://ADDR/ws/` line (120 s at most).
wait_for_line() {
    local file=$1 pid=$2
    for _ in $(seq 1 1200); do
        if grep -q '^listening on ' "$file" 2>/dev/null; then
            sed -nE 's#^listening on ws://([^/]+)/ws/.*#\1#p' "$file" | head -n1
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "server exited before listening; see ${file%.out}.err" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "server did not start within 120 s; see ${file%.out}.err" >&2
    return 1
}

# start_reference / start_baseline / start_dcrf: a fresh server; set ADDR, ADMIN (the
# admin API's base URL) and PID (the server process itself: serve.sh exec's into the
# Python process running Daphne).
start_reference() {
    RUST_LOG=warn "$SERVER" --profile "${PROFILE:-strict}" --listen 127.0.0.1:0 >"$OUT/reference-server.out" 2>"$OUT/reference-server.err" &
    PID=$!; PIDS+=("$PID")
    ADDR="$(wait_for_line "$OUT/reference-server.out" "$PID")"
    ADMIN="http://$ADDR"
}
start_baseline() {
    "$BASELINE" >"$OUT/baseline-server.out" 2>"$OUT/baseline-server.err" &
    PID=$!; PIDS+=("$PID")
    ADDR="$(wait_for_line "$OUT/baseline-server.out" "$PID")"
    ADMIN="$(sed -nE 's#^admin on (http://[^ ]+)$#\1#p' "$OUT/baseline-server.out" | head -n1)"
}
start_dcrf() {
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    bash interop/dcrf/serve.sh "$port" >"$OUT/dcrf-server.out" 2>>"$OUT/dcrf-server.err" &
    PID=$!; PIDS+=("$PID")
    ADDR="$(wait_for_line "$OUT/dcrf-server.out" "$PID")"
    ADMIN="http://$ADDR"
}
stop() { stop_pid "$PID"; PID=""; }

# run NAME SCENARIO IDLE_COUNT [ROUND]: one load-tool run against the server at ADDR/PID. Its
# stdout goes to $OUT/NAME-SCENARIO[.ROUND].txt, its stderr to .err; a failure is recorded,
# not fatal.
run() {
    local name=$1 scenario=$2 idle=$3 round=${4:-} status=0
    local file="$OUT/$name-$scenario${round:+.$round}"
    cut -d' ' -f1 /proc/loadavg >>"$OUT/loadavg"
    echo "== $name $scenario${round:+ (round $round)} on $ADDR (pid $PID, $(ps -o comm= -p "$PID"))" >&2
    timeout -k 5 "$SCENARIO_TIMEOUT" "$LOAD" --ws-url "ws://$ADDR/ws/" --admin-url "$ADMIN" \
        --server-pid "$PID" --scenario "$scenario" --connections "$CONNECTIONS" \
        --seconds "$SECONDS_RETRIEVE" --window "$WINDOW" --fanout-sockets "$FANOUT" --changes "$CHANGES" \
        --idle "$idle" >"$file.txt" 2>"$file.err" || status=$?
    cat "$file.txt" >&2
    if [ "$status" -ne 0 ]; then
        local why
        why="$(tail -n 1 "$file.err" | tr '|' '/')"
        [ "$status" -eq 124 ] && why="killed after ${SCENARIO_TIMEOUT} s"
        echo "FAILED (exit $status): ${why:-no message}" | tee -a "$file.txt" >&2
    fi
}

# The reference server and the baseline: ROUNDS rounds of each timed scenario, the order of
# the servers reversed every other round; DCRF in the first round only.
reversed() { local out="" item; for item in $1; do out="$item $out"; done; echo "$out"; }
for scenario in retrieve pipelined fanout; do
    for round in $(seq 1 "$ROUNDS"); do
        order="$SERVERS"
        [ $((round % 2)) -eq 0 ] && order="$(reversed "$SERVERS")"
        for server in $order; do
            [ "$server" = dcrf ] && [ "$round" -ne 1 ] && continue
            "start_$server"; run "$server" "$scenario" "$IDLE" "$round"; stop
        done
    done
done
for server in $SERVERS; do
    "start_$server"; run "$server" idle "$IDLE"; stop
done
case " $SERVERS " in *" reference "*) start_reference; run reference-10k idle "$IDLE_REF"; stop ;; esac
echo "logs: $OUT" >&2

# Environment of this run.
cpu="$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n1)"
mem="$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
pyv="DCRF not measured"
[ -x interop/dcrf/.venv/bin/python ] && pyv="$(interop/dcrf/.venv/bin/python -c 'import sys, importlib.metadata as m; print("Python %s, " % sys.version.split()[0] + ", ".join("%s %s" % (p, m.version(p)) for p in ("djangochannelsrestframework", "Django", "channels", "daphne", "Twisted")))')"
echo "- date: $(date -u)"
load="$(sort -n "$OUT/loadavg" | sed -n '1p;$p' | paste -sd- -)"
echo "- machine: $(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r), 1-minute load average $load at the start of the load-tool runs, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "- $(rustc --version) (release profile); $pyv"
echo "- parameters: SERVERS=\"$SERVERS\" ROUNDS=$ROUNDS PROFILE=${PROFILE:-strict} CONNECTIONS=$CONNECTIONS SECONDS_RETRIEVE=$SECONDS_RETRIEVE WINDOW=$WINDOW FANOUT=$FANOUT CHANGES=$CHANGES IDLE=$IDLE IDLE_REF=$IDLE_REF"
echo

ROUNDS="$ROUNDS" WINDOW="$WINDOW" CONNECTIONS="$CONNECTIONS" SECONDS_RETRIEVE="$SECONDS_RETRIEVE" FANOUT="$FANOUT" CHANGES="$CHANGES" \
    IDLE="$IDLE" IDLE_REF="$IDLE_REF" python3 - "$OUT" <<'PY'
import pathlib, re, sys
from os import environ as env
out = pathlib.Path(sys.argv[1])

def parse(text):
    f = {}
    if m := re.search(r"^FAILED.*$", text, re.M):
        f["failed"] = m[0]
    if m := re.search(r"= (\d+) round trips/s; latency p50 ([\d.]+) ms, p99 ([\d.]+) ms", text):
        f["rps"], f["rtt50"], f["rtt99"] = float(m[1]), float(m[2]), float(m[3])
    if m := re.search(r"= (\d+) replies/s", text):
        f["pps"] = float(m[1])
    if m := re.search(r"p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms", text):
        f["fan50"], f["fan99"], f["fanmax"] = float(m[1]), float(m[2]), float(m[3])
    if m := re.search(r"idle: (\d+) subscribed connections opened in ([\d.]+) s; server RSS ([\d.]+) MB \(was ([\d.]+) MB", text):
        n, f["opened"], f["rss"], f["rss0"] = int(m[1]), float(m[2]), float(m[3]), float(m[4])
        f["per1k"] = (f["rss"] - f["rss0"]) * 1000 / n
    return f

def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

# Per server: the figures of each round (round 0: a scenario run once), and the median of
# each figure over the rounds that produced it.
rounds = {}
def figures(name):
    f = {}
    for scenario in ("retrieve", "pipelined", "fanout", "idle"):
        paths = sorted(out.glob(f"{name}-{scenario}.*.txt")) or sorted(out.glob(f"{name}-{scenario}.txt"))
        runs = [parse(path.read_text()) for path in paths]
        rounds[(name, scenario)] = runs
        for key in {key for run in runs for key in run if key != "failed"}:
            f[key] = median([run[key] for run in runs if key in run])
        failed = [run["failed"] for run in runs if "failed" in run]
        if failed:
            f[f"{scenario}-failed"] = failed[0] + (f" ({len(failed)} of {len(runs)} runs)" if len(runs) > 1 else "")
    return f

r, b, d, big = figures("reference"), figures("baseline"), figures("dcrf"), figures("reference-10k")

def cell(f, scenario, fmt, *keys):
    if all(k in f for k in keys):
        return fmt.format(*(f[k] for k in keys))
    return f.get(f"{scenario}-failed", "no figure")

def ratio(num, den, suffix=""):
    if not num or not den:
        return "n/a"
    x = num / den
    return (f"{x:,.0f}x" if x >= 10 else f"{x:.1f}x") + suffix

n = lambda v: f"{int(v):,}"
conn, secs, fan, changes = n(env["CONNECTIONS"]), env["SECONDS_RETRIEVE"], n(env["FANOUT"]), env["CHANGES"]
idle, idle_ref = n(env["IDLE"]), n(env["IDLE_REF"])
window = n(env["WINDOW"])
def ratio2(num, den):
    return "n/a" if not num or not den else f"{num / den:.2f}x"
rows = [
    (f"retrieve round trips/s ({conn} connections, {secs} s)",
     cell(r, "retrieve", "{:,.0f}", "rps"), cell(b, "retrieve", "{:,.0f}", "rps"),
     ratio2(r.get("rps"), b.get("rps")),
     cell(d, "retrieve", "{:,.0f}", "rps"), ratio(r.get("rps"), d.get("rps"))),
    ("retrieve latency p50 / p99",
     cell(r, "retrieve", "{:.3f} / {:.3f} ms", "rtt50", "rtt99"),
     cell(b, "retrieve", "{:.3f} / {:.3f} ms", "rtt50", "rtt99"), "",
     cell(d, "retrieve", "{:.2f} / {:.2f} ms", "rtt50", "rtt99"), ""),
    (f"pipelined retrieves on one connection, replies/s (window {window}, {secs} s)",
     cell(r, "pipelined", "{:,.0f}", "pps"), cell(b, "pipelined", "{:,.0f}", "pps"),
     ratio2(r.get("pps"), b.get("pps")),
     cell(d, "pipelined", "{:,.0f}", "pps"), ratio(r.get("pps"), d.get("pps"))),
    (f"fan-out of one change to {fan} subscribed sockets, time until all received, p50 ({changes} changes)",
     cell(r, "fanout", "{:,.1f} ms", "fan50"), cell(b, "fanout", "{:,.1f} ms", "fan50"),
     ratio2(r.get("fan50"), b.get("fan50")) + " the time",
     cell(d, "fanout", "{:,.1f} ms", "fan50"), ratio(d.get("fan50"), r.get("fan50"), " faster")),
    ("same, p99",
     cell(r, "fanout", "{:,.1f} ms", "fan99"), cell(b, "fanout", "{:,.1f} ms", "fan99"),
     ratio2(r.get("fan99"), b.get("fan99")) + " the time",
     cell(d, "fanout", "{:,.1f} ms", "fan99"), ratio(d.get("fan99"), r.get("fan99"), " faster")),
    (f"server RSS growth per 1,000 idle subscribed connections ({idle} open)",
     cell(r, "idle", "{:.1f} MB", "per1k"), cell(b, "idle", "{:.1f} MB", "per1k"),
     ratio2(r.get("per1k"), b.get("per1k")),
     cell(d, "idle", "{:.1f} MB", "per1k"), ratio(d.get("per1k"), r.get("per1k"), " less")),
    (f"server RSS: fresh → {idle} idle subscribed connections (time to open them)",
     cell(r, "idle", "{:.1f} → {:.1f} MB ({:.1f} s)", "rss0", "rss", "opened"),
     cell(b, "idle", "{:.1f} → {:.1f} MB ({:.1f} s)", "rss0", "rss", "opened"), "",
     cell(d, "idle", "{:.1f} → {:.1f} MB ({:.1f} s)", "rss0", "rss", "opened"), ""),
    (f"reference server RSS: fresh → {idle_ref} idle subscribed connections (time to open them)",
     cell(big, "idle", "{:.1f} → {:.1f} MB ({:.1f} s)", "rss0", "rss", "opened"), "not measured", "",
     "not measured", ""),
]
print("| metric | reference server | baseline (tokio-tungstenite) | reference / baseline | DCRF 1.3.0 (Daphne) | reference vs DCRF |")
print("| --- | --- | --- | --- | --- | --- |")
for row in rows:
    print("| " + " | ".join(row) + " |")

def verdict(ok):
    return "n/a (no figure)" if ok is None else ("met" if ok else "NOT met")
def over(f, g, key):
    return f[key] / g[key] if f.get(key) and g.get(key) else None
rps = over(r, d, "rps")
f50 = d["fan50"] / r["fan50"] if r.get("fan50") and d.get("fan50") else None
f99 = d["fan99"] / r["fan99"] if r.get("fan99") and d.get("fan99") else None
bp, br, bf = over(r, b, "pps"), over(r, b, "rps"), over(r, b, "fan50")
def per_round(scenario, key):
    pairs = zip(rounds.get(("reference", scenario), []), rounds.get(("baseline", scenario), []))
    return ", ".join(f"{a[key] / b[key]:.2f}x" if key in a and key in b and b[key] else "n/a" for a, b in pairs)

print()
print(f"Reference / baseline in each round ({env['ROUNDS']} rounds; the table shows the medians):")
print(f"- retrieve round trips/s: {per_round('retrieve', 'rps')}")
print(f"- pipelined replies/s: {per_round('pipelined', 'pps')}")
print(f"- fan-out time p50: {per_round('fanout', 'fan50')}; p99: {per_round('fanout', 'fan99')}")
print()
print("Targets (this run, medians):")
print(f"- pipelined retrieves on one connection ≥ 0.8x the baseline: {verdict(None if bp is None else bp >= 0.8)}"
      + (f" ({bp:.2f}x)" if bp else ""))
print(f"- retrieve round trips ≥ 0.9x the baseline: {verdict(None if br is None else br >= 0.9)}"
      + (f" ({br:.2f}x)" if br else ""))
print(f"- fan-out to {fan}, p50 time ≤ 1.1x the baseline's: {verdict(None if bf is None else bf <= 1.1)}"
      + (f" ({bf:.2f}x)" if bf else ""))
print(f"- retrieve round trips/s ≥ 100x DCRF: {verdict(None if rps is None else rps >= 100)}"
      + (f" ({rps:,.0f}x)" if rps else ""))
print(f"- fan-out to {fan} fully delivered in < 1/20 of DCRF's time: "
      f"p50 {verdict(None if f50 is None else f50 > 20)}" + (f" (1/{f50:,.0f})" if f50 else "")
      + f", p99 {verdict(None if f99 is None else f99 > 20)}" + (f" (1/{f99:,.0f})" if f99 else ""))
print(f"- {idle_ref} idle subscribed connections < 200 MB: "
      f"{verdict(None if 'rss' not in big else big['rss'] < 200)}"
      + (f" ({big['rss']:.1f} MB)" if "rss" in big else ""))
PY
