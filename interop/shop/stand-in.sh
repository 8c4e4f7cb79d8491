#!/usr/bin/env bash
# The shop app's stand-in: dcrf-reference-server serving the shop's Product model from its
# drf-spectacular schema (openapi.json, component Product) on the shop's WebSocket paths,
# seeded with the same three products as serve.sh (fixture.json). No Django, no database.
#
#   bash interop/shop/stand-in.sh                         # 127.0.0.1:8000, profile dcrf-1.3.0
#   bash interop/shop/stand-in.sh --listen 127.0.0.1:0 --profile strict
#
# Extra arguments go to the server. It prints one line when ready,
# `listening on ws://ADDR/api/live/products/`; the CRUD consumer is /api/live/products/crud/
# and the admin API /admin/instances. DCRF_REFERENCE_SERVER names a built binary to run
# instead of `cargo run`; SHOP_FIXTURE another fixture (a JSON array of products).
#
# What the schema cannot say is given here, from products/models.py: `name` is unique,
# `secret_note` may be blank, the model defaults of in_stock, category and secret_note, and
# Meta.ordering = ["name"]. updated_at (read-only date-time) is auto_now.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -n "${DCRF_REFERENCE_SERVER:-}" ]; then
    SERVER=("$DCRF_REFERENCE_SERVER")
else
    SERVER=("${CARGO:-cargo}" run -q --manifest-path "$HERE/../../Cargo.toml" -p dcrf-reference-server --bin dcrf-reference-server --)
fi
exec "${SERVER[@]}" \
    --model "$HERE/openapi.json" --component Product \
    --unique name --allow-blank secret_note \
    --default in_stock=true --default 'category="beans"' --default 'secret_note=""' \
    --ordering name \
    --fixture "${SHOP_FIXTURE:-$HERE/fixture.json}" \
    --observer-path /api/live/products/ --crud-path /api/live/products/crud/ \
    --multiplexed-path /api/live/multiplexed/ --stream products \
    "$@"
