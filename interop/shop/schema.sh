#!/usr/bin/env bash
# Regenerate interop/shop/openapi.json, the drf-spectacular (OpenAPI 3) schema of
# the shop app's REST API (/api/products/, ProductSerializer -> component
# "Product").  Run setup.sh first.
#
#   bash interop/shop/schema.sh            write openapi.json
#   bash interop/shop/schema.sh --check    exit 1 if the committed file is stale
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${SHOP_VENV:-$HERE/.venv}"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    echo "no virtualenv at $VENV: run $HERE/setup.sh first" >&2
    exit 1
fi
OUT="$HERE/openapi.json"
TMP="$(mktemp -t shop-openapi-XXXXXX.json)"
trap 'rm -f "$TMP"' EXIT
cd "$HERE"
# The schema is generated from the code alone; settings need no database.
DJANGO_SETTINGS_MODULE=shopsite.settings SHOP_CHANNEL_LAYER=memory \
    "$PY" manage.py spectacular --format openapi-json --validate --fail-on-warn --file "$TMP"
# A trailing newline, like every other committed text file.
[ -n "$(tail -c1 "$TMP")" ] && echo >> "$TMP"
if [ "${1:-}" = "--check" ]; then
    if ! cmp -s "$TMP" "$OUT"; then
        echo "$OUT is stale: run bash interop/shop/schema.sh" >&2
        exit 1
    fi
    echo "$OUT is up to date" >&2
else
    mv "$TMP" "$OUT"
    echo "wrote $OUT" >&2
fi
