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
python3 - "$ROOT/interop/dcrf/observed" "$CORPUS/seed" <<'PY'
import hashlib, json, os, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
frames = set()
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
for frame in frames:
    data = frame.encode("utf-8")
    with open(os.path.join(out, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)
print(f"fuzz/smoke.sh: {len(frames)} seed frames", file=sys.stderr)
PY

for target in $(cargo $TOOLCHAIN fuzz list); do
    mkdir -p "$CORPUS/$target"
    cp "$CORPUS/seed/"* "$CORPUS/$target/"
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
