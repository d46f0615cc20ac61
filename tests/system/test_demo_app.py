"""nix/demo-app.py socket-activated for real: systemd-socket-activate, idle stop, restarts."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import ROOT

APP = ROOT / "nix" / "demo-app.py"
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")  # Debian's systemd package
needs_socket_activate = pytest.mark.skipif(
    SOCKET_ACTIVATE is None, reason="systemd-socket-activate is not installed"
)
Spawn = Callable[..., subprocess.Popen[bytes]]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def get(path: Path | str, timeout: float = 10) -> str:
    """GET / over the unix socket at path; the body, after checking for a 200."""
    connection = UnixHTTPConnection(str(path), timeout)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still not {condition} after {timeout} s")
        time.sleep(0.02)


def listening_inodes(path: Path) -> list[int]:
    """Inodes of the listening unix sockets bound at path, from /proc/net/unix."""
    # Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 is __SO_ACCEPTCON (listening).
    rows = [line.split() for line in Path("/proc/net/unix").read_text().splitlines()[1:]]
    return [int(r[6]) for r in rows if r[7:] == [str(path)] and int(r[3], 16) & 0x10000]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    return {**env, **extra}


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start children with their output in tmp_path/app-N.log; kill any still running after."""
    children: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        with (tmp_path / f"app-{len(children)}.log").open("wb") as log:
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **kwargs
            )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[socket.socket]:
    """The listening socket that systemd's socket unit would hold across app restarts."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(tmp_path / "held.sock"))
        listener.listen(128)
        yield listener


def activate(spawn: Spawn, listener: socket.socket, state: Path, **env: str):
    """Start the app as systemd does: the socket as fd 3, LISTEN_PID the app's own pid."""
    fd = listener.fileno()
    move = "" if fd == 3 else f" 3<&{fd} {fd}<&-"
    script = f'export LISTEN_PID=$$; exec "$@"{move}'
    argv = ["bash", "-c", script, "bash", sys.executable, str(APP), "--state-directory", str(state)]
    return spawn(argv, env=base_env(**{"LISTEN_FDS": "1", **env}), pass_fds=(fd,))


def under_socket_activate(spawn: Spawn, tmp_path: Path, *args: str, **env: str):
    """Debian's systemd-socket-activate listening on tmp_path/app.sock, then execing the app."""
    setenv = [f"--setenv={name}={value}" for name, value in env.items()]
    app = [sys.executable, str(APP), "--state-directory", str(tmp_path), *args]
    child = spawn([SOCKET_ACTIVATE, f"--listen={tmp_path / 'app.sock'}", *setenv, *app])
    # Not just the file: systemd-socket-activate binds, then listens (connect() is refused between).
    wait_for(lambda: bool(listening_inodes(tmp_path / "app.sock")))
    return child


@needs_socket_activate
def test_serves_the_socket_systemd_passes(spawn, tmp_path):
    own = tmp_path / "own.sock"
    app = under_socket_activate(spawn, tmp_path, f"--socket={own}", TENANT_SLUG="acme")
    sock = tmp_path / "app.sock"
    [inode] = listening_inodes(sock)
    # systemd-socket-activate created the socket and waits for a connection before it execs.
    assert not (tmp_path / "started").exists()
    assert get(sock) == "hello from acme\n"
    assert get(sock) == "hello from acme\n"
    assert (tmp_path / "started").read_text() == "ok\n"
    # The app serves fd 3, that very socket, and never bound one: not --socket, not app.sock.
    assert Path(f"/proc/{app.pid}/fd/3").readlink() == Path(f"socket:[{inode}]")
    assert listening_inodes(sock) == [inode]
    assert not own.exists()
    assert app.poll() is None


@needs_socket_activate
def test_idle_stop_waits_for_quiet_then_exits_cleanly(spawn, tmp_path):
    app = under_socket_activate(spawn, tmp_path, TENANT_SLUG="acme", TENANT_IDLE_STOP_SECONDS="1")
    busy_until = time.monotonic() + 2
    while time.monotonic() < busy_until:
        assert get(tmp_path / "app.sock") == "hello from acme\n"
        assert app.poll() is None
        time.sleep(0.3)
    last_request = time.monotonic()
    assert app.wait(timeout=10) == 0
    assert time.monotonic() - last_request >= 0.9


def hammer(path: str, stop: threading.Event, served: Counter[str], failures: list[str]) -> None:
    while not stop.is_set():
        try:
            served[get(path)] += 1
        except (OSError, http.client.HTTPException, AssertionError) as error:
            failures.append(repr(error))


def test_restart_drops_no_connection(spawn, held, tmp_path):
    path = held.getsockname()
    first = activate(spawn, held, tmp_path, TENANT_SLUG="one")
    assert get(path) == "hello from one\n"
    stop, served, failures = threading.Event(), Counter[str](), list[str]()
    client = threading.Thread(target=hammer, args=(path, stop, served, failures))
    client.start()
    try:
        wait_for(lambda: served["hello from one\n"] >= 20)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
        time.sleep(0.3)  # no app at all: connections wait in the held socket's backlog
        activate(spawn, held, tmp_path, TENANT_SLUG="two")
        wait_for(lambda: served["hello from two\n"] >= 20)
    finally:
        stop.set()
        client.join(timeout=30)
    assert not client.is_alive()
    assert failures == []
    assert set(served) == {"hello from one\n", "hello from two\n"}


def test_next_connection_after_idle_exit_is_served_by_a_new_instance(spawn, held, tmp_path):
    path = held.getsockname()
    first = activate(spawn, held, tmp_path, TENANT_SLUG="acme", TENANT_IDLE_STOP_SECONDS="1")
    assert get(path) == "hello from acme\n"
    assert first.wait(timeout=10) == 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(path)  # no app runs: the kernel queues it on the socket systemd holds
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        activate(spawn, held, tmp_path, TENANT_SLUG="acme")  # what systemd does now
        reply = b"".join(iter(lambda: client.recv(4096), b""))
    assert reply.startswith(b"HTTP/1.0 200 ")
    assert reply.endswith(b"\r\n\r\nhello from acme\n")


def test_survives_clients_that_hang_up_mid_request(spawn, held, tmp_path):
    path = held.getsockname()
    app = activate(spawn, held, tmp_path, TENANT_SLUG="acme")
    assert get(path) == "hello from acme\n"
    for sent in (b"", b"GET / HT", b"GET / HTTP/1.0\r\n", b"GET / HTTP/1.0\r\n\r\n") * 5:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            client.sendall(sent)
    assert get(path) == "hello from acme\n"
    assert app.poll() is None


def test_refuses_more_than_one_socket(spawn, held, tmp_path):
    app = activate(spawn, held, tmp_path, LISTEN_FDS="2")
    assert app.wait(timeout=10) == 1
    assert "expected exactly one socket" in (tmp_path / "app-0.log").read_text()
