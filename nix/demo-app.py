"""A stand-in tenant application: answers every request with the tenant's slug.

It serves HTTP on the listening socket systemd hands it (socket activation: LISTEN_FDS=1,
the socket as fd 3), or with --socket on a unix socket of its own, for tests run by hand.
With TENANT_IDLE_STOP_SECONDS set it exits cleanly after that long without a request; the
socket, still held by systemd, starts it again on the next one. On SIGTERM, and before an idle
exit, it stops accepting and finishes the requests it has accepted: connections not yet accepted
wait in the socket's backlog for the next instance, so a restart drops none. nix/demo-app.nix
wraps this file for NixOS; tests/system/test_demo_app.py runs it under Debian's
systemd-socket-activate.
"""

from __future__ import annotations

import argparse
import http.server
import os
import pathlib
import signal
import socket
import socketserver
import sys
import threading
import time
from typing import Any

SD_LISTEN_FDS_START = 3
Request = socket.socket | tuple[bytes, socket.socket]  # what socketserver hands a handler
# How long an exit waits for accepted requests to finish; systemd's TimeoutStopSec is 90 s.
DRAIN_SECONDS = 30.0


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        self.server.touch()
        body = f"hello from {self.server.slug}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        sys.stderr.write(format % args + "\n")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, listener: socket.socket, slug: str) -> None:
        # Bind nothing: the socket is already listening (systemd's, or ours).
        super().__init__("", Handler, bind_and_activate=False)
        self.socket.close()  # the unbound one socketserver made
        self.socket = listener
        self.slug = slug
        self.last_request = time.monotonic()
        self.in_flight = 0
        self.finished = threading.Condition()

    def touch(self) -> None:
        self.last_request = time.monotonic()

    def process_request(self, request: Request, client_address: Any) -> None:
        # Count the request from its accept, so that an idle stop or SIGTERM waits for it.
        with self.finished:
            self.in_flight += 1
        self.touch()
        super().process_request(request, client_address)

    def process_request_thread(self, request: Request, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.touch()
            with self.finished:
                self.in_flight -= 1
                self.finished.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait for the accepted requests to finish (serve_forever has returned: no new ones)."""
        with self.finished:
            return self.finished.wait_for(lambda: self.in_flight == 0, timeout)


def inherited_socket() -> socket.socket | None:
    """The listening socket systemd passed, if it passed one to this very process."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    if int(os.environ.get("LISTEN_FDS", "0")) != 1:
        raise SystemExit("expected exactly one socket from systemd (LISTEN_FDS=1)")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return socket.socket(fileno=SD_LISTEN_FDS_START)


def own_socket(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pathlib.Path(path).unlink(missing_ok=True)
    listener.bind(path)
    listener.listen(128)
    return listener


def stop_when_idle(server: Server, idle_seconds: float) -> None:
    while True:
        time.sleep(min(idle_seconds, 1.0))
        if time.monotonic() - server.last_request >= idle_seconds:
            server.shutdown()
            return


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-directory", required=True)
    parser.add_argument("--socket", help="listen here instead of on systemd's socket")
    args = parser.parse_args()
    slug = os.environ.get("TENANT_SLUG", "unknown")
    pathlib.Path(args.state_directory, "started").write_text("ok\n")
    listener = inherited_socket()
    if listener is None:
        if args.socket is None:
            parser.error("no socket from systemd and no --socket")
        listener = own_socket(args.socket)
    server = Server(listener, slug)
    idle = os.environ.get("TENANT_IDLE_STOP_SECONDS")
    if idle:
        threading.Thread(target=stop_when_idle, args=(server, float(idle)), daemon=True).start()
    # shutdown() waits for serve_forever, which runs in this (the signal handler's) thread.
    signal.signal(
        signal.SIGTERM,
        lambda _signum, _frame: threading.Thread(target=server.shutdown, daemon=True).start(),
    )
    server.serve_forever(poll_interval=0.2)
    if not server.drain(DRAIN_SECONDS):
        sys.stderr.write(f"exiting with requests unfinished after {DRAIN_SECONDS} s\n")
    # Leave the socket open for systemd: detach instead of closing it.
    listener.detach()
    return 0


if __name__ == "__main__":
    sys.exit(main())
