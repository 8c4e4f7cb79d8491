#!/usr/bin/env python3
"""Record DRF's validation messages for dcrf-model's validator (issue 11, part 2).

    interop/shop/.venv/bin/python interop/shop/record_validation.py \
        --out interop/shop/observed/validation.jsonl

Part 1 ("ws"): starts `serve.sh` on one free port and sends `create` / `patch`
frames with invalid and borderline `data` over the CRUD WebSocket
(/api/live/products/crud/) of the running shop app; records each reply.
Part 2 ("drf"): field kinds the shop's Product does not have (integer with bounds,
float, UUID, date-time, date, min_length) through a plain DRF serializer
(`Probe`) of the same virtualenv (DRF 3.18.3): `Probe(data=...).is_valid()`.

Each output line: {"source", "action", "input", "status", "errors", "data"}; for
"drf" lines the JSON Schema of Probe as dcrf-model reads it is in the first line
({"probe_schema": ...}).
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from websockets.asyncio.client import connect

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "record-token-1"
SEEDED = "00000000-0000-4000-8000-000000000003"
OK = {"name": "Recorded {n}", "price": "1.00"}

# (action, data) with {n} replaced by a counter so names stay unique.
WS_CASES = [
    ("create", {}),
    ("create", "not an object"),
    ("create", ["a", "list"]),
    ("create", None),
    ("create", 5),
    ("create", True),
    ("create", {"name": None, "price": "1.00"}),
    ("create", {"name": {"x": 1}, "price": "1.00"}),
    ("create", {"name": True, "price": "1.00"}),
    ("create", {"name": ["a"], "price": "1.00"}),
    ("create", {"name": 123, "price": "1.00"}),
    ("create", {"name": 1.5, "price": "1.00"}),
    ("create", {"name": "   ", "price": "1.00"}),
    ("create", {"name": "  Padded {n}  ", "price": "1.00"}),
    ("create", {"name": "x" * 100, "price": "1.00"}),
    ("create", {"name": "Recorded {n}", "price": None}),
    ("create", {"name": "Recorded {n}", "price": ""}),
    ("create", {"name": "Recorded {n}", "price": True}),
    ("create", {"name": "Recorded {n}", "price": [1]}),
    ("create", {"name": "Recorded {n}", "price": "NaN"}),
    ("create", {"name": "Recorded {n}", "price": "Infinity"}),
    ("create", {"name": "Recorded {n}", "price": "1234567"}),
    ("create", {"name": "Recorded {n}", "price": "123456.789"}),
    ("create", {"name": "Recorded {n}", "price": "0.001"}),
    ("create", {"name": "Recorded {n}", "price": "1" * 1001}),
    ("create", {"name": "Recorded {n}", "price": "9.9"}),
    ("create", {"name": "Recorded {n}", "price": " 9.9 "}),
    ("create", {"name": "Recorded {n}", "price": "1e2"}),
    ("create", {"name": "Recorded {n}", "price": "-0.5"}),
    ("create", {"name": "Recorded {n}", "price": "+3"}),
    ("create", {"name": "Recorded {n}", "price": 7}),
    ("create", {"name": "Recorded {n}", "price": 0.1}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "in_stock": None}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "in_stock": "yes"}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "in_stock": "OFF"}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "in_stock": 0}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "in_stock": 2}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "in_stock": []}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "category": None}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "category": ""}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "category": 5}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "category": "Beans"}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "category": {"a": "b"}}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "secret_note": "s" * 201}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "secret_note": ""}),
    ("create", {"name": "Recorded {n}", "price": "1.00", "id": "00000000-0000-4000-8000-0000000000aa",
                "updated_at": "yesterday", "colour": "red"}),
    ("create", {"name": None, "price": "abc", "in_stock": "maybe", "category": "tea"}),
    ("patch", {}),
    ("patch", {"name": None}),
    ("patch", {"price": "2.345", "category": "tea"}),
    ("patch", {"in_stock": "t"}),
    ("update", {"price": "5.00"}),
]


class Probe:  # filled in by drf_cases() once Django is set up
    pass


PROBE_SCHEMA = {
    "title": "Probe",
    "type": "object",
    "properties": {
        "id": {"type": "integer", "readOnly": True},
        "count": {"type": "integer", "minimum": 0, "maximum": 10},
        "ratio": {"type": "number", "format": "double"},
        "ref": {"type": "string", "format": "uuid"},
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "code": {"type": "string", "minLength": 3, "maxLength": 5},
    },
    "required": ["id", "count", "ratio", "ref", "at", "day", "code"],
}
PROBE_OK = {"count": 1, "ratio": 0.5, "ref": "00000000-0000-4000-8000-000000000001",
            "at": "2026-11-29T23:02:21Z", "day": "2026-11-29", "code": "abc"}
DRF_CASES = [
    {},
    {"count": "abc"}, {"count": 1.5}, {"count": "1.0"}, {"count": True}, {"count": -1}, {"count": 11},
    {"count": " 7 "}, {"count": None},
    {"ratio": "abc"}, {"ratio": "1e3"}, {"ratio": True}, {"ratio": "nan"}, {"ratio": None},
    {"ref": "nope"}, {"ref": "0000000000004000800000000000000A"}, {"ref": 5},
    {"ref": "{00000000-0000-4000-8000-000000000001}"},
    {"at": "yesterday"}, {"at": "2026-11-29"}, {"at": "2026-11-29T23:02"}, {"at": 5},
    {"day": "29/11/2026"}, {"day": "2026-11-29T23:02:21Z"}, {"day": 5},
    {"code": "ab"}, {"code": "abcdef"}, {"code": ""},
]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_shop(db):
    port = free_port()
    env = dict(os.environ, SHOP_CHANNEL_LAYER="memory", SHOP_DB=db, SHOP_TOKEN=TOKEN)
    log = open(os.path.join(tempfile.gettempdir(), "shop-record-validation.log"), "wb")
    proc = subprocess.Popen(["bash", os.path.join(HERE, "serve.sh"), str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"serve.sh did not start; see {log.name}")
    return proc, line[len("listening on "):].strip()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fill(value, n):
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    if isinstance(value, dict):
        return {k: fill(v, n) for k, v in value.items()}
    return value


async def ws_cases(url):
    out = []
    async with connect(url + "crud/", origin="http://127.0.0.1",
                       additional_headers={"Authorization": f"Bearer {TOKEN}"}, proxy=None,
                       open_timeout=10) as ws:
        for i, (action, data) in enumerate(WS_CASES, start=1):
            data = fill(data, i)
            frame = {"action": action, "request_id": i, "data": data}
            if action in ("patch", "update"):
                frame["pk"] = SEEDED
            await ws.send(json.dumps(frame))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            out.append({"source": "ws", "action": action, "input": data,
                        "status": reply["response_status"], "errors": reply["errors"],
                        "data": reply["data"]})
    return out


def drf_cases():
    sys.path.insert(0, HERE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    import django
    django.setup()
    from rest_framework import serializers

    class ProbeSerializer(serializers.Serializer):
        id = serializers.IntegerField(read_only=True)
        count = serializers.IntegerField(min_value=0, max_value=10)
        ratio = serializers.FloatField()
        ref = serializers.UUIDField()
        at = serializers.DateTimeField()
        day = serializers.DateField()
        code = serializers.CharField(min_length=3, max_length=5)

    out = []
    for case in DRF_CASES:
        data = {**PROBE_OK, **case} if case else {}
        s = ProbeSerializer(data=data)
        ok = s.is_valid()
        out.append({"source": "drf", "action": "create", "input": data,
                    "status": 201 if ok else 400,
                    "errors": [] if ok else [json.loads(json.dumps(s.errors))],
                    "data": json.loads(json.dumps(s.validated_data, default=str)) if ok else None})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    db = os.path.join(tempfile.mkdtemp(prefix="shop-record-"), "db.sqlite3")
    proc, url = start_shop(db)
    try:
        ws = asyncio.run(ws_cases(url))
    finally:
        stop(proc)
    os.environ["SHOP_DB"] = db
    drf = drf_cases()
    with open(args.out, "w") as f:
        f.write(json.dumps({"probe_schema": PROBE_SCHEMA}) + "\n")
        for rec in ws + drf:
            f.write(json.dumps(rec) + "\n")
    print(f"{len(ws)} WebSocket cases, {len(drf)} DRF field cases -> {args.out}")


if __name__ == "__main__":
    main()
