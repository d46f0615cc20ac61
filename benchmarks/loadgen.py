"""A load generator light enough to share two cores with the server it measures.

Requests are complete HTTP/1.1 messages built (and signed) before the clock starts; several
processes replay them over keep-alive connections and read each answer just far enough to
know its status and length. `ceiling()` measures the generator itself against a server that
does nothing, so a report can show that the generator was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

_CANNED: Final = (
    b"HTTP/1.1 202 ACCEPTED\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)


@dataclass(frozen=True)
class Outcome:
    index: int
    start: float  # perf_counter: when it was due (open loop) or sent (closed loop)
    end: float
    status: int

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Load:
    """What a run of the generator saw."""

    outcomes: list[Outcome]
    elapsed: float  # first start to last answer
    generator_cpu: float  # seconds of CPU the generator's processes used

    def rate(self) -> float:
        return len(self.outcomes) / self.elapsed

    def latencies(self) -> list[float]:
        return [o.latency for o in self.outcomes]

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


def run(
    port: int,
    requests: Sequence[bytes],
    *,
    connections: int = 16,
    processes: int = 2,
    rate: float | None = None,
) -> Load:
    """Send every request once; as fast as the server answers, or `rate` per second.

    At a fixed rate, request i is due at start + i/rate, and its latency counts from then,
    so a server that stalls is charged for the requests it kept waiting.
    """
    processes = max(1, min(processes, connections))
    start_at = time.perf_counter() + 0.5 + 0.1 * processes
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        parts = pool.starmap(
            _drive,
            [
                (
                    port,
                    [(i, r) for i, r in enumerate(requests) if i % processes == p],
                    connections // processes + (p < connections % processes),
                    rate,
                    start_at,
                )
                for p in range(processes)
            ],
        )
    outcomes = sorted((o for part, _ in parts for o in part), key=lambda o: o.index)
    elapsed = max(o.end for o in outcomes) - min(o.start for o in outcomes)
    return Load(outcomes, elapsed, sum(cpu for _, cpu in parts))


def _drive(
    port: int,
    work: list[tuple[int, bytes]],
    connections: int,
    rate: float | None,
    start_at: float,
) -> tuple[list[Outcome], float]:
    """One generator process: `connections` threads sharing `work` in order."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    lock = threading.Lock()
    pending = iter(work)
    results: list[Outcome] = []

    def connection() -> None:
        sock = _connect(port)
        while True:
            with lock:
                item = next(pending, None)
            if item is None:
                break
            index, request = item
            due = start_at + index / rate if rate else None
            now = time.perf_counter()
            wait = (due if due is not None else start_at) - now
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            status, sock = _exchange(sock, port, request)
            results.append(
                Outcome(index, due if due is not None else sent, time.perf_counter(), status)
            )
        sock.close()

    threads = [threading.Thread(target=connection) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return results, cpu


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _exchange(sock: socket.socket, port: int, request: bytes) -> tuple[int, socket.socket]:
    """Send one request and read its answer; reconnect and resend if the server closed.

    Resending is safe: a redelivered webhook id gets the first answer back.
    """
    for _attempt in range(5):
        try:
            sock.sendall(request)
            status = _read_response(sock)
        except (ConnectionError, _Closed):
            sock.close()
            sock = _connect(port)
            continue
        return status, sock
    raise ConnectionError("the server kept closing the connection")


class _Closed(Exception):
    pass


def _read_response(sock: socket.socket) -> int:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed
        body += chunk
    return status


# --- the generator's own ceiling --------------------------------------------------------


def ceiling(requests: Sequence[bytes], *, connections: int = 16, processes: int = 2) -> Load:
    """The generator against a server that answers every request with a canned 202."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    port_value = context.Value("i", 0)
    server = context.Process(target=_canned_server, args=(port_value, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the canned server did not start")
        return run(port_value.value, requests, connections=connections, processes=processes)
    finally:
        server.terminate()
        server.join()


def _canned_server(
    port_value: multiprocessing.sharedctypes.Synchronized[int], ready: object
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(_CANNED)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port_value.value = server.sockets[0].getsockname()[1]
        ready.set()  # type: ignore[attr-defined]
        await server.serve_forever()

    asyncio.run(serve())
