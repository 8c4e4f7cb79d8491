#!/usr/bin/env bash
# Serve the shop app (DCRF 1.3.0) as several Daphne processes sharing one
# SQLite file and one channel layer.
#
#   bash interop/shop/serve.sh [PORT ...]      (default: 8001 8002)
#
# stdout: one line per port, `listening on ws://127.0.0.1:PORT/api/live/products/`,
# once every process answers /healthz.  Everything else (migrate output,
# daphne logs prefixed with [PORT]) goes to stderr.  The script exec's into the
# launcher (serve.py): SIGTERM to the PID of serve.sh stops every process.
#
# Env: SHOP_VENV           virtualenv (default <this dir>/.venv; run setup.sh first)
#      SHOP_DB             SQLite file (default: a fresh temp file per run; it is
#                          deleted and re-migrated on every start)
#      SHOP_CHANNEL_LAYER  memory (default) | redis
#      SHOP_REDIS_URL      redis://127.0.0.1:PORT (with SHOP_CHANNEL_LAYER=redis)
#      SHOP_TOKEN          the API token to seed (default shop-dev-token)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${SHOP_VENV:-$HERE/.venv}"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
    echo "no virtualenv at $VENV: run $HERE/setup.sh first" >&2
    exit 1
fi
if [ $# -eq 0 ]; then set -- 8001 8002; fi
for port in "$@"; do
    case "$port" in (*[!0-9]*|'') echo "bad port: $port" >&2; exit 2;; esac
done

if [ -z "${SHOP_DB:-}" ]; then
    SHOP_DB="$(mktemp -t shop-interop-XXXXXX.sqlite3)"
fi
export SHOP_DB
rm -f "$SHOP_DB" "$SHOP_DB-journal" "$SHOP_DB-wal" "$SHOP_DB-shm"

export DJANGO_SETTINGS_MODULE=shopsite.settings
export PYTHONUNBUFFERED=1
cd "$HERE"
"$PY" manage.py migrate --noinput >&2
"$PY" manage.py seed_shop >&2
exec "$PY" serve.py "$@"
