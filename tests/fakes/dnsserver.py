"""A tiny authoritative DNS server on 127.0.0.1 (UDP and TCP), serving what a test sets."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass
class Zone:
    """Records by (name, type), as dnspython text; names in `silent` get no answer at all."""

    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, name: str, kind: str, *values: str) -> None:
        with self.lock:
            self.records[(name.rstrip(".").lower(), kind)] = list(values)

    def clear(self, name: str, kind: str) -> None:
        with self.lock:
            self.records.pop((name.rstrip(".").lower(), kind), None)

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        with self.lock:
            self.queries.append((name, kind))
            if name in self.silent:
                return None
            known = any(n == name for n, _ in self.records)
            values = list(self.records.get((name, kind), []))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not known:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif values:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", kind, *values))
        return response.to_wire()


class _Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.zone.answer(data)  # type: ignore[attr-defined]
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _Tcp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        length = self.request.recv(2)
        if len(length) < 2:  # the length prefix of DNS over TCP
            return
        (size,) = struct.unpack("!H", length)
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return
            data += chunk
        reply = self.server.zone.answer(data)  # type: ignore[attr-defined]
        if reply is not None:
            self.request.sendall(struct.pack("!H", len(reply)) + reply)


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _bind_both() -> tuple[_UdpServer, _TcpServer, int]:
    """A UDP and a TCP socket on one free port: a free UDP port may be taken for TCP."""
    for _ in range(50):
        udp = _UdpServer(("127.0.0.1", 0), _Udp)
        port = udp.server_address[1]
        try:
            return udp, _TcpServer(("127.0.0.1", port), _Tcp), port
        except OSError:
            udp.server_close()
    raise RuntimeError("no port free for both UDP and TCP")


@contextmanager
def fake_dns() -> Iterator[tuple[Zone, str]]:
    """A running server and the `ADDRESS@PORT` to point GITOPS_BOT_DNS_RESOLVER at."""
    zone = Zone()
    udp, tcp, port = _bind_both()
    for server in (udp, tcp):
        server.zone = zone  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield zone, f"127.0.0.1@{port}"
    finally:
        for server in (udp, tcp):
            server.shutdown()
            server.server_close()


def ask_tcp(address: str, name: str, kind: str) -> dns.message.Message:
    """One query over TCP, so the tests can see that side of the server answers too."""
    host, _, port = address.partition("@")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        wire = dns.message.make_query(dns.name.from_text(name), kind).to_wire()
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", sock.recv(2))[0]
        data = b""
        while len(data) < size:
            data += sock.recv(size - len(data))
    return dns.message.from_wire(data)
