"""What the benchmarks share: statistics, machine facts, tables, fleets, and a bot to measure."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BOT = [sys.executable, "-m", "gitops_bot.cli"]
# The benchmarks sign their own requests, like the tests do; nothing here is a real secret.
SECRET_BYTES = b"benchmark-secret-0123456789abcd"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
STATUS_TOKEN = "benchmark-status-token-0123456789"  # noqa: S105 - a throwaway token for a throwaway bot
ADMIN_TOKEN = "benchmark-admin-token-0123456789ab"  # noqa: S105 - likewise
# Git must not read the runner's ~/.gitconfig (hooks, signing) while we time it.
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@bench.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@bench.invalid",
}


# --- statistics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """One figure measured over several runs."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    def show(self, digits: int = 0, scale: float = 1.0) -> str:
        """`median (min–max)`, scaled (1000 turns seconds into milliseconds)."""
        m, lo, hi = (v * scale for v in (self.median, self.low, self.high))
        return f"{m:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})"


def stat(samples: Sequence[float]) -> Stat:
    return Stat(tuple(samples))


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of `values`."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:,.1f}×" if baseline > 0 else "n/a"


# --- the report ---------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, text: int = 1) -> str:
    """A markdown table; the first `text` columns are left-aligned, the numbers right."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join([":---"] * text + ["---:"] * (len(headers) - text)) + "|")
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


@dataclass
class Goal:
    text: str
    met: bool | None  # None: not measured in this run
    evidence: str

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**missed**", None: "not measured"}[self.met] + (
            f" ({self.evidence})" if self.evidence else ""
        )

    def markdown(self) -> str:
        return f"- {self.text}: {self.verdict}"


# How much the time per tenant may grow from the middle size to the largest and still count as
# linear: noise on a shared machine, not a trend, stays within it.
LINEAR_SLACK = 1.5


def linear_growth(per_thousand: dict[int, float], *, what: str = "time per tenant") -> Goal:
    """The goal that a figure grows linearly: its cost per tenant flat between the two
    largest sizes measured (`per_thousand` maps a size to its cost per 1,000 tenants)."""
    middle, biggest = sorted(per_thousand)[-2:]
    growth = per_thousand[biggest] / per_thousand[middle]
    return Goal(
        f"growth linear ({what} flat)",
        growth <= LINEAR_SLACK,
        f"{growth:.2f}× the {what} at {biggest:,} as at {middle:,}",
    )


@dataclass
class Section:
    """One figure of docs/performance.md: how it was measured, its table, and its goals."""

    title: str
    method: str
    tables: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def markdown(self) -> str:
        parts = [f"## {self.title}", self.method, *self.tables]
        if self.goals:
            parts.append("\n".join(goal.markdown() for goal in self.goals))
        parts.extend(self.notes)
        parts.append(f"_Measured in {self.seconds:.{0 if self.seconds >= 10 else 1}f} s._")
        return "\n\n".join(parts) + "\n"


def sized_main(measure: Callable[..., Section], doc: str, *, runs: int, sizes: str) -> int:
    """`main()` of a script measured at several sizes: `--runs` and `--sizes`, one section out."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--sizes", default=sizes)
    args = parser.parse_args()
    chosen = tuple(int(size) for size in args.sizes.split(","))
    print(measure(runs=args.runs, sizes=chosen).markdown())
    return 0


def machine() -> dict[str, str]:
    """What the numbers depend on: cores, CPU, memory, versions, and the commit measured."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    sha = _output(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    dirty = _output(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    return {
        "cores": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "git": _output(["git", "--version"]).removeprefix("git version "),
        "nix": _output(["nix-instantiate", "--version"]).rpartition(" ")[2] or "not installed",
        "commit": sha + (" (with uncommitted changes)" if dirty else ""),
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def _output(command: list[str]) -> str:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, check=False, env={**os.environ, **GIT_ENV}
        ).stdout.strip()
    except FileNotFoundError:
        return ""


# --- fleets -------------------------------------------------------------------------------


def hosts() -> list[str]:
    return sorted(json.loads((REPO / "nix" / "inventory.json").read_text())["hosts"])


def tenant_document(i: int, host_names: Sequence[str]) -> dict[str, object]:
    """Tenant number `i` of a generated fleet: every fifth has a domain, every 50th is suspended."""
    slug = f"tenant{i:05d}"
    return {
        "$schema": "./tenant.schema.json",
        "createdAt": "2026-11-02T09:30:00Z",
        "domains": [f"shop{i}.example.org"] if i % 5 == 0 else [],
        "host": host_names[i % len(host_names)],
        "origin": f"msg_bench_{i}",
        "plan": "pro",
        "schemaVersion": 1,
        "slug": slug,
        "state": "suspended" if i % 50 == 0 else "active",
        "uid": 0x70000000 + i,
    }


def canonical(document: dict[str, object]) -> str:
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


def write_fleet(root: Path, count: int, *, capacity: int | None = None) -> None:
    """A state-repo tree with nix/ and `count` tenants spread over the inventory's hosts.

    `capacity` raises every host's seats, so that the fleet (or a burst) fits.
    """
    shutil.copytree(REPO / "nix", root / "nix", ignore=shutil.ignore_patterns("tests"))
    if capacity is not None:
        set_capacity(root, capacity)
    tenants = root / "tenants"
    tenants.mkdir(exist_ok=True)
    shutil.copy(REPO / "tenants" / "tenant.schema.json", tenants)
    names = hosts()
    for i in range(count):
        document = tenant_document(i, names)
        (tenants / f"{document['slug']}.json").write_text(canonical(document))


def set_capacity(root: Path, capacity: int) -> None:
    path = root / "nix" / "inventory.json"
    inventory = json.loads(path.read_text())
    for host in inventory["hosts"].values():
        host["capacity"] = capacity
    path.write_text(json.dumps(inventory, indent=2) + "\n")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    if not (repo / ".git").exists():
        git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A fresh directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"gitops-bot-bench-{prefix}-") as tmp:
        yield Path(tmp)


# --- a bot to measure ---------------------------------------------------------------------


def sign(event_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature, written out with hmac (it is what a sender computes)."""
    digest = hmac.new(SECRET_BYTES, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def signup_body(slug: str, plan: str = "pro") -> bytes:
    event = {
        "type": "tenant.signup",
        "timestamp": "2026-11-24T12:00:00Z",
        "data": {"slug": slug, "plan": plan, "customerRef": f"cus_{slug}"},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def signed_post(path: str, body: bytes, event_id: str, *, timestamp: int | None = None) -> bytes:
    """A complete HTTP/1.1 request, signed now: valid for the spec's five minutes."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"webhook-id: {event_id}\r\n"
        f"webhook-timestamp: {timestamp}\r\n"
        f"webhook-signature: {sign(event_id, timestamp, body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def signups(prefix: str, count: int, *, plan: str = "pro") -> list[bytes]:
    """`count` signed signup requests with distinct slugs and ids, ready to replay."""
    now = int(time.time())
    return [
        signed_post(
            "/v1/events", signup_body(f"{prefix}-{i:05d}", plan), f"msg_{prefix}_{i}", timestamp=now
        )
        for i in range(count)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Bot:
    """A running `gitops-bot serve` on a fresh state directory."""

    process: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    log: Path
    env: dict[str, str]
    expected_workers: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.state_dir / "gitops-bot.sqlite3"

    @property
    def remote(self) -> Path:
        return self.state_dir / "state.git"

    def children(self) -> list[int]:
        return children(self.process.pid)

    def workers(self) -> list[int]:
        """gunicorn's web workers: forks of the master, not the writer it started."""
        return [pid for pid in self.children() if not _is_writer(pid)]

    def writer(self) -> int | None:
        return next((pid for pid in self.children() if _is_writer(pid)), None)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(child) for child in task.read_text().split())
    return sorted(found)


def _is_writer(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"worker" in argv


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmHWM for {pid}")


def seed(state_dir: Path, seed_dir: Path) -> None:
    """Create and seed the state repo, and let the queue read it, as a writer's first round."""
    from gitops_bot.backends.factory import open_state_repo  # noqa: PLC0415 - after sys.path is set
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.store.queue import Store  # noqa: PLC0415
    from gitops_bot.writer.writer import Writer  # noqa: PLC0415

    settings = Settings(state_dir=state_dir, seed_dir=seed_dir)
    repo = open_state_repo(settings)
    try:
        with Store(settings.database_path) as store:
            store.migrate()
            Writer(store=store, repo=repo, settings=settings).head()
    finally:
        repo.close()


@contextmanager
def bot(
    root: Path,
    *,
    workers: int = 4,
    writer: bool = True,
    capacity: int = 1_000_000,
    extra_env: dict[str, str] | None = None,
    state_repo: Path | None = None,
) -> Iterator[Bot]:
    """`gitops-bot serve` on a free port, with a state repo seeded from this repo and big hosts.

    Without the writer the state repo is seeded here, since intake waits for a first read.
    `state_repo` (a bare repo) is cloned to be the state repo instead, as it is.
    """
    seed_dir = root / "seed"
    shutil.copytree(REPO / "tenants", seed_dir / "tenants")
    shutil.copytree(REPO / "nix", seed_dir / "nix", ignore=shutil.ignore_patterns("tests"))
    set_capacity(seed_dir, capacity)
    state_dir = root / "var"
    (root / "webhook-secret").write_text(SECRET)
    (root / "status-token").write_text(STATUS_TOKEN)
    (root / "admin-token").write_text(ADMIN_TOKEN)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GITOPS_BOT_")},
        **GIT_ENV,
        "GITOPS_BOT_STATE_DIR": str(state_dir),
        "GITOPS_BOT_SEED_DIR": str(seed_dir),
        "GITOPS_BOT_WEBHOOK_SECRET_FILE": str(root / "webhook-secret"),
        "GITOPS_BOT_STATUS_TOKEN_FILE": str(root / "status-token"),
        "GITOPS_BOT_ADMIN_TOKEN_FILE": str(root / "admin-token"),
        "GITOPS_BOT_MAX_QUEUE": "1000000",
        "PYTHONPATH": str(REPO),
        **(extra_env or {}),
    }
    if state_repo is not None:
        state_dir.mkdir(parents=True)
        git(state_dir, "clone", "--quiet", "--bare", str(state_repo), "state.git")
    if not writer:
        seed(state_dir, seed_dir)
    port = free_port()
    log = root / "serve.log"
    command = [*BOT, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, *([] if writer else ["--no-writer"])],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = Bot(process, port, state_dir, log, env, workers)
    try:
        _wait_ready(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(running: Bot) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{running.url}/readyz", timeout=1):
                pass
        except (urllib.error.URLError, ConnectionError):
            if running.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not start:\n{running.log.read_text()}") from None
            time.sleep(0.1)
            continue
        # /readyz answers once any worker is up; wait for all of them, or the first
        # seconds of a run would measure gunicorn still forking.
        if len(running.workers()) >= running.expected_workers:
            return
        time.sleep(0.1)


@dataclass(frozen=True)
class Settled:
    """What the writer made of a burst, read from the queue's events table."""

    received: list[float]  # time.time() when intake stored each event
    finished: list[float]  # when the writer recorded it pushed (or failed)
    commits: int
    failed: int

    def latencies(self) -> list[float]:
        return [done - got for got, done in zip(self.received, self.finished, strict=True)]

    def rate(self) -> float:
        return len(self.finished) / (max(self.finished) - min(self.received))


def wait_settled(database: Path, *, expected: int, timeout: float = 300) -> Settled:
    """Wait until `expected` events have left the queue, and read their times."""
    deadline = time.monotonic() + timeout
    with closing(sqlite3.connect(database, timeout=30)) as db:
        while True:
            (pending,) = db.execute(
                "SELECT count(*) FROM events WHERE status = 'pending'"
            ).fetchone()
            (settled,) = db.execute(
                "SELECT count(*) FROM events WHERE status != 'pending'"
            ).fetchone()
            if settled >= expected and not pending:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pending} events still pending after {timeout:.0f} s")
            time.sleep(0.1)
        rows = db.execute(
            "SELECT received_at, finished_at, commit_sha, status FROM events"
            " WHERE finished_at IS NOT NULL ORDER BY seq"
        ).fetchall()
    return Settled(
        received=[row[0] for row in rows],
        finished=[row[1] for row in rows],
        commits=len({row[2] for row in rows if row[2]}),
        failed=sum(1 for row in rows if row[3] == "failed"),
    )
