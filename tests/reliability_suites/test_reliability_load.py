"""Suite 2, load: 1,000 signed signups from 32 concurrent clients against gunicorn over real HTTP.

`gitops-bot serve` runs 4 gunicorn workers and the writer; nothing may be lost or
duplicated, slugs are unique, and the checker passes on what the writer committed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import Server, signup
from reliability import assert_signups_landed_once, record_figures, soak_scale
from served import DRAIN_DEADLINE, Delivery, Sender, pending_count, wait_until

pytestmark = pytest.mark.slow

CLIENTS = 32


def send_signups(server: Server, count: int) -> list[Delivery]:
    """`count` signups, each client sending its share over one keep-alive connection."""

    def client(numbers: range) -> list[Delivery]:
        sender = Sender(server.port)
        try:
            return [sender.post(signup(f"load-{n:05d}")) for n in numbers]
        finally:
            sender.close()

    shares = [range(first, count, CLIENTS) for first in range(CLIENTS)]
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return [delivery for share in pool.map(client, shares) for delivery in share]


def run_load(server: Server, tmp_path: Path, count: int, *, soak: bool) -> None:
    deliveries = send_signups(server, count)
    refused = [(d.status, d.body) for d in deliveries if d.status != 202]
    assert not refused, refused[:5]
    accepted = {d.event_id: str(d.body["slug"]) for d in deliveries}
    assert len(set(accepted.values())) == count
    database = Path(server.env["GITOPS_BOT_STATE_DIR"]) / "gitops-bot.sqlite3"
    wait_until(lambda: pending_count(database) == 0, DRAIN_DEADLINE, "the writer to drain")
    verdict = assert_signups_landed_once(server.remote, accepted, tmp_path)
    assert verdict.tenants == count + 3  # the seed's three examples
    record_figures(
        "load",
        __file__,
        soak=soak,
        events_sent=count,
        clients=CLIENTS,
        web_workers=4,
        accepted=len(accepted),
        tenant_files=verdict.tenants - 3,
        commits=verdict.commits,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        retried_requests=sum(d.attempts - 1 for d in deliveries),
    )


def test_1000_signups_from_32_clients_land_exactly_once(server: Server, tmp_path: Path) -> None:
    run_load(server, tmp_path, 1000, soak=False)


@pytest.mark.soak
def test_soak_load(server: Server, tmp_path: Path) -> None:
    run_load(server, tmp_path, 1000 * soak_scale(), soak=True)
