#!/usr/bin/env bash
# Bounded fuzz smoke: every fuzz target for SECONDS (default 30) each, corpus seeded from the
# frames recorded on the real DCRF server (interop/dcrf/observed). Needs cargo-fuzz and a
# nightly toolchain; .ci/run installs cargo-fuzz. A crash exits non-zero and leaves the
# reproducer in fuzz/artifacts/TARGET/.
#
#   bash fuzz/smoke.sh [SECONDS]
set -euo pipefail
SECONDS_PER_TARGET="${1:-30}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLCHAIN="+nightly"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    # No nightly: cargo-fuzz's -Z flags still work on stable with RUSTC_BOOTSTRAP.
    echo "fuzz/smoke.sh: no nightly toolchain, using stable with RUSTC_BOOTSTRAP=1" >&2
    TOOLCHAIN=""
    export RUSTC_BOOTSTRAP=1
fi

CORPUS="$(mktemp -d -t dcrf-fuzz-corpus-XXXXXX)"
trap 'rm -rf "$CORPUS"' EXIT
# One file per recorded frame, sent or received.
# server_frames and harness_frames take scripts of frames separated by 0xFF (see
# dcrf_reference_server::fuzzing and dcrf_conformance::fuzzing): they also get, per probe
# and connection, the frames it sent (seed-server_frames: 0x0B and the endpoint first) and
# the frames it received (seed-harness_frames). The unit tests of both entry points run the
# same seeds (their `seeds` functions).
python3 - "$ROOT/interop/dcrf/observed" "$CORPUS" <<'PY'
import hashlib, json, os, sys
src, out = sys.argv[1], sys.argv[2]
frames = set()
scripts = {"server_frames": [], "harness_frames": []}
endpoints = {"/ws/": 0, "/ws/full/": 1, "/ws/multiplexed/": 2}
last = {"server_frames": None, "harness_frames": None}
for name in ("frames.jsonl", "transcripts.jsonl"):
    path = os.path.join(src, name)
    if not os.path.exists(path):
        continue
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            for key in ("raw", "shown"):
                if isinstance(record.get(key), str):
                    frames.add(record[key])
            kind = record.get("kind")
            target, key = {"send": ("server_frames", "shown"), "recv": ("harness_frames", "raw")}.get(kind, (None, None))
            if target is None or not isinstance(record.get(key), str):
                continue
            text = record[key].encode("utf-8")
            who = (record.get("probe"), record.get("conn"))
            if last[target] != who:
                last[target] = who
                head = bytes([0x0B, endpoints.get(record.get("endpoint"), 1)]) if target == "server_frames" else None
                scripts[target].append(bytearray(head + b"\xff" + text if head else text))
            else:
                scripts[target][-1] += b"\xff" + text

def write(directory, items):
    os.makedirs(directory, exist_ok=True)
    for data in items:
        with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)

write(os.path.join(out, "seed"), [frame.encode("utf-8") for frame in frames])
for target, items in scripts.items():
    write(os.path.join(out, "seed-" + target), [bytes(item) for item in items])
print(f"fuzz/smoke.sh: {len(frames)} seed frames, "
      + ", ".join(f"{len(items)} {target} scripts" for target, items in scripts.items()), file=sys.stderr)
PY

for target in $(cargo $TOOLCHAIN fuzz list); do
    mkdir -p "$CORPUS/$target"
    cp "$CORPUS/seed/"* "$CORPUS/$target/"
    if [ -d "$CORPUS/seed-$target" ]; then
        cp "$CORPUS/seed-$target/"* "$CORPUS/$target/"
    fi
    echo "== fuzz $target for ${SECONDS_PER_TARGET}s ==" >&2
    log="$CORPUS/$target.log"
    # libFuzzer prints a line per new input: keep it in a file, show the summary, and the
    # whole log when the target fails.
    if ! cargo $TOOLCHAIN fuzz run "$target" "$CORPUS/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        cat "$log" >&2
        echo "fuzz/smoke.sh: $target failed; the reproducer is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" >&2 || tail -n 5 "$log" >&2
done
echo "fuzz/smoke.sh: every target ran ${SECONDS_PER_TARGET}s without a crash" >&2
