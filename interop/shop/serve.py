"""Run N Daphne processes of the shop app on 127.0.0.1, one per port.

    python serve.py PORT [PORT ...]

All processes share the SQLite file $SHOP_DB and the channel layer that the
environment names (SHOP_CHANNEL_LAYER / SHOP_REDIS_URL, see shopsite/settings.py).
The caller (serve.sh) has migrated and seeded the database already.

stdout: once every process answers GET /healthz, one line per port, in the
order given:  `listening on ws://127.0.0.1:PORT/api/live/products/`.
Nothing else goes to stdout; Daphne's logs go to stderr, each line prefixed
with `[PORT] `.

SHOP_READY_TIMEOUT (seconds, default 120) bounds the wait for /healthz.

SIGTERM / SIGINT stop every Daphne process (SIGTERM, then SIGKILL after 5 s).
If this launcher is SIGKILLed, the kernel sends SIGTERM to the children
(PR_SET_PDEATHSIG).  If one Daphne process exits, the others are stopped and
the launcher exits 1.
"""
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HOST = "127.0.0.1"
WS_PATH = "/api/live/products/"
HERE = os.path.dirname(os.path.abspath(__file__))
PR_SET_PDEATHSIG = 1


def log(message):
    sys.stderr.write(f"serve.py: {message}\n")
    sys.stderr.flush()


def die_with_parent(parent_pid):
    """preexec_fn: SIGTERM this child when the launcher dies (Linux)."""

    def preexec():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent_pid:  # the launcher died before prctl
            os._exit(1)

    return preexec


def forward_stderr(port, stream):
    for line in iter(stream.readline, b""):
        sys.stderr.buffer.write(f"[{port}] ".encode() + line)
        sys.stderr.buffer.flush()
    stream.close()


def healthy(port):
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=1) as resp:
            return resp.status == 200 and resp.read() == b"ok"
    except Exception:
        return False


def check_redis():
    if os.environ.get("SHOP_CHANNEL_LAYER", "memory") != "redis":
        return
    url = os.environ.get("SHOP_REDIS_URL")
    if not url:
        log("SHOP_CHANNEL_LAYER=redis needs SHOP_REDIS_URL")
        sys.exit(2)
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:  # redis.exceptions.RedisError, ValueError (bad URL)
        log(f"cannot reach Redis at {url}: {exc}")
        sys.exit(2)


def parse_ports(args):
    ports = []
    for arg in args:
        if not arg.isdigit() or not 0 < int(arg) < 65536:
            log(f"bad port: {arg!r}")
            sys.exit(2)
        ports.append(int(arg))
    if len(set(ports)) != len(ports):
        log("the same port is given twice")
        sys.exit(2)
    return ports


def ready_timeout():
    text = os.environ.get("SHOP_READY_TIMEOUT", "120")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 3600:
        log(f"SHOP_READY_TIMEOUT must be a number of seconds in (0, 3600), not {text!r}")
        sys.exit(2)
    return value


def main():
    ports = parse_ports(sys.argv[1:] or ["8001", "8002"])
    timeout = ready_timeout()
    check_redis()
    daphne = os.path.join(os.path.dirname(sys.executable), "daphne")
    children = {}
    stopping = threading.Event()

    def stop(*_):
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    for port in ports:
        child = subprocess.Popen(
            [daphne, "-b", HOST, "-p", str(port), "--access-log", "-",
             "shopsite.asgi:application"],
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(os.getpid()),
        )
        children[port] = child
        threading.Thread(target=forward_stderr, args=(port, child.stdout), daemon=True).start()

    status = 0
    announced = False
    deadline = time.monotonic() + timeout
    while not stopping.is_set():
        dead = [port for port, child in children.items() if child.poll() is not None]
        if dead:
            log(f"daphne on port(s) {dead} exited ({[children[p].returncode for p in dead]})")
            status = 1
            break
        if not announced:
            if all(healthy(port) for port in ports):
                for port in ports:
                    sys.stdout.write(f"listening on ws://{HOST}:{port}{WS_PATH}\n")
                sys.stdout.flush()
                announced = True
            elif time.monotonic() > deadline:
                log(f"not every daphne process answered /healthz within {timeout:.0f} s")
                status = 1
                break
        stopping.wait(0.1 if not announced else 0.5)

    for child in children.values():
        if child.poll() is None:
            child.terminate()
    end = time.monotonic() + 5
    for child in children.values():
        try:
            child.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    sys.exit(status)


if __name__ == "__main__":
    main()
