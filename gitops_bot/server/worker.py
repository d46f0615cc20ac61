"""A gunicorn worker that reads whole requests before a thread serves them."""

from __future__ import annotations

import contextlib
import errno
import json
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any, Literal

from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker

# Real senders' heads are well under 64 KiB. Past it the loop stops buffering (each of a
# worker's 1,000 connections may hold this much) and gunicorn's parser, with its own
# limits, reads the rest in a thread, one bounded read at a time.
MAX_HEAD_BYTES = 64 * 1024
Verdict = Literal["more", "complete", "too_large"]


def verdict(buffered: bytes, max_body_bytes: int) -> Verdict:
    """Whether `buffered` holds a whole HTTP/1 request, needs more, or announces too big a body.

    Anything malformed counts as complete: gunicorn's parser then answers it with a 400.
    """
    head_end = buffered.find(b"\r\n\r\n")
    if head_end < 0:
        return "complete" if len(buffered) > MAX_HEAD_BYTES else "more"
    body = buffered[head_end + 4 :]
    fields: dict[bytes, bytes] = {}
    for line in buffered[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    if b"chunked" in fields.get(b"transfer-encoding", b""):
        return _chunked(body, max_body_bytes)
    length = fields.get(b"content-length")
    if length is None or not length.isdigit():
        return "complete"
    if int(length) > max_body_bytes:
        return "too_large"
    return "complete" if len(body) >= int(length) else "more"


def _chunked(body: bytes, max_body_bytes: int) -> Verdict:
    if len(body) > 4 * max_body_bytes:
        # Chunk framing around tiny chunks could otherwise make the buffer grow without end.
        return "too_large"
    position = 0
    received = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            return "more"
        size_text = body[position:line_end].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return "complete"
        if size == 0:
            # Trailers, if any, end with an empty line.
            rest = body[line_end + 2 :]
            return "complete" if rest.startswith(b"\r\n") or b"\r\n\r\n" in rest else "more"
        received += size
        if received > max_body_bytes:
            return "too_large"
        position = line_end + 2 + size + 2
        if position > len(body):
            return "more"


class BoundedSocket(socket.socket):
    """A client socket whose blocking reads and writes give up after `timeout` seconds.

    gunicorn switches sockets to blocking mode before a thread reads from them; here that
    mode has a timeout, so a request the buffering could not vouch for (a read-ahead on a
    kept-alive connection, say) holds a thread for seconds, not for ever.
    """

    limit: float = 10.0

    def setblocking(self, flag: bool) -> None:  # noqa: FBT001 (socket's own signature)
        if flag:
            self.settimeout(self.limit)
        else:
            super().setblocking(False)  # noqa: FBT003


def _answer(sock: socket.socket, status: str, problem: dict[str, str]) -> None:
    body = json.dumps(problem).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    # A client that is gone or not reading gets nothing more: closing is all that is left.
    with contextlib.suppress(OSError):
        sock.send(head + body)


class BufferingThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, except that the event loop reads each request in full before a thread runs it.

    A thread is taken only by a request that is all there, so clients that send a byte now
    and then cost a buffer in the loop, not a thread; one that has not sent its whole
    request within `read_timeout` seconds gets a 408 and is closed, and one announcing a
    body over `max_body_bytes` gets a 413 before sending it. TLS and HTTP/2 prior-knowledge
    connections (neither is used by `gitops-bot serve` out of the box) take gthread's path.
    """

    read_timeout: float = 10.0
    max_body_bytes: int = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: deque[TConn] = deque()
        self.socket_class = type("Bounded", (BoundedSocket,), {"limit": self.read_timeout})

    def accept(self, listener: socket.socket) -> None:
        if self.cfg.is_ssl:
            super().accept(listener)
            return
        try:
            plain, client = listener.accept()
        except OSError as problem:
            if problem.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        family, kind, proto = plain.family, plain.type, plain.proto
        client_sock = self.socket_class(family, kind, proto, fileno=plain.detach())
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client, listener.getsockname())
        if negotiation.prior_knowledge_allowed(self.cfg, client):
            client_sock.setblocking(True)  # noqa: FBT003
            self.enqueue_req(conn)
            return
        self._read_request(conn)

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        if self.cfg.is_ssl or conn.is_http2:
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_request(conn)

    def _read_request(self, conn: TConn) -> None:
        conn.buffered = bytearray()
        conn.continued = False
        conn.timeout = time.monotonic() + self.read_timeout
        self.reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    def _on_bytes(self, conn: TConn, _sock: socket.socket) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if conn.buffered.strip():
                # The client ended its half before the request did: say so, as gunicorn's
                # own parser would, rather than close without a word.
                _answer(
                    conn.sock,
                    "400 Bad Request",
                    {"error": "the request ended before its body did", "field": "body"},
                )
            self._drop(conn)
            return
        conn.buffered += data
        state = verdict(bytes(conn.buffered), self.max_body_bytes)
        if state == "too_large":
            _answer(
                conn.sock,
                "413 Content Too Large",
                # The same words as the app's own 413, which a sender may already match on.
                {"error": f"body is larger than {self.max_body_bytes} bytes", "field": "body"},
            )
            self._drop(conn)
        elif state == "complete":
            self.poller.unregister(conn.sock)
            self.reading.remove(conn)
            conn.init()
            conn.parser.unreader.unread(bytes(conn.buffered))
            conn.data_ready = True
            self.enqueue_req(conn)
        elif not conn.continued and b"100-continue" in conn.buffered.lower():
            # Without it, a client that waits for the go-ahead would send its body late.
            conn.continued = True
            try:
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                self._drop(conn)

    def _drop(self, conn: TConn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.reading.remove(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        # Appended with the same timeout, so the oldest come first.
        while self.reading and self.reading[0].timeout <= now:
            conn = self.reading[0]
            if conn.buffered:
                message = f"the request was not all sent within {self.read_timeout:g} s"
                _answer(conn.sock, "408 Request Timeout", {"error": message})
            self._drop(conn)


def bounded_worker(*, read_timeout: float, max_body_bytes: int) -> type[BufferingThreadWorker]:
    """The worker class with these limits, for gunicorn's `worker_class` setting."""
    return type(
        "BufferingThreadWorker",
        (BufferingThreadWorker,),
        {"read_timeout": read_timeout, "max_body_bytes": max_body_bytes},
    )
