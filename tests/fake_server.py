"""A server process for lifecycle tests: takes `vllm serve`'s command line, serves no model.

    python tests/fake_server.py MODEL --host H --port P [--enable-lora ...] [--fake-* ...]

It prints `pid N` (and `child N` for a child it starts) so a test can check they are gone.
--fake-never-healthy: /health answers 503 forever. --fake-exit CODE: exit at once.
--fake-ignore-term: ignore SIGTERM (only SIGKILL stops it). --fake-child: start a child
process in the same group that also ignores SIGTERM (as an engine worker might).
Every other request is answered 500, so a run against it fails.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import subprocess
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" and self.healthy else 503)
        self.end_headers()

    def do_POST(self) -> None:
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "fake server"}}')

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--fake-never-healthy", action="store_true")
    p.add_argument("--fake-exit", type=int)
    p.add_argument("--fake-ignore-term", action="store_true")
    p.add_argument("--fake-child", action="store_true")
    args, _ = p.parse_known_args()
    print(f"pid {os.getpid()}", flush=True)
    if args.fake_exit is not None:
        sys.exit(args.fake_exit)
    if args.fake_ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.fake_child:
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
        child = subprocess.Popen([sys.executable, "-c", code])
        print(f"child {child.pid}", flush=True)
    Handler.healthy = not args.fake_never_healthy
    http.server.ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
