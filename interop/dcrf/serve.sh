#!/usr/bin/env bash
# Serve DCRF 1.3.0 on 127.0.0.1:PORT (default 8000) with a fresh SQLite DB.
#
#   bash interop/dcrf/serve.sh [PORT]
#
# stdout: exactly one line, `listening on ws://127.0.0.1:PORT/ws/`, once
# /healthz answers.  Everything else (migrate output, daphne logs) goes to
# stderr.  The script exec's into the daphne process, so killing the PID of
# serve.sh stops daphne.
#
# Env: DCRF_VENV (virtualenv, default <this dir>/.venv; run setup.sh first)
#      DCRF_DB   (SQLite file; default a fresh temp file per run; it is
#                 deleted and re-migrated on every start)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${DCRF_VENV:-$HERE/.venv}"
PORT="${1:-8000}"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
    echo "no virtualenv at $VENV: run $HERE/setup.sh first" >&2
    exit 1
fi
case "$PORT" in (*[!0-9]*|'') echo "bad port: $PORT" >&2; exit 2;; esac

if [ -z "${DCRF_DB:-}" ]; then
    DCRF_DB="$(mktemp -t dcrf-interop-XXXXXX.sqlite3)"
fi
export DCRF_DB
rm -f "$DCRF_DB" "$DCRF_DB-journal" "$DCRF_DB-wal" "$DCRF_DB-shm"

export DJANGO_SETTINGS_MODULE=dcrfsite.settings
export PYTHONUNBUFFERED=1
cd "$HERE"
"$PY" manage.py migrate --noinput >&2
"$PY" manage.py seed_users >&2
exec "$PY" run_server.py "$PORT"
