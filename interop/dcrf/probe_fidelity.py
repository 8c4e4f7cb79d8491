#!/usr/bin/env python
"""Probe the DCRF interop server for the points of issue 9, section 1.

    python probe_fidelity.py [--base ws://127.0.0.1:8765] [--out observed/fidelity] [--only PREFIX]...

Same recorder and output formats as probe.py (frames.jsonl, transcripts.jsonl,
transcripts.md), written to observed/fidelity/ so that probe.py's recording
stays as it is.  Needs a fresh server from serve.sh (users 1..3 seeded) with
the admin HTTP API, including POST /admin/steps (users/views.py: several ORM
steps in one request, optionally in one transaction).

Labels:
  F1.*  a subscription survives the delete of its instance (re-creation, 404
        on unsubscribe, re-subscribe after the 10.5 silencing)
  F2.*  saves inside one transaction (5.9)
  F3.*  argument names that collide with DCRF's own parameters (3.4)
  F4.*  frame size limit and invalid UTF-8 (2.2, 2.3)
  F5.*  boolean, array and object request_ids on subscriptions (3.2, 5.3, 5.4)
  F6.*  minor points: -0, JSON text, nothing on connect, reply/event order,
        per-request_id re-reads, update-then-delete in a transaction,
        str() of a non-string action, the socket after a 404/405

Waiting rule: most steps wait for the expected number of frames (or a close)
and then for a short quiet window; steps that must show that nothing arrives
wait QUIET seconds (> 1 s, so that Daphne's once-a-second application checker
has turned any crash into a close).
"""
import argparse
import asyncio
import json
import os
import sys
import threading

from websockets.exceptions import ConnectionClosed

from probe import QUIET, Recorder, note

HERE = os.path.dirname(os.path.abspath(__file__))
SHORT = 0.4  # quiet window after the expected frames arrived
MIB = 1024 * 1024


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
async def expect(c, n, deadline=5.0, quiet=SHORT):
    """Read until n frames arrived (or the connection closed, or the deadline
    passed), then until nothing more arrives for `quiet` seconds."""
    got = []
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not c.closed and len(got) < n:
        left = end - loop.time()
        if left <= 0:
            c.rec.log({"kind": "note", "text": f"[{c.name}] deadline: {len(got)} of {n} frames after {deadline} s"})
            break
        try:
            raw = await asyncio.wait_for(c.ws.recv(), left)
        except asyncio.TimeoutError:
            continue
        except ConnectionClosed as exc:
            c._closed(exc)
            break
        c._recv(raw)
        got.append(raw)
    if not c.closed:
        got += await c.collect(quiet)
    return got


async def ask(c, msg, n=1, deadline=5.0, quiet=SHORT):
    await c.send(msg)
    return await expect(c, n, deadline, quiet)


async def send_big(c, data, shown, text=None):
    """Send without logging the whole text (frames of a megabyte)."""
    c.rec.log({"kind": "send", "conn": c.name, "endpoint": c.endpoint, "shown": shown})
    if text is None:
        await c.ws.send(data)
    else:
        await c.ws.send(data, text=text)


def steps(rec, body):
    status, data = rec.admin("POST", "/admin/steps", body)
    assert status == 200, (status, data)
    return data


def admin_async(rec, calls):
    """Run admin calls in a thread (in order), so that the probe keeps reading."""

    def run():
        for method, path, body in calls:
            rec.admin(method, path, body)

    t = threading.Thread(target=run)
    t.start()
    return t


PROBES = []


def probe(label, text):
    def deco(fn):
        PROBES.append((label, text, fn))
        return fn

    return deco


def sub(rid, pk):
    return {"action": "subscribe_instance", "request_id": rid, "pk": pk}


def unsub(rid, pk):
    msg = {"action": "unsubscribe_instance", "pk": pk}
    if rid != "ABSENT":
        msg["request_id"] = rid
    return msg


# ---------------------------------------------------------------------------
# F1: a subscription survives the delete of its instance
# ---------------------------------------------------------------------------
@probe("F1.1 recreate.insert_same_pk", "subscribe rid 200; admin DELETE; insert a new row with the same pk; PATCH; DELETE")
async def _(rec):
    pk = rec.new_user("f11")
    c = await rec.open("A")
    await ask(c, sub(200, pk))
    rec.admin("DELETE", f"/admin/users/{pk}")
    await expect(c, 1)
    steps(rec, {"atomic": False, "steps": [{"op": "insert", "pk": pk, "set": {"username": "f11 reborn", "email": "f11@reborn.example"}}]})
    await expect(c, 1)
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f11@patched.example"})
    await expect(c, 1)
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f11@patched2.example"})
    await expect(c, 1)
    rec.admin("DELETE", f"/admin/users/{pk}")
    await expect(c, 1, quiet=QUIET)
    await c.close()


@probe("F1.2 recreate.stale_object_save", "subscribe rid 201; one request, autocommit: fetch a and b, delete b, save a (Django re-INSERTs); then PATCH")
async def _(rec):
    pk = rec.new_user("f12")
    c = await rec.open("A")
    await ask(c, sub(201, pk))
    steps(
        rec,
        {
            "atomic": False,
            "steps": [
                {"op": "fetch", "as": "a", "pk": pk},
                {"op": "fetch", "as": "b", "pk": pk},
                {"op": "delete", "obj": "b"},
                {"op": "save", "obj": "a", "set": {"email": "f12@stale.example"}},
            ],
        },
    )
    await expect(c, 2)
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f12@patched.example"})
    await expect(c, 1, quiet=QUIET)
    await c.close()


@probe("F1.3 recreate.two_sockets_two_endpoints", "A on /ws/ (rid 202) and B on /ws/full/ (rid 203) subscribed; DELETE; insert same pk")
async def _(rec):
    pk = rec.new_user("f13")
    a = await rec.open("A")
    b = await rec.open("B", "/ws/full/")
    await ask(a, sub(202, pk))
    await ask(b, sub(203, pk))
    rec.admin("DELETE", f"/admin/users/{pk}")
    await expect(a, 1)
    await expect(b, 1)
    steps(rec, {"atomic": False, "steps": [{"op": "insert", "pk": pk, "set": {"username": "f13 reborn", "email": "f13@reborn.example"}}]})
    await expect(a, 1)
    await expect(b, 1)
    await a.close()
    await b.close()


@probe("F1.4 recreate.unsubscribe_deleted_is_404", "subscribe rid 210; DELETE; unsubscribe rid 210 and without rid (404 both); insert same pk: does rid 210 still get events?")
async def _(rec):
    pk = rec.new_user("f14")
    c = await rec.open("A")
    await ask(c, sub(210, pk))
    rec.admin("DELETE", f"/admin/users/{pk}")
    await expect(c, 1)
    await ask(c, unsub(210, pk))
    await ask(c, unsub("ABSENT", pk))
    steps(rec, {"atomic": False, "steps": [{"op": "insert", "pk": pk, "set": {"username": "f14 reborn", "email": "f14@reborn.example"}}]})
    await expect(c, 1, quiet=QUIET)
    await c.close()


@probe("F1.5 recreate.unsubscribe_via_other_instance", "subscribe rid 220 to X; DELETE X; unsubscribe rid 220 naming existing user 2 (never subscribed); insert X again: anything?")
async def _(rec):
    pk = rec.new_user("f15")
    c = await rec.open("A")
    await ask(c, sub(220, pk))
    rec.admin("DELETE", f"/admin/users/{pk}")
    await expect(c, 1)
    await ask(c, unsub(220, 2))
    steps(rec, {"atomic": False, "steps": [{"op": "insert", "pk": pk, "set": {"username": "f15 reborn", "email": "f15@reborn.example"}}]})
    await expect(c, 0, quiet=QUIET)
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f15@patched.example"})
    await expect(c, 0, quiet=QUIET)
    await c.close()


@probe("F1.6 recreate.after_unsubscribe_before_delete", "subscribe rid 225; unsubscribe rid 225 (204); DELETE; insert same pk: anything?")
async def _(rec):
    pk = rec.new_user("f16")
    c = await rec.open("A")
    await ask(c, sub(225, pk))
    await ask(c, unsub(225, pk))
    rec.admin("DELETE", f"/admin/users/{pk}")
    await expect(c, 0, quiet=QUIET)
    steps(rec, {"atomic": False, "steps": [{"op": "insert", "pk": pk, "set": {"username": "f16 reborn", "email": "f16@reborn.example"}}]})
    await expect(c, 0, quiet=QUIET)
    await c.close()


@probe("F1.7 resubscribe.brings_back_silenced", "rids 230, 231 on X; PATCH (2 events); unsubscribe 230; PATCH (10.5: nothing); subscribe 232; PATCH")
async def _(rec):
    pk = rec.new_user("f17")
    c = await rec.open("A")
    await ask(c, sub(230, pk))
    await ask(c, sub(231, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f17a@probe.example"})
    await expect(c, 2)
    await ask(c, unsub(230, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f17b@probe.example"})
    await expect(c, 0, quiet=QUIET)
    await ask(c, sub(232, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f17c@probe.example"})
    await expect(c, 2, quiet=QUIET)
    await c.close()


@probe("F1.8 resubscribe.same_request_id", "rids 233, 234 on X; PATCH; unsubscribe 233; PATCH (nothing); subscribe 233 again; PATCH")
async def _(rec):
    pk = rec.new_user("f18")
    c = await rec.open("A")
    await ask(c, sub(233, pk))
    await ask(c, sub(234, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f18a@probe.example"})
    await expect(c, 2)
    await ask(c, unsub(233, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f18b@probe.example"})
    await expect(c, 0, quiet=QUIET)
    await ask(c, sub(233, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f18c@probe.example"})
    await expect(c, 2, quiet=QUIET)
    await c.close()


@probe("F1.9 resubscribe.after_unsubscribe_all", "rids 235, 236 on X; PATCH; unsubscribe without rid; PATCH (nothing); subscribe 237; PATCH")
async def _(rec):
    pk = rec.new_user("f19")
    c = await rec.open("A")
    await ask(c, sub(235, pk))
    await ask(c, sub(236, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f19a@probe.example"})
    await expect(c, 2)
    await ask(c, unsub("ABSENT", pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f19b@probe.example"})
    await expect(c, 0, quiet=QUIET)
    await ask(c, sub(237, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f19c@probe.example"})
    await expect(c, 1, quiet=QUIET)
    await c.close()


# ---------------------------------------------------------------------------
# F2: saves inside one transaction
# ---------------------------------------------------------------------------
def _f2(label, text, body_of, n):
    @probe(label, text)
    async def _(rec):
        pk = rec.new_user("f2")
        c = await rec.open("A")
        await ask(c, sub(300, pk))
        steps(rec, body_of(pk))
        await expect(c, n, quiet=QUIET)
        await c.close()


_f2(
    "F2.1 transaction.same_object_saved_3_times",
    "subscribe rid 300; atomic: fetch a; save a (e1), save a (e2), save a (e3)",
    lambda pk: {
        "atomic": True,
        "steps": [{"op": "fetch", "as": "a", "pk": pk}]
        + [{"op": "save", "obj": "a", "set": {"email": f"f21e{i}@probe.example"}} for i in (1, 2, 3)],
    },
    1,
)
_f2(
    "F2.2 transaction.three_fetched_objects",
    "subscribe rid 300; atomic: fetch a, b, c (same row); save a (e1), save b (e2), save c (e3)",
    lambda pk: {
        "atomic": True,
        "steps": [{"op": "fetch", "as": n, "pk": pk} for n in "abc"]
        + [{"op": "save", "obj": n, "set": {"email": f"f22e{i}@probe.example"}} for i, n in enumerate("abc", 1)],
    },
    3,
)
_f2(
    "F2.3 transaction.two_objects_one_twice",
    "subscribe rid 300; atomic: fetch a, b; save a (e1), save a (e2), save b (e3)",
    lambda pk: {
        "atomic": True,
        "steps": [{"op": "fetch", "as": "a", "pk": pk}, {"op": "fetch", "as": "b", "pk": pk}]
        + [{"op": "save", "obj": n, "set": {"email": f"f23e{i}@probe.example"}} for i, n in enumerate("aab", 1)],
    },
    2,
)
_f2(
    "F2.4 transaction.autocommit_same_object_3_times",
    "subscribe rid 300; autocommit (no transaction): fetch a; save a 3 times",
    lambda pk: {
        "atomic": False,
        "steps": [{"op": "fetch", "as": "a", "pk": pk}]
        + [{"op": "save", "obj": "a", "set": {"email": f"f24e{i}@probe.example"}} for i in (1, 2, 3)],
    },
    3,
)
_f2(
    "F2.5 transaction.rollback",
    "subscribe rid 300; atomic with rollback: fetch a; save a",
    lambda pk: {
        "atomic": True,
        "rollback": True,
        "steps": [{"op": "fetch", "as": "a", "pk": pk}, {"op": "save", "obj": "a", "set": {"email": "f25@probe.example"}}],
    },
    0,
)


# ---------------------------------------------------------------------------
# F3: argument names that collide with DCRF's own parameters
# ---------------------------------------------------------------------------
KW_NAMES = [
    "self", "scope", "consumer", "queryset", "instance", "serializer", "data", "many",
    "partial", "context", "action_kwargs", "kwargs", "args", "message", "request", "view",
    "obj", "permission", "status", "group", "lookup_field", "groups", "observer",
]
KW_ACTIONS = ["foo", "retrieve", "subscribe_instance", "unsubscribe_instance", "list", "create", "update", "patch", "delete"]


def _kw_probe(action, name):
    @probe(f"F3.1 kwarg.{action}.{name}", f"/ws/full/ {action} with an extra argument named {name!r}")
    async def _(rec):
        msg = {"action": action, "request_id": 400}
        if action in ("retrieve", "subscribe_instance", "unsubscribe_instance"):
            msg["pk"] = 1
        elif action in ("update", "patch", "delete"):
            msg["pk"] = rec.new_user("kw")
        if action == "create":
            msg["data"] = {"username": f"kw_{name}", "email": f"kw_{name}@probe.example", "password": "pw"}
        elif action == "update":
            msg["data"] = {"username": f"kwu_{name}", "email": f"kwu_{name}@probe.example", "password": "pw"}
        elif action == "patch":
            msg["data"] = {"email": f"kwp_{name}@probe.example"}
        if name != "data" or action not in ("create", "update", "patch"):
            msg[name] = 1
        c = await rec.open("A", "/ws/full/")
        await c.send(msg)
        await expect(c, 1, deadline=4.0, quiet=SHORT)
        await c.close()


for _a in KW_ACTIONS:
    for _n in KW_NAMES:
        if _n == "data" and _a in ("create", "update", "patch"):
            continue
        _kw_probe(_a, _n)


@probe("F3.2 kwarg.seed_endpoint", "/ws/ (seed consumer): unknown action 'list' with scope; retrieve with queryset")
async def _(rec):
    for msg in (
        {"action": "list", "request_id": 401, "scope": 1},
        {"action": "retrieve", "request_id": 402, "pk": 1, "queryset": 1},
        {"action": "retrieve", "request_id": 403, "pk": 1, "consumer": None},
    ):
        c = await rec.open("A")
        await c.send(msg)
        await expect(c, 1, deadline=4.0)
        await c.close()


# ---------------------------------------------------------------------------
# F4: frame size and UTF-8
# ---------------------------------------------------------------------------
def padded_retrieve(size, rid, filler="x"):
    """A retrieve of pk 1 whose UTF-8 encoding is exactly `size` bytes."""
    head = '{"action":"retrieve","request_id":%d,"pk":1,"pad":"' % rid
    tail = '"}'
    room = size - len(head.encode()) - len(tail.encode())
    unit = len(filler.encode())
    body = filler * (room // unit) + "y" * (room % unit)
    text = head + body + tail
    assert len(text.encode()) == size, (len(text.encode()), size)
    return text


def _size_probe(label, size, rid, filler="x", then_retrieve=True):
    @probe(label, f"a retrieve padded to exactly {size} bytes of UTF-8 (filler {filler!r}), one text frame")
    async def _(rec):
        c = await rec.open("A")
        text = padded_retrieve(size, rid, filler)
        await send_big(c, text, f"<text frame, {len(text.encode())} bytes, {len(text)} characters: {text[:60]}...{text[-12:]}>")
        await expect(c, 1, deadline=6.0, quiet=QUIET)
        if not c.closed and then_retrieve:
            await ask(c, {"action": "retrieve", "request_id": rid + 1, "pk": 2})
        await c.close()


_size_probe("F4.1 size.exactly_1MiB", MIB, 500)
_size_probe("F4.2 size.1MiB_plus_1", MIB + 1, 502)
_size_probe("F4.3 size.1MiB_multibyte", MIB, 504, filler="\u00e9")
_size_probe("F4.4 size.1MiB_plus_1_multibyte", MIB + 1, 506, filler="\u00e9")
_size_probe("F4.5 size.2MiB", 2 * MIB, 508)


@probe("F4.6 size.fragmented_1MiB", "a retrieve of exactly 1 MiB sent as 4 fragments of 256 KiB")
async def _(rec):
    c = await rec.open("A")
    text = padded_retrieve(MIB, 510)
    parts = [text[i : i + MIB // 4] for i in range(0, len(text), MIB // 4)]
    await send_big(c, parts, f"<text message of {MIB} bytes in {len(parts)} fragments of {MIB // 4} bytes>")
    await expect(c, 1, deadline=6.0, quiet=QUIET)
    await c.close()


@probe("F4.7 size.fragmented_1MiB_plus_1", "a retrieve of 1 MiB + 1 byte sent as 5 fragments, none above 256 KiB")
async def _(rec):
    c = await rec.open("A")
    text = padded_retrieve(MIB + 1, 512)
    parts = [text[i : i + MIB // 4] for i in range(0, len(text), MIB // 4)]
    await send_big(c, parts, f"<text message of {MIB + 1} bytes in {len(parts)} fragments, the largest {max(len(p) for p in parts)} bytes>")
    await expect(c, 1, deadline=6.0, quiet=QUIET)
    await c.close()


def _utf8_probe(label, data, what):
    @probe(label, f"a text frame whose payload is {what}")
    async def _(rec):
        c = await rec.open("A")
        await send_big(c, data, f"<text frame, bytes {data!r}>", text=True)
        await expect(c, 1, deadline=6.0, quiet=QUIET)
        await c.close()


_utf8_probe("F4.8 utf8.invalid_byte_ff", b'{"action":"retrieve","request_id":520,"pk":1,"x":"\xff"}', "a retrieve with the byte 0xFF in a string")
_utf8_probe("F4.9 utf8.truncated_sequence", b'{"action":"retrieve","request_id":521,"pk":1,"x":"\xc3"}', "a retrieve with a truncated two-byte sequence")
_utf8_probe("F4.10 utf8.encoded_surrogate", b'{"action":"retrieve","request_id":522,"pk":1,"x":"\xed\xa0\x80"}', "a retrieve with a UTF-8-encoded surrogate (ED A0 80)")


@probe("F4.11 utf8.escaped_lone_surrogate", 'valid UTF-8 text with a JSON-escaped lone surrogate "\\ud800" as request_id and argument')
async def _(rec):
    c = await rec.open("A")
    await ask(c, '{"action":"retrieve","request_id":"\\ud800","pk":1,"x":"\\udc00"}')
    await c.close()


# ---------------------------------------------------------------------------
# F5: boolean, array and object request_ids
# ---------------------------------------------------------------------------
@probe("F5.1 rid.subscribe_true", "subscribe with request_id true; PATCH; unsubscribe with true; PATCH")
async def _(rec):
    pk = rec.new_user("f51")
    c = await rec.open("A")
    await ask(c, sub(True, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f51a@probe.example"})
    await expect(c, 1)
    await ask(c, unsub(True, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f51b@probe.example"})
    await expect(c, 0, quiet=QUIET)
    await c.close()


@probe("F5.2 rid.subscribe_false", "subscribe with request_id false; PATCH; DELETE")
async def _(rec):
    pk = rec.new_user("f52")
    c = await rec.open("A")
    await ask(c, sub(False, pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f52@probe.example"})
    await expect(c, 1)
    rec.admin("DELETE", f"/admin/users/{pk}")
    await expect(c, 1, quiet=QUIET)
    await c.close()


@probe("F5.3 rid.subscribe_false_then_zero", 'subscribe false, then 0, then 0.0, then "0" on one pk; PATCH')
async def _(rec):
    pk = rec.new_user("f53")
    c = await rec.open("A")
    await ask(c, sub(False, pk))
    await ask(c, sub(0, pk))
    await ask(c, '{"action":"subscribe_instance","request_id":0.0,"pk":%d}' % pk)
    await ask(c, sub("0", pk))
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f53@probe.example"})
    await expect(c, 2, quiet=QUIET)
    await c.close()


def _unsub_odd(label, rid, subscribed):
    what = "after subscribing rid 600 to the same pk" if subscribed else "on a fresh socket"
    @probe(label, f"unsubscribe_instance pk 1 with request_id {json.dumps(rid)} {what}")
    async def _(rec):
        c = await rec.open("A")
        if subscribed:
            await ask(c, sub(600, 1))
        await c.send(unsub(rid, 1))
        await expect(c, 1, deadline=4.0, quiet=QUIET)
        if not c.closed:
            await ask(c, {"action": "retrieve", "request_id": 601, "pk": 1})
        await c.close()


_unsub_odd("F5.4 rid.unsubscribe_array_fresh", [1, 2], False)
_unsub_odd("F5.5 rid.unsubscribe_object_fresh", {"a": 1}, False)
_unsub_odd("F5.6 rid.unsubscribe_array_subscribed", [1, 2], True)
_unsub_odd("F5.7 rid.unsubscribe_object_subscribed", {"a": 1}, True)


@probe("F5.8 rid.unsubscribe_array_other_pk_subscribed", "subscribe rid 602 to pk 2; unsubscribe pk 1 with request_id [1, 2]")
async def _(rec):
    c = await rec.open("A")
    await ask(c, sub(602, 2))
    await c.send(unsub([1, 2], 1))
    await expect(c, 1, deadline=4.0, quiet=QUIET)
    await c.close()


@probe("F5.9 rid.unsubscribe_array_missing_pk_subscribed", "subscribe rid 603 to pk 1; unsubscribe pk 9999 with request_id [1, 2]")
async def _(rec):
    c = await rec.open("A")
    await ask(c, sub(603, 1))
    await c.send(unsub([1, 2], 9999))
    await expect(c, 1, deadline=4.0, quiet=QUIET)
    await c.close()


def _sub_missing(label, rid):
    @probe(label, f"subscribe_instance pk 9999 (missing) with request_id {json.dumps(rid)}")
    async def _(rec):
        c = await rec.open("A")
        await c.send(sub(rid, 9999))
        await expect(c, 1, deadline=4.0, quiet=QUIET)
        if not c.closed:
            await ask(c, {"action": "retrieve", "request_id": 604, "pk": 1})
        await c.close()


_sub_missing("F5.10 rid.subscribe_object_missing_pk", {"a": 1})
_sub_missing("F5.11 rid.subscribe_array_missing_pk", [1, 2])
_sub_missing("F5.12 rid.subscribe_true_missing_pk", True)


# ---------------------------------------------------------------------------
# F6: minor points
# ---------------------------------------------------------------------------
@probe("F6.1 minor.minus_zero", "retrieve and subscribe with request_id -0 (raw text); PATCH")
async def _(rec):
    pk = rec.new_user("f61")
    c = await rec.open("A")
    await ask(c, '{"action":"retrieve","request_id":-0,"pk":%d}' % pk)
    await ask(c, '{"action":"subscribe_instance","request_id":-0,"pk":%d}' % pk)
    rec.admin("PATCH", f"/admin/users/{pk}", {"email": "f61@probe.example"})
    await expect(c, 1)
    await c.close()


@probe("F6.2 minor.json_text", "admin creates a user whose name holds non-ASCII, a non-BMP character, quote, backslash, slash, tab, DEL and U+2028; retrieve")
async def _(rec):
    name = "\u00e9\u4e2d\U0001f600\"\\/\t\x7f\u2028<>&'"
    status, data = rec.admin("POST", "/admin/users", {"username": name, "email": "f62@probe.example"})
    c = await rec.open("A")
    await ask(c, {"action": "retrieve", "request_id": ["\u00e9", {"k": None}], "pk": data["id"]})
    await c.close()


@probe("F6.3 minor.nothing_on_connect", "open /ws/, /ws/full/ and /ws/multiplexed/ and wait without sending")
async def _(rec):
    for name, ep in (("A", "/ws/"), ("B", "/ws/full/"), ("C", "/ws/multiplexed/")):
        c = await rec.open(name, ep)
        await expect(c, 0, quiet=QUIET)
        await c.close()


@probe("F6.4 minor.reply_before_event", "/ws/full/: subscribe rid 700; 20 times: patch (rid 701..720); record the order of reply and event; then delete")
async def _(rec):
    pk = rec.new_user("f64")
    c = await rec.open("A", "/ws/full/")
    await ask(c, sub(700, pk))
    order = []
    for i in range(20):
        got = await ask(c, {"action": "patch", "request_id": 701 + i, "pk": pk, "data": {"email": f"f64n{i}@probe.example"}}, n=2, quiet=0.05)
        order.append(["reply" if json.loads(g)["request_id"] == 701 + i else "event" for g in got])
    got = await ask(c, {"action": "delete", "request_id": 721, "pk": pk}, n=2, quiet=QUIET)
    order.append(["reply" if json.loads(g)["request_id"] == 721 else "event" for g in got])
    note(rec, f"order per request: {order}")
    await c.close()


@probe("F6.5 minor.reply_before_event_other_socket", "/ws/full/: A subscribes rid 730 and B subscribes rid 731 on the same pk; 10 times: A patches")
async def _(rec):
    pk = rec.new_user("f65")
    a = await rec.open("A", "/ws/full/")
    b = await rec.open("B", "/ws/full/")
    await ask(a, sub(730, pk))
    await ask(b, sub(731, pk))
    for i in range(10):
        await a.send({"action": "patch", "request_id": 740 + i, "pk": pk, "data": {"email": f"f65n{i}@probe.example"}})
        await expect(a, 2, quiet=0.05)
        await expect(b, 1, quiet=0.05)
    await a.close()
    await b.close()


@probe("F6.6 minor.per_request_id_reread", "40 request_ids on one pk; two admin PATCHes from a thread, back to back; do the events of the first change differ between request_ids?")
async def _(rec):
    pk = rec.new_user("f66")
    c = await rec.open("A")
    for r in range(800, 840):
        await c.send(sub(r, pk))
    await expect(c, 40)
    for run in range(3):
        t = admin_async(rec, [("PATCH", f"/admin/users/{pk}", {"email": f"f66r{run}a@probe.example"}), ("PATCH", f"/admin/users/{pk}", {"email": f"f66r{run}b@probe.example"})])
        got = await expect(c, 80, deadline=10.0, quiet=1.0)
        t.join()
        first = [json.loads(g)["data"]["email"] for g in got[:40]]
        note(rec, f"run {run}: first 40 events: {first.count(f'f66r{run}a@probe.example')} show state a, {first.count(f'f66r{run}b@probe.example')} show state b")
    await c.close()


def _f67(label, text, body_of, n):
    @probe(label, text)
    async def _(rec):
        for run in range(3):
            pk = rec.new_user("f67")
            c = await rec.open(f"A{run}")
            await ask(c, sub(900 + run, pk))
            steps(rec, body_of(pk))
            await expect(c, n, quiet=QUIET)
            await c.close()


_f67(
    "F6.7 minor.update_then_delete_two_objects",
    "3 runs: subscribe; atomic: fetch a, b; save a; delete b",
    lambda pk: {
        "atomic": True,
        "steps": [
            {"op": "fetch", "as": "a", "pk": pk},
            {"op": "fetch", "as": "b", "pk": pk},
            {"op": "save", "obj": "a", "set": {"email": "f67@probe.example"}},
            {"op": "delete", "obj": "b"},
        ],
    },
    2,
)
_f67(
    "F6.8 minor.update_then_delete_same_object",
    "3 runs: subscribe; atomic: fetch a; save a; delete a",
    lambda pk: {
        "atomic": True,
        "steps": [
            {"op": "fetch", "as": "a", "pk": pk},
            {"op": "save", "obj": "a", "set": {"email": "f68@probe.example"}},
            {"op": "delete", "obj": "a"},
        ],
    },
    2,
)
_f67(
    "F6.9 minor.update_then_delete_autocommit",
    "3 runs: subscribe; autocommit, one request: fetch a; save a; delete a",
    lambda pk: {
        "atomic": False,
        "steps": [
            {"op": "fetch", "as": "a", "pk": pk},
            {"op": "save", "obj": "a", "set": {"email": "f69@probe.example"}},
            {"op": "delete", "obj": "a"},
        ],
    },
    2,
)


@probe("F6.10 minor.method_not_allowed_str", "non-string actions: null, true, false, 5, 1e2, 1.5, -0, 18446744073709551617, \"\u00e9\"; then a retrieve 404 and a retrieve 200 on the same socket")
async def _(rec):
    c = await rec.open("A")
    for i, action in enumerate(["null", "true", "false", "5", "1e2", "1.5", "-0", "18446744073709551617", '"\\u00e9"', "1E400"]):
        await ask(c, '{"action":%s,"request_id":%d}' % (action, 1000 + i))
    await ask(c, {"action": "retrieve", "request_id": 1020, "pk": 9999})
    await ask(c, {"action": "retrieve", "request_id": 1021, "pk": 1})
    await c.close()


@probe("F6.11 minor.float_request_ids", "retrieve pk 1 with float request_ids whose Python repr uses an exponent, and overflow/underflow")
async def _(rec):
    c = await rec.open("A")
    for i, rid in enumerate(["1e16", "1e15", "1.5e-7", "1e-5", "0.0001", "123456789012345678.0", "1E-400", "-1E400", "5E-324", "1.7976931348623157e308"]):
        await ask(c, '{"action":"retrieve","request_id":%s,"pk":1}' % rid)
    await c.close()


@probe("F6.12 minor.huge_integer_request_id", "retrieve pk 1 with a 4300-digit and then a 4301-digit integer request_id (Python's int_max_str_digits)")
async def _(rec):
    for name, digits in (("A", 4300), ("B", 4301)):
        c = await rec.open(name)
        text = '{"action":"retrieve","request_id":%s,"pk":1}' % ("9" * digits)
        await send_big(c, text, f"<text frame: retrieve pk 1, request_id = {digits} nines>")
        await expect(c, 1, deadline=4.0, quiet=QUIET)
        await c.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="ws://127.0.0.1:8765")
    ap.add_argument("--out", default=os.path.join(HERE, "observed", "fidelity"))
    ap.add_argument("--only", action="append", default=[], help="run probes whose label starts with this")
    ap.add_argument("--merge", action="store_true", help="keep the other probes of the existing recording in --out; replace only the probes run now")
    args = ap.parse_args()
    rec = Recorder(args.base)
    if args.merge:
        selected = {label for label, _, _ in PROBES if not args.only or any(label.startswith(p) for p in args.only)}
        with open(os.path.join(args.out, "transcripts.jsonl")) as f:
            old_events = [json.loads(line) for line in f]
        with open(os.path.join(args.out, "frames.jsonl")) as f:
            old_frames = [json.loads(line) for line in f]
    for label, text, fn in PROBES:
        if args.only and not any(label.startswith(p) for p in args.only):
            continue
        rec.start(label, text)
        try:
            await fn(rec)
        except Exception as exc:
            note(rec, f"PROBE ERROR {type(exc).__name__}: {exc}")
            print(f"   probe error: {exc!r}", file=sys.stderr)
    if args.merge:
        # Put the probes run now where they were, the others unchanged.
        def splice(old, new):
            at = next((i for i, e in enumerate(old) if e["probe"] in selected), None)
            kept = [e for e in old if e["probe"] not in selected]
            if at is None:
                return kept + new
            at = len([e for e in old[:at] if e["probe"] not in selected])
            return kept[:at] + new + kept[at:]

        rec.events = splice(old_events, rec.events)
        rec.frames = splice(old_frames, rec.frames)
    for entry in rec.frames:
        # A parsed frame holding a lone surrogate (F4.11) cannot be printed as
        # UTF-8 JSON that strict parsers accept: keep only "raw", as probe.py
        # does for NaN / Infinity.
        if entry.get("frame") is not None:
            try:
                json.dumps(entry["frame"], ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                entry["frame"] = None
                entry["frame_error"] = f"lone surrogate in a string: {exc.reason}"
    rec.write(args.out)
    md = os.path.join(args.out, "transcripts.md")
    with open(md) as f:
        text = f.read()
    with open(md, "w") as f:
        f.write(text.replace("(generated by probe.py)", "(generated by probe_fidelity.py)", 1))
    print(f"{len(rec.frames)} server frames/closes recorded in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
