#!/usr/bin/env bash
# Example coverage of the public API: every public type, function and method of each crate
# named here must have a Rust code example in its docs (a ``` block that is compiled as a
# doc test: plain, `rust`, `no_run`, `should_panic` or `compile_fail`; not `ignore`, not
# `text`), and so must the crate root. Exits 1 when one is missing and lists it.
#
#   docs/example-coverage.sh                      # dcrf-client dcrf-model dcrf-protocol
#   docs/example-coverage.sh dcrf-client          # one crate
#
# Needs a nightly toolchain (rustdoc's JSON output is unstable) and python3. It counts what
# `rustdoc -Z unstable-options --show-coverage` would count if that followed re-exports:
# the coverage pass only counts items of public modules, and every crate here defines its
# items in private modules and re-exports them (`mod client; pub use client::Client;`),
# so it counts none of their methods. Fields, variants, constants, re-exports of other
# crates' items and trait impls are not counted (as in rustdoc's own coverage).
set -euo pipefail

cd "$(dirname "$0")/.."
crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
    crates=(dcrf-client dcrf-model dcrf-protocol)
fi
toolchain="${EXAMPLE_COVERAGE_TOOLCHAIN:-nightly}"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

status=0
for crate in "${crates[@]}"; do
    cargo "+$toolchain" rustdoc --quiet -p "$crate" --lib --all-features \
        -- -Z unstable-options --output-format json
    json="$target_dir/doc/${crate//-/_}.json"
    python3 - "$crate" "$json" <<'PY' || status=1
import json
import re
import sys

crate, path = sys.argv[1], sys.argv[2]
with open(path) as f:
    doc = json.load(f)
index = doc["index"]

RUST_ATTRS = {"", "rust", "no_run", "should_panic", "compile_fail"}
FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")


def has_example(docs):
    """True when the docs hold a fenced block that rustdoc compiles as a doc test."""
    open_fence = None
    for line in (docs or "").splitlines():
        m = FENCE.match(line)
        if not m:
            continue
        if open_fence is None:
            open_fence = m.group(1)
            attrs = {a.strip() for a in m.group(2).replace(",", " ").split()}
            attrs = {a for a in attrs if not a.startswith("edition")}
            if attrs <= RUST_ATTRS:
                return True
        elif m.group(1).startswith(open_fence) and not m.group(2).strip():
            open_fence = None
    return False


def kind(item):
    return next(iter(item["inner"]))


counted = []  # (path, has_example)
seen = set()


def visit(item_id, path):
    key = str(item_id)
    if key in seen or key not in index:
        return  # an item of another crate (re-exported), or already counted
    seen.add(key)
    item = index[key]
    if item.get("crate_id") != 0:
        return
    k = kind(item)
    inner = item["inner"][k]
    name = item.get("name")
    if k == "module":
        here = f"{path}::{name}" if path else name
        if not path:
            counted.append((here + " (crate root)", has_example(item.get("docs"))))
        for child in inner["items"]:
            visit(child, here)
    elif k == "use":
        if inner.get("id") is not None:
            if inner.get("is_glob"):
                target = index.get(str(inner["id"]))
                if target and kind(target) == "module":
                    for child in target["inner"]["module"]["items"]:
                        visit(child, path)
            else:
                visit(inner["id"], path)
    elif k in ("struct", "enum", "union", "trait", "function", "type_alias"):
        full = f"{path}::{name}"
        counted.append((full, has_example(item.get("docs"))))
        impl_ids = inner.get("impls", [])
        if k == "trait":
            for child in inner["items"]:
                child_item = index.get(str(child))
                if child_item and kind(child_item) == "function":
                    counted.append((f"{full}::{child_item['name']}", has_example(child_item.get("docs"))))
        for impl_id in impl_ids:
            impl = index.get(str(impl_id))
            if not impl or impl["inner"]["impl"].get("trait") is not None:
                continue  # trait impls are documented by the trait
            for child in impl["inner"]["impl"]["items"]:
                child_item = index.get(str(child))
                if child_item and kind(child_item) == "function" and child_item.get("visibility") == "public":
                    counted.append((f"{full}::{child_item['name']}", has_example(child_item.get("docs"))))


visit(doc["root"], "")
missing = [p for p, ok in counted if not ok]
total = len(counted)
percent = 100.0 * (total - len(missing)) / total if total else 100.0
for p in missing:
    print(f"  no example: {p}")
print(f"{crate}: {total - len(missing)}/{total} public items with an example ({percent:.1f}%)")
sys.exit(1 if missing else 0)
PY
done
exit $status
