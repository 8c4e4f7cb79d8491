#!/usr/bin/env bash
# The typed-schema checks of issue 12 (section 3): json-schema-to-typescript +
# tsc --strict, Ajv (2020-12, draft-07) on the shop app's recorded frames, and
# @asyncapi/parser, on the output of `dcrf-schema`.
#
#   DCRF_TYPED_DIR=DIR bash interop/js/typed/run.sh
#
# DCRF_TYPED_DIR is the --out directory of dcrf-schema; unset, typed.test.mjs
# runs `cargo run -p dcrf-model --bin dcrf-schema` on interop/shop/openapi.json
# itself. Needs no server. Exit status: non-zero when npm ci or a check fails.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    printf 'interop/js/typed: npm ci\n' >&2
    npm ci --no-audit --no-fund >&2
fi
exec node --test --test-reporter=spec --test-concurrency=1 --test-timeout=600000 typed/typed.test.mjs
