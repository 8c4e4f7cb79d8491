"""Smoke test of the shop app across two Daphne processes, by hand.

    .venv/bin/python smoke.py [--layer redis|memory|both] [--transcript FILE]

Starts what it needs on free loopback ports (a redis-server with no
persistence for --layer redis, and `serve.sh PORT_A PORT_B`), then checks:

  redis   retrieve + subscribe on process A, PATCH through the hook of process B:
          the update event reaches A; the same through B's CRUD socket; create
          and delete across processes; Origin and token handling; DRF validation
          messages over the CRUD socket and the hook
  memory  the same subscription gets NO event within the quiet window when the
          change goes through B (the channel layer is per process), and does get
          one when it goes through A

Every frame sent and received is printed (and written to --transcript as
Markdown), with the volatile parts (ports, timestamps, generated UUIDs) shown
as they were.  Exit status 0 when every check holds, 1 otherwise.
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
import urllib.error
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "smoke-token-1"
ORIGIN = "http://127.0.0.1"
SEEDED = "00000000-0000-4000-8000-000000000001"
SEEDED_2 = "00000000-0000-4000-8000-000000000002"
MISSING = "00000000-0000-4000-8000-0000000000ff"
QUIET = 2.0  # seconds without an event that count as "no event"
DEADLINE = 10.0  # seconds for any expected frame


class Transcript:
    """Prints every step and keeps it as Markdown (frames in code blocks)."""

    def __init__(self):
        self.lines = []
        self.in_code = False

    def _prose(self, text):
        if self.in_code:
            self.lines.append("```")
            self.in_code = False
        self.lines.append(text)

    def section(self, title):
        print(f"\n## {title}")
        self._prose(f"\n### {title}\n")

    def note(self, text):
        print(f"   {text}")
        self._prose(f"- {text}")

    def frame(self, arrow, who, payload):
        text = payload if isinstance(payload, str) else json.dumps(payload)
        print(f"   {arrow} {who}: {text}")
        if not self.in_code:
            self.lines.append("```")
            self.in_code = True
        self.lines.append(f"{arrow} {who}: {text}")

    def end_block(self):
        self._prose("")

    def markdown(self):
        self._prose("")
        return "\n".join(self.lines) + "\n"


T = Transcript()
FAILURES = []


def check(condition, message):
    if condition:
        T.note(f"OK: {message}")
    else:
        T.note(f"FAILED: {message}")
        FAILURES.append(message)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- processes ---------------------------------------------------------------

def start_redis():
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def start_shop(layer, redis_url, db):
    ports = [free_port(), free_port()]
    env = dict(os.environ, SHOP_CHANNEL_LAYER=layer, SHOP_DB=db, SHOP_TOKEN=TOKEN)
    if redis_url:
        env["SHOP_REDIS_URL"] = redis_url
    log = open(os.path.join(tempfile.gettempdir(), f"shop-smoke-{layer}.log"), "wb")
    proc = subprocess.Popen(
        ["bash", os.path.join(HERE, "serve.sh"), *map(str, ports)],
        env=env, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
    )
    urls = []
    deadline = time.monotonic() + 90
    while len(urls) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        if line.startswith("listening on "):
            urls.append(line[len("listening on "):].strip())
    if len(urls) < 2:
        proc.kill()
        raise SystemExit(f"serve.sh did not start; see {log.name}")
    return proc, ports, urls


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- HTTP hook ---------------------------------------------------------------

def hook(port, method, path, body=None, token=TOKEN, content_type="application/json"):
    url = f"http://127.0.0.1:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if data is not None:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    T.frame(">>", f"HTTP :{port}", f"{method} {path} {json.dumps(body) if body is not None else ''}".rstrip())
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    T.frame("<<", f"HTTP :{port}", f"{status} {text}")
    return status, (json.loads(text) if text else None)


# --- WebSocket ---------------------------------------------------------------

class Socket:
    def __init__(self, name, ws):
        self.name = name
        self.ws = ws

    async def send(self, frame):
        T.frame(">>", self.name, frame)
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout=DEADLINE):
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        T.frame("<<", self.name, frame)
        return frame

    async def quiet(self, window=QUIET):
        """Frames received within `window` seconds (normally none)."""
        frames = []
        end = time.monotonic() + window
        while (left := end - time.monotonic()) > 0:
            try:
                frames.append(await self.recv(timeout=left))
            except asyncio.TimeoutError:
                break
        return frames

    async def request(self, frame):
        await self.send(frame)
        return await self.recv()


async def open_socket(name, url, origin=ORIGIN, token=TOKEN, via="header"):
    headers = {}
    if token and via == "header":
        headers["Authorization"] = f"Bearer {token}"
    if token and via == "query":
        url = f"{url}?token={token}"
    T.note(f"open {name}: {url} Origin={origin!r} token={'none' if not token else via}")
    ws = await connect(url, origin=origin, additional_headers=headers, proxy=None,
                       open_timeout=DEADLINE)
    return Socket(name, ws)


async def refused(name, url, origin, headers=None):
    T.note(f"open {name}: {url} Origin={origin!r}")
    try:
        ws = await connect(url, origin=origin, additional_headers=headers or {},
                           proxy=None, open_timeout=DEADLINE)
    except InvalidStatus as exc:
        T.frame("<<", name, f"handshake refused: HTTP {exc.response.status_code}")
        return exc.response.status_code
    await ws.close()
    T.frame("<<", name, "handshake accepted")
    return None


# --- scenarios ---------------------------------------------------------------

async def scenario_redis(ports, urls):
    a_port, b_port = ports
    a_url, b_url = urls
    a_crud, b_crud = a_url + "crud/", b_url + "crud/"

    T.section("redis: retrieve and subscribe on A, PATCH through the hook of B")
    a = await open_socket("A", a_url, via="query")
    reply = await a.request({"action": "retrieve", "request_id": 1, "pk": SEEDED})
    check(reply["response_status"] == 200 and reply["data"]["id"] == SEEDED, "retrieve 200")
    reply = await a.request({"action": "subscribe_instance", "request_id": 2, "pk": SEEDED})
    check(reply["response_status"] == 201 and reply["data"] is None, "subscribe_instance 201")
    status, _ = hook(b_port, "PATCH", f"/hook/products/{SEEDED}/",
                     {"price": "13.75", "in_stock": False})
    check(status == 200, "hook PATCH on B: 200")
    event = await a.recv()
    check(event["action"] == "update" and event["request_id"] == 2
          and event["data"]["price"] == "13.75" and event["data"]["in_stock"] is False,
          "the update event reaches A across processes")
    extra = await a.quiet()
    check(extra == [], f"exactly one event per save (got {1 + len(extra)})")
    T.end_block()

    T.section("redis: PATCH through the CRUD socket of B, event on A")
    b = await open_socket("B-crud", b_crud, via="header")
    reply = await b.request({"action": "patch", "request_id": 10, "pk": SEEDED,
                             "data": {"name": "Ethiopia Yirgacheffe 250 g (new crop)"}})
    check(reply["response_status"] == 200, "patch over B's CRUD socket: 200")
    event = await a.recv()
    check(event["action"] == "update" and event["data"]["name"].endswith("(new crop)"),
          "A gets the update made through B's socket")
    check(await a.quiet() == [], "no second event")
    T.end_block()

    T.section("redis: create on B, subscribe on A, delete on B")
    status, body = hook(b_port, "POST", "/hook/products/",
                        {"name": "Smoke kettle", "price": "39.90", "category": "equipment",
                         "secret_note": "never echoed"})
    check(status == 201 and "secret_note" not in body["product"], "hook POST 201, secret_note not echoed")
    new_pk = body["product"]["id"]
    reply = await a.request({"action": "subscribe_instance", "request_id": 3, "pk": new_pk})
    check(reply["response_status"] == 201, "subscribe to the created product on A")
    status, _ = hook(b_port, "DELETE", f"/hook/products/{new_pk}/")
    check(status == 204, "hook DELETE on B: 204")
    event = await a.recv()
    check(event["action"] == "delete" and event["data"] == {"pk": new_pk}
          and event["response_status"] == 204, "A gets the delete event with data {pk}")
    T.end_block()

    T.section("redis: unsubscribe on A, change on B: silence")
    reply = await a.request({"action": "unsubscribe_instance", "request_id": 2, "pk": SEEDED})
    check(reply["response_status"] == 204, "unsubscribe_instance 204")
    hook(b_port, "PATCH", f"/hook/products/{SEEDED}/", {"in_stock": True})
    check(await a.quiet() == [], "no event after unsubscribe")
    T.end_block()

    T.section("redis: fan-out to subscribers on both processes; unsubscribe on one")
    a2 = await open_socket("A2", a_url, via="header")
    b2 = await open_socket("B2", b_url, via="query")
    await a2.request({"action": "subscribe_instance", "request_id": 30, "pk": SEEDED_2})
    await b2.request({"action": "subscribe_instance", "request_id": 31, "pk": SEEDED_2})
    hook(a_port, "PATCH", f"/hook/products/{SEEDED_2}/", {"category": "accessories"})
    event_a, event_b = await a2.recv(), await b2.recv()
    check(event_a["request_id"] == 30 and event_b["request_id"] == 31
          and event_a["data"] == event_b["data"],
          "a change through A reaches the subscribers on A and on B, same data")
    reply = await b2.request({"action": "unsubscribe_instance", "request_id": 31, "pk": SEEDED_2})
    check(reply["response_status"] == 204, "unsubscribe on B")
    hook(b_port, "PATCH", f"/hook/products/{SEEDED_2}/", {"category": "equipment"})
    event_a = await a2.recv()
    check(event_a["request_id"] == 30 and event_a["data"]["category"] == "equipment",
          "A's subscription is unaffected by B's unsubscribe")
    check(await b2.quiet() == [], "B, unsubscribed, gets nothing")
    await a2.ws.close()
    await b2.ws.close()
    T.end_block()

    T.section("redis: errors over the observer endpoint")
    await a.request({"action": "retrieve", "request_id": 20, "pk": MISSING})
    await a.request({"action": "retrieve", "request_id": 21, "pk": "not-a-uuid"})
    await a.request({"action": "subscribe_instance", "request_id": 22, "pk": MISSING})
    reply = await a.request({"action": "list", "request_id": 23})
    check(reply["response_status"] == 405, "list is not an action of the observer endpoint: 405")
    T.end_block()

    T.section("redis: DRF validation over B's CRUD socket (create)")
    cases = [
        ("missing name", {"price": "1.00"}),
        ("price wrong type", {"name": "Smoke v1", "price": "abc"}),
        ("price as a JSON object", {"name": "Smoke v2", "price": {"x": 1}}),
        ("name too long", {"name": "x" * 101, "price": "1.00"}),
        ("price with 3 decimals", {"name": "Smoke v3", "price": "1.234"}),
        ("price with 7 digits", {"name": "Smoke v4", "price": "1234567.00"}),
        ("bad category", {"name": "Smoke v5", "price": "1.00", "category": "tea"}),
        ("in_stock wrong type", {"name": "Smoke v6", "price": "1.00", "in_stock": "maybe"}),
        ("duplicate name", {"name": "Hand grinder", "price": "1.00"}),
        ("empty name", {"name": "", "price": "1.00"}),
    ]
    for i, (label, data) in enumerate(cases):
        T.note(f"{label}:")
        reply = await b.request({"action": "create", "request_id": 100 + i, "data": data})
        check(reply["response_status"] == 400, f"{label}: 400")
    reply = await b.request({"action": "create", "request_id": 199,
                             "data": {"name": "Smoke ok", "price": 2.5, "in_stock": "true"}})
    check(reply["response_status"] == 201 and reply["data"]["price"] == "2.50",
          "create with a JSON number price and a string boolean: 201, price \"2.50\"")
    await b.request({"action": "patch", "request_id": 198, "pk": SEEDED_2,
                     "data": {"price": "-1.001"}})
    await b.request({"action": "update", "request_id": 197, "pk": SEEDED_2,
                     "data": {"price": "5.00"}})
    await b.request({"action": "delete", "request_id": 196, "pk": reply["data"]["id"]})
    T.end_block()

    T.section("redis: the same validation through the hook")
    for label, data in cases:
        T.note(f"{label}:")
        status, _ = hook(b_port, "POST", "/hook/products/", data)
        check(status == 400, f"hook {label}: 400")
    hook(b_port, "POST", "/hook/products/", {"name": "x", "price": "1.00", "id": SEEDED})
    hook(b_port, "POST", "/hook/products/", {"name": "x", "price": "1.00", "colour": "red"})
    hook(b_port, "POST", "/hook/products/", {"name": "x", "price": "1.00"}, content_type="text/plain")
    hook(b_port, "PATCH", f"/hook/products/{MISSING}/", {"price": "1.00"})
    hook(b_port, "PATCH", "/hook/products/not-a-uuid/", {"price": "1.00"})
    hook(b_port, "GET", f"/hook/products/{SEEDED}/", token=None)
    hook(b_port, "GET", f"/hook/products/{SEEDED}/", token="wrong")
    hook(b_port, "PUT", f"/hook/products/{SEEDED}/", {"price": "1.00"})
    T.end_block()

    T.section("redis: Origin check (AllowedHostsOriginValidator)")
    check(await refused("no-origin", a_url + f"?token={TOKEN}", None) == 403,
          "no Origin header: handshake refused with 403")
    check(await refused("foreign-origin", a_url + f"?token={TOKEN}", "http://evil.example") == 403,
          "foreign Origin: handshake refused with 403")
    check(await refused("localhost-origin", a_url + f"?token={TOKEN}",
                        f"http://localhost:{a_port}") is None,
          "Origin http://localhost:PORT: accepted")
    T.end_block()

    T.section("redis: no token / wrong token: handshake OK, every action 403")
    for label, kwargs in (("anon", {"token": None}), ("wrong-token", {"token": "nope", "via": "query"})):
        s = await open_socket(label, a_url, **kwargs)
        reply = await s.request({"action": "retrieve", "request_id": 1, "pk": SEEDED})
        check(reply["response_status"] == 403
              and reply["errors"] == ["You do not have permission to perform this action."],
              f"{label}: retrieve 403")
        reply = await s.request({"action": "subscribe_instance", "request_id": 2, "pk": SEEDED})
        check(reply["response_status"] == 403, f"{label}: subscribe_instance 403")
        reply = await s.request({"action": "no_such_action", "request_id": 3})
        check(reply["response_status"] == 403, f"{label}: unknown action 403 (permission first)")
        await s.ws.close()
    s = await open_socket("anon-crud", a_crud, token=None)
    reply = await s.request({"action": "create", "request_id": 4,
                             "data": {"name": "anon", "price": "1.00"}})
    check(reply["response_status"] == 403, "anon create 403")
    await s.ws.close()
    T.end_block()

    await a.ws.close()
    await b.ws.close()


async def scenario_memory(ports, urls):
    a_port, b_port = ports
    a_url, _ = urls
    T.section("memory: subscribe on A, PATCH through the hook of B: no event")
    a = await open_socket("A", a_url, via="header")
    await a.request({"action": "subscribe_instance", "request_id": 2, "pk": SEEDED})
    status, _ = hook(b_port, "PATCH", f"/hook/products/{SEEDED}/", {"price": "14.00"})
    check(status == 200, "hook PATCH on B: 200 (the row did change)")
    frames = await a.quiet()
    check(frames == [], f"no event on A within {QUIET:.0f} s (InMemoryChannelLayer is per process)")
    reply = await a.request({"action": "retrieve", "request_id": 3, "pk": SEEDED})
    check(reply["data"]["price"] == "14.00", "yet A reads the new price from the shared DB")
    T.end_block()
    T.section("memory: PATCH through the hook of A: the event arrives on A, not on B")
    b = await open_socket("B", urls[1], via="header")
    await b.request({"action": "subscribe_instance", "request_id": 5, "pk": SEEDED})
    hook(a_port, "PATCH", f"/hook/products/{SEEDED}/", {"price": "15.00"})
    event = await a.recv()
    check(event["action"] == "update" and event["data"]["price"] == "15.00",
          "same process: event delivered")
    check(await b.quiet() == [], "the subscriber on B gets nothing")
    await b.ws.close()
    T.end_block()
    await a.ws.close()


def run(layer):
    redis_proc = None
    redis_url = None
    db = tempfile.mktemp(prefix=f"shop-smoke-{layer}-", suffix=".sqlite3")
    if layer == "redis":
        redis_proc, redis_url = start_redis()
    shop = None
    try:
        shop, ports, urls = start_shop(layer, redis_url, db)
        T.note(f"processes: {urls}" + (f", {redis_url}" if redis_url else ""))
        scenario = scenario_redis if layer == "redis" else scenario_memory
        asyncio.run(asyncio.wait_for(scenario(ports, urls), 180))
    finally:
        if shop is not None:
            stop(shop)
        if redis_proc is not None:
            stop(redis_proc)
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(db + suffix)
            except FileNotFoundError:
                pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layer", choices=["redis", "memory", "both"], default="both")
    parser.add_argument("--transcript", help="write the frames as Markdown to this file")
    args = parser.parse_args()
    for layer in (["redis", "memory"] if args.layer == "both" else [args.layer]):
        run(layer)
    if args.transcript:
        with open(args.transcript, "w") as out:
            out.write(T.markdown())
    print(f"\n{len(FAILURES)} failed" + (": " + "; ".join(FAILURES) if FAILURES else ""))
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
