#!/usr/bin/env bash
# Idempotently create the virtualenv of the shop app and install the pinned
# requirements.  Venv path: $SHOP_VENV (default: <this dir>/.venv).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${SHOP_VENV:-$HERE/.venv}"
PYTHON="${SHOP_PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtualenv at $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
    && "$VENV/bin/python" -c 'import djangochannelsrestframework, channels_redis, redis, drf_spectacular, daphne, websockets' 2>/dev/null; then
    echo "virtualenv $VENV already up to date" >&2
    exit 0
fi

"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$HERE/requirements.txt" >&2
"$VENV/bin/python" -m pip check >&2
echo "$WANT" > "$STAMP"
echo "virtualenv $VENV ready" >&2
