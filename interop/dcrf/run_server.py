"""Run daphne in-process on 127.0.0.1:PORT and print the readiness line.

Prints exactly `listening on ws://127.0.0.1:PORT/ws/` on stdout once
GET /healthz returns 200; all logging goes to stderr.  Exits non-zero if the
server is not up within 30 s.
"""
import os
import sys
import threading
import time
import urllib.request

HOST = "127.0.0.1"


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    url = f"http://{HOST}:{port}/healthz"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200 and resp.read() == b"ok":
                    sys.stdout.write(f"listening on ws://{HOST}:{port}/ws/\n")
                    sys.stdout.flush()
                    return
        except Exception:
            pass
        time.sleep(0.1)
    sys.stderr.write(f"server did not become ready on port {port}\n")
    sys.stderr.flush()
    os._exit(1)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dcrfsite.settings")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    threading.Thread(target=wait_ready, args=(port,), daemon=True).start()
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(
        [
            "-b", HOST,
            "-p", str(port),
            "--access-log", "/dev/stderr",
            "dcrfsite.asgi:application",
        ]
    )


if __name__ == "__main__":
    main()
