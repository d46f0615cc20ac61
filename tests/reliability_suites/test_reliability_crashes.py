"""Suite 3, crashes: kill -9 of web workers, of the whole web server and of the writer.

`gitops-bot serve --no-writer --workers 2` and `gitops-bot worker` run as separate
processes while client threads send a burst of signups. At seeded random moments a
killer sends SIGKILL to one web worker (gunicorn's arbiter forks a new one), to the
arbiter and all its workers (the test starts serve again), or to the writer (the test
starts it again). Clients retry broken connections with the same webhook-id, as a
real sender does. Afterwards every event that heard 202 must be in git exactly once,
no file may be invalid or half-written, and git and SQLite must pass their own checks.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest

from gitops_bot.config import Settings
from helpers import free_port, git, signup, tenant_files
from reliability import assert_signups_landed_once, record_figures, soak_scale
from served import (
    DRAIN_DEADLINE,
    STARTUP_DEADLINE,
    Delivery,
    Sender,
    bot_env,
    integrity,
    pending_count,
    start_serve,
    start_worker,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.slow

# "writer-in-push": the writer dies while its push runs the state repo's post-receive hook,
# so the branch has moved and the queue has not heard of it.
TARGETS = ("web-worker", "writer", "web-server", "writer-in-push")
SEED_TENANTS = 3
PACE = 0.05  # seconds between a client's requests


def children(pid: int) -> list[int]:
    """The child processes of `pid` (gunicorn's workers, for the arbiter), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # the task ended meanwhile
    return found


def descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [grandchild for child in found for grandchild in descendants(child)]


def runs_hook(pid: int) -> bool:
    """Whether a post-receive hook runs below `pid`: its push moved the branch already."""
    for descendant in descendants(pid):
        try:
            if b"post-receive" in Path(f"/proc/{descendant}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie holds no socket and no lock


@dataclass
class Fleet:
    """The bot's processes, started again by the test whenever the killer took them down."""

    env: dict[str, str]
    port: int
    log: BinaryIO
    log_path: Path
    web: subprocess.Popen[bytes] | None = None
    writer: subprocess.Popen[bytes] | None = None
    kills: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TARGETS, 0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_web(self) -> None:
        self.web = start_serve(self.env, self.port, self.log, workers=2, writer=False)
        wait_ready(self.url, self.web, self.log_path)
        wait_until(lambda: len(self.web_workers()) == 2, STARTUP_DEADLINE, "2 web workers")

    def start_writer(self) -> None:
        self.writer = start_worker(self.env, self.log)

    def web_workers(self) -> list[int]:
        return [] if self.web is None else children(self.web.pid)

    def kill(self, target: str, rng: random.Random) -> None:
        """SIGKILL `target` at once, then restart it, as systemd or gunicorn would."""
        self.kills[target] += 1
        if target in {"writer", "writer-in-push"}:
            assert self.writer is not None
            if target == "writer-in-push":
                writer = self.writer.pid
                wait_until(lambda: runs_hook(writer), STARTUP_DEADLINE, "the writer to push")
            self.writer.send_signal(signal.SIGKILL)
            self.writer.wait()
            self.start_writer()
        elif target == "web-worker":
            workers = self.web_workers()
            victim = rng.choice(workers)
            os.kill(victim, signal.SIGKILL)
            # gunicorn's arbiter notices and forks a new worker.
            wait_until(
                lambda: not alive(victim) and len(self.web_workers()) == 2,
                STARTUP_DEADLINE,
                "gunicorn to replace a killed worker",
            )
        else:
            assert self.web is not None
            # Stopped first, the arbiter cannot fork a worker we would not know to kill.
            self.web.send_signal(signal.SIGSTOP)
            workers = self.web_workers()
            self.web.send_signal(signal.SIGKILL)
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            self.web.wait()
            wait_until(
                lambda: not any(alive(pid) for pid in workers),
                STARTUP_DEADLINE,
                "killed web workers to go",
            )
            self.start_web()

    def stop(self) -> None:
        for process in (self.web, self.writer):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def fleet(settings: Settings, tmp_path: Path) -> Iterator[Fleet]:
    # The writer's pushes pass a post-receive hook that takes a moment, so that some kills
    # land after the branch moved and before the queue heard of it: the worst moment.
    log_path = tmp_path / "processes.log"
    # Small batches: many pushes, so many moments for a kill to land inside one.
    env = bot_env(settings, tmp_path, GITOPS_BOT_BATCH_LIMIT="100")
    with log_path.open("ab") as log:
        running = Fleet(env=env, port=free_port(), log=log, log_path=log_path)
        try:
            running.start_writer()
            remote = settings.state_dir / "state.git"
            wait_until((remote / "hooks").is_dir, STARTUP_DEADLINE, "the state repo")
            hook = remote / "hooks" / "post-receive"
            hook.write_text("#!/bin/sh\nsleep 0.05\n")
            hook.chmod(0o755)
            running.start_web()
            yield running
        finally:
            running.stop()


def burst_with_kills(
    fleet: Fleet, rng: random.Random, kills: int, clients: int
) -> tuple[list[Delivery], list[tuple[float, str]]]:
    """Clients send signups until the killer has killed `kills` times; every Delivery."""
    stop = threading.Event()
    schedule = [(rng.uniform(0.2, 1.0), TARGETS[n % len(TARGETS)]) for n in range(kills)]
    rng.shuffle(schedule)

    def client(number: int) -> list[Delivery]:
        sender = Sender(fleet.port, give_up_after=STARTUP_DEADLINE * 2)
        sent: list[Delivery] = []
        try:
            # Paced, so that the writer keeps up and the burst is about kills, not backlog.
            while not stop.wait(PACE):
                sent.append(sender.post(signup(f"crash-{number:02d}-{len(sent):05d}")))
        finally:
            sender.close()
        return sent

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, n) for n in range(clients)]
        try:
            for pause, target in schedule:
                time.sleep(pause)
                fleet.kill(target, rng)
            time.sleep(0.5)  # a last stretch with everything up
        finally:
            stop.set()
        return [d for future in futures for d in future.result()], schedule


def run_crashes(
    fleet: Fleet, settings: Settings, tmp_path: Path, *, kills: int, clients: int, soak: bool
) -> None:
    rng = random.Random(4242 + kills)
    deliveries, schedule = burst_with_kills(fleet, rng, kills, clients)
    assert sum(fleet.kills.values()) == kills >= 10
    errors = [(d.status, d.body) for d in deliveries if d.status >= 500]
    assert not errors, errors[:5]
    refused = [(d.status, d.body) for d in deliveries if d.status != 202]
    assert not refused, refused[:5]
    accepted = {d.event_id: str(d.body["slug"]) for d in deliveries}
    database = settings.database_path
    wait_until(lambda: pending_count(database) == 0, DRAIN_DEADLINE, "the writer to drain")
    remote = settings.state_dir / "state.git"
    verdict = assert_signups_landed_once(remote, accepted, tmp_path)
    # Nothing landed that no client heard accepted: every tenant is a 202'd event or a seed.
    origins = {str(file["origin"]) for file in tenant_files(remote).values()}
    assert len(origins - set(accepted)) == SEED_TENANTS
    assert integrity(database) == "ok"
    git(settings.writer_clone, "fsck", "--strict", "--no-progress")
    log = fleet.log_path.read_bytes()
    pauses = [pause for pause, _ in schedule]
    record_figures(
        "crashes",
        __file__,
        soak=soak,
        events_accepted=len(accepted),
        client_threads=clients,
        kills=fleet.kills,
        seconds_between_kills=[round(min(pauses), 2), round(max(pauses), 2)],
        retried_requests=sum(d.attempts - 1 for d in deliveries),
        events_settled_from_a_push_that_landed_before_a_kill=log.count(b"landed before a restart"),
        commits=verdict.commits,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        server_errors=len(errors),
        sqlite_integrity="ok",
    )


def test_kill_9_web_and_writer_during_a_burst_loses_nothing(
    fleet: Fleet, settings: Settings, tmp_path: Path
) -> None:
    run_crashes(fleet, settings, tmp_path, kills=12, clients=4, soak=False)


@pytest.mark.soak
def test_soak_crashes(fleet: Fleet, settings: Settings, tmp_path: Path) -> None:
    run_crashes(fleet, settings, tmp_path, kills=12 * soak_scale(), clients=4, soak=True)
