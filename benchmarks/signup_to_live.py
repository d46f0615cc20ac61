"""Benchmark 7: the bot's own share of signup to live, against a stand-in deploy of fixed length.

Run: python benchmarks/signup_to_live.py [--tenants 5] [--engine 2]
`gitops-bot serve` on a local bare remote, and scripts/standin.py: a deploy engine that runs
the deploy's real host selection on each new commit, waits a fixed time in place of nixops,
then makes the new tenant's name answer over HTTPS (a local server, a CA made for the run),
reporting `deploying` and `deployed` as GitHub would, with signed `deployment_status`
webhooks. Tenants sign up one at a time, each waited for until the probe records `live`.
The bot's share is signup to the engine's start (commit window included) plus the engine's
end to `live`; the engine's own time is what it waited.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import sqlite3
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from common import REPO, Section, Stat, bot, ratio, scratch, sign, signup_body, stat, table

sys.path.insert(0, str(REPO / "scripts"))
import standin  # scripts/ is not a package; the demo uses the same stand-in

BASE_DOMAIN = json.loads((REPO / "nix" / "inventory.json").read_text())["baseDomain"]
PROBE_SUCCESSES = 2  # GITOPS_BOT_PROBE_SUCCESSES' default
STANDIN_POLL = 0.05  # how often the stand-in reads the branch, as a push would trigger a deploy


@dataclass(frozen=True)
class Setup:
    label: str
    tenants: int
    commit_window: float
    probe_interval: float


@dataclass(frozen=True)
class Timing:
    """One tenant's way to live, in seconds of the wall clock (time.time())."""

    signup: float  # just before its request was sent
    committed: float
    started: float  # the engine started
    ended: float  # the engine finished
    live: float

    @property
    def bot_share(self) -> float:
        return (self.started - self.signup) + (self.live - self.ended)


def _send_signup(port: int, slug: str) -> None:
    body = signup_body(slug)
    event_id = f"msg_s2l_{slug}"
    timestamp = int(time.time())
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/v1/events",
            body=body,
            headers={
                "Content-Type": "application/json",
                "webhook-id": event_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(event_id, timestamp, body),
            },
        )
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if response.status != 202:
        raise RuntimeError(f"signup {slug} answered {response.status}")


def _statuses(database: Path, slug: str) -> dict[str, float]:
    """The first time `slug` reached each status."""
    uri = f"file:{database}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
        rows = db.execute(
            "SELECT status, at FROM transitions WHERE slug = ? ORDER BY id", (slug,)
        ).fetchall()
    found: dict[str, float] = {}
    for status, at in rows:
        found.setdefault(status, at)
    return found


def _wait_live(database: Path, slug: str, *, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reached = _statuses(database, slug)
        if "failed" in reached:
            raise RuntimeError(f"{slug} failed on its way to live: {reached}")
        if "live" in reached:
            return reached
        time.sleep(0.02)
    raise TimeoutError(f"{slug} was not live after {timeout:.0f} s: {_statuses(database, slug)}")


def run_setup(setup: Setup, *, engine_seconds: float, prefix: str) -> list[Timing]:
    slugs = [f"{prefix}-{i:03d}" for i in range(setup.tenants)]
    with scratch("s2l") as root:
        ca = standin.StandinCA(root / "ca")
        sites = standin.Sites(ca)
        github_secret = secrets.token_urlsafe(32)
        (root / "github-webhook-secret").write_text(github_secret)
        env = {
            "GITOPS_BOT_GITHUB_WEBHOOK_SECRET_FILE": str(root / "github-webhook-secret"),
            "GITOPS_BOT_PROBE_CA_FILE": str(ca.bundle),
            "GITOPS_BOT_PROBE_PORT": str(sites.port),
            "GITOPS_BOT_PROBE_RESOLVE": json.dumps(
                {f"{slug}.{BASE_DOMAIN}": "127.0.0.1" for slug in slugs}
            ),
            "GITOPS_BOT_PROBE_INTERVAL": str(setup.probe_interval),
            "GITOPS_BOT_COMMIT_WINDOW": str(setup.commit_window),
        }
        try:
            with bot(root, workers=2, extra_env=env) as running:
                engine = standin.StandinEngine(
                    running.remote,
                    sites=sites,
                    api=standin.WebhookDeployments(running.url, github_secret),
                    seconds=engine_seconds,
                    poll=STANDIN_POLL,
                    say=lambda _line: None,
                ).start()
                try:
                    return [_one(running.port, running.database, slug, engine) for slug in slugs]
                finally:
                    engine.stop()
        finally:
            sites.close()


def _one(port: int, database: Path, slug: str, engine: standin.StandinEngine) -> Timing:
    sent = time.time()
    _send_signup(port, slug)
    reached = _wait_live(database, slug, timeout=120)
    deploy = next(d for d in engine.deploys if slug in d.tenants)
    return Timing(sent, reached["committed"], deploy.started, deploy.ended, reached["live"])


def _show(values: list[float]) -> str:
    return stat(values).show(2)


def measure(
    *,
    tenants: int = 5,
    engine_seconds: float = 2.0,
    setups: tuple[Setup, ...] | None = None,
    quick: bool = False,
) -> Section:
    started = time.monotonic()
    if setups is None:
        setups = (
            Setup("local backend's defaults: no commit window, a probe every 5 s", tenants, 0, 5),
            Setup("GitHub's commit window (15 s), a probe every 5 s", max(1, tenants // 2), 15, 5),
            Setup("no commit window, a probe every 1 s", max(1, tenants // 2), 0, 1),
        )
    if quick:
        setups = (Setup("no commit window, a probe every 0.2 s", 1, 0, 0.2),)
    rows = []
    for n, setup in enumerate(setups):
        timings = run_setup(setup, engine_seconds=engine_seconds, prefix=f"s2l{n}")
        share: Stat = stat([t.bot_share for t in timings])
        engine: Stat = stat([t.ended - t.started for t in timings])
        rows.append(
            [
                setup.label,
                len(timings),
                _show([t.committed - t.signup for t in timings]),
                _show([t.started - t.committed for t in timings]),
                engine.show(2),
                _show([t.live - t.ended for t in timings]),
                share.show(2),
                _show([t.live - t.signup for t in timings]),
                ratio(share.median, engine.median),
            ]
        )
    section = Section(
        title="12. Signup to live: the bot's own share",
        method=(
            "`gitops-bot serve --workers 2` with its writer on a local bare remote, and the "
            "stand-in deploy engine of `make demo` (`scripts/standin.py`) taking "
            f"{engine_seconds:g} s per deploy: on each new commit of the branch it runs the "
            "deploy's real selection of hosts and new tenants, reports `in_progress` as a "
            "signed `deployment_status` webhook to the bot (as GitHub would deliver it), "
            "waits, makes the new tenants' "
            "names answer on a local HTTPS server whose certificates come from a CA made for "
            "the run, and reports `success`. The bot's probe then checks each name over HTTPS "
            f"with the certificate verified, {PROBE_SUCCESSES} successes in a row for `live`. "
            "Tenants sign up one at a time; each row is a fresh bot, and its figures are "
            "medians over its tenants. Times are the wall clock: the signup's request sent, "
            "the `committed` and `live` transitions the bot recorded, and the engine's own "
            "start and end. **Bot's share** = signup → engine start (intake, commit window, "
            f"commit and push, the stand-in's read of the branch every {STANDIN_POLL:g} s, and "
            "the `in_progress` webhook) + engine end → live (the `success` webhook, then the "
            "probe's rounds). What a real deploy adds is not measured here: a CI runner "
            "starting, `nixops`/`colmena` building and switching, ACME issuing a certificate."
        ),
    )
    section.tables.append(
        table(
            [
                "setup",
                "tenants",
                "signup → commit (s)",
                "commit → deploy start (s)",
                "engine (s)",
                "deploy end → live (s)",
                "bot's share (s)",
                "signup → live (s)",
                "share / engine",
            ],
            rows,
        )
    )
    section.notes.append(
        "Deploy end → live is the probe's: its next round (up to `GITOPS_BOT_PROBE_INTERVAL`) "
        f"and then {PROBE_SUCCESSES - 1} more interval(s) for the successes in a row, so it "
        "moves with that setting; the commit window adds up to its length before a commit."
    )
    section.seconds = time.monotonic() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=5, help="tenants in the first row")
    parser.add_argument("--engine", type=float, default=2.0, help="seconds per stand-in deploy")
    parser.add_argument("--quick", action="store_true", help="one tenant, a smoke run")
    args = parser.parse_args()
    section = measure(tenants=args.tenants, engine_seconds=args.engine, quick=args.quick)
    print(section.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
