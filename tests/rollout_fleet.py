"""What the rollout tests share: a fleet on a real branch, a stand-in deploy, real HTTPS."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient
from tls_site import Site, TestCA

from gitops_bot.cli.rollout import branch_files
from gitops_bot.config import Settings
from gitops_bot.deploy import engine, rollout_plan
from gitops_bot.deploy.live import LiveRunner
from gitops_bot.deploy.rollout import RolloutDriver
from gitops_bot.store import rollouts
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import post_event, signup

BASE = "tenants.example.com"
# Not the seed tenants (acme, globex, initech): those stay out of every rollout here.
SLUGS = ("alpha", "bravo", "charlie", "delta", "echo")
RELEASE = "2026.12"


def know_release(seed_dir: Path, release: str = RELEASE) -> None:
    """List `release` in the seed's inventory, as an operator does before rolling it out."""
    path = seed_dir / "nix" / "inventory.json"
    inventory = json.loads(path.read_text())
    inventory["releases"]["known"] = sorted({*inventory["releases"]["known"], release})
    path.write_text(json.dumps(inventory, indent=2) + "\n")


def probing(settings: Settings, ca: TestCA, site: Site) -> Settings:
    """Settings whose probe reaches `site` for every tenant of SLUGS, quickly."""
    return settings.model_copy(
        update={
            "probe_port": site.port,
            "probe_ca_file": ca.bundle,
            "probe_resolve": {f"{slug}.{BASE}": "127.0.0.1" for slug in SLUGS},
            "probe_interval": 0.01,
            "probe_max_interval": 0.05,
            "probe_deadline": 0.5,
        }
    )


def live_fleet(client: FlaskClient, writer: Writer, store: Store, engine_dir: Path) -> None:
    """Every tenant of SLUGS signed up, committed and deployed (not yet probed)."""
    for slug in SLUGS:
        post_event(client, signup(slug, plan="pro"))
    writer.drain_once()
    stand_in_deploy(store, engine_dir)


def stand_in_deploy(store: Store, cwd: Path) -> None:
    """What a merge's deploy job reports: the stand-in engine runs, and the tenants whose
    change landed are `deploying`, then `deployed` (or `failed` when the engine failed)."""
    code = engine.run(["nixops", "deploy", "--include", "web-1"], cwd=cwd)
    # `evaluated`: a worker's own evaluator of nix/ may have seen the commit first.
    landed = store.slugs_with_status("committed", "updated", "merged", "evaluated") & set(SLUGS)
    with store.transaction():
        for slug in sorted(landed):
            store.add_transition(slug, "deploying")
            if code == 0:
                store.add_transition(slug, "deployed")
            else:
                store.add_transition(slug, "failed", reason=f"nixops exited with code {code}")


def start(settings: Settings, store: Store, *, waves: str, soak: float = 0.0) -> int:
    """A rollout of RELEASE planned from the branch, as `gitops-bot rollout start` does."""
    selected = rollout_plan.select(
        rollout_plan.fleet(branch_files(settings)), release=RELEASE, slugs=SLUGS
    )
    plan = rollout_plan.waves_of(selected, rollout_plan.parse_waves(waves))
    with store.transaction() as db:
        return rollouts.create(
            db,
            release=RELEASE,
            waves=waves,
            soak=soak,
            filters={"tenants": list(SLUGS)},
            reason="test",
            plan=plan,
            now=time.time(),
        )


def drive(
    driver: RolloutDriver,
    live: LiveRunner,
    writer: Writer,
    store: Store,
    engine_dir: Path,
    *,
    until: Callable[[str | None], bool],
    timeout: float = 30.0,
) -> str | None:
    """Rounds of everyone (driver, writer, deploy, probe) until `until(state)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        state = driver.tick(store)
        if until(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"rollout still {state}: {rollouts.summary(store.connection)}")
        writer.drain_once()
        stand_in_deploy(store, engine_dir)
        live.run(store)
        time.sleep(0.02)


def worker_env(settings: Settings) -> dict[str, str]:
    """`gitops-bot worker`'s environment for `probing(...)` settings."""
    return {
        **os.environ,
        "GITOPS_BOT_STATE_DIR": str(settings.state_dir),
        "GITOPS_BOT_SEED_DIR": str(settings.seed_dir),
        "GITOPS_BOT_POLL_INTERVAL": "0.05",
        "GITOPS_BOT_PROBE_PORT": str(settings.probe_port),
        "GITOPS_BOT_PROBE_CA_FILE": str(settings.probe_ca_file),
        "GITOPS_BOT_PROBE_RESOLVE": json.dumps(settings.probe_resolve),
        "GITOPS_BOT_PROBE_INTERVAL": "0.05",
        "GITOPS_BOT_PROBE_MAX_INTERVAL": "0.1",
    }


def release_on_branch(settings: Settings, slug: str) -> str | None:
    content = branch_files(settings)[f"tenants/{slug}.json"]
    release = json.loads(content).get("release")
    return None if release is None else str(release)
