"""`make demo`: start the bot on a fresh local state repo, send signed signups, show the result."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import standin
from gitops_bot.deploy.probe import Prober, ProbeSpec

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("DEMO_STATE", str(ROOT / "var" / "demo")))
PORT = int(os.environ.get("DEMO_PORT", "8087"))
URL = f"http://127.0.0.1:{PORT}"
BOT = [sys.executable, "-m", "gitops_bot.cli"]
ENV = {
    **os.environ,
    "GITOPS_BOT_DEMO": "1",
    "GITOPS_BOT_STATE_DIR": str(STATE),
    "GITOPS_BOT_SEED_DIR": str(ROOT),
    # Self-serve plans go straight to main; enterprise signups wait for a reviewer.
    "GITOPS_BOT_POLICY": '{"plans": {"enterprise": "pr"}}',
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}
# The tenant that goes all the way to live, and how long the stand-in engine takes.
LIVE_SLUG = "hooli"
STANDIN_SECONDS = float(os.environ.get("DEMO_STANDIN_SECONDS", "2"))
BASE_DOMAIN = json.loads((ROOT / "nix" / "inventory.json").read_text())["baseDomain"]
LIVE_NAME = f"{LIVE_SLUG}.{BASE_DOMAIN}"


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def bot(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*BOT, *args], env=ENV, capture_output=True, text=True, check=False)
    print(f"$ gitops-bot {' '.join(args)}\n{result.stdout.rstrip()}", flush=True)
    return result


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(STATE / "state.git"), *args],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def wait_ready(server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("the bot exited early; see var/demo/serve.log")
        try:
            with urllib.request.urlopen(f"{URL}/readyz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    sys.exit("the bot did not become ready; see var/demo/serve.log")


def wait_landed(slugs: set[str]) -> None:
    """Wait until each of `slugs` is on the main branch (committed, merged or evaluated)."""
    landed = {"committed", "merged", "evaluated"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = json.loads(bot_quiet("tenants", "list", "--format", "json"))
        if slugs <= {row["slug"] for row in rows if row["status"] in landed}:
            return
        time.sleep(0.2)
    sys.exit(f"not all of {sorted(slugs)} landed in time; see var/demo/serve.log")


def burst() -> None:
    from gitops_bot.cli.send_signup import signed_request  # noqa: PLC0415
    from gitops_bot.config import Settings  # noqa: PLC0415

    secret = Settings(demo=True, state_dir=STATE).require_secrets().webhook_secret
    assert secret is not None  # noqa: S101

    def send(n: int) -> int:
        payload = {
            "type": "tenant.signup",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"slug": f"burst-{n:02d}", "plan": "free"},
        }
        request = signed_request(URL, secret.get_secret_value(), f"msg_burst_{n}", payload)
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(40)))
    print(f"answers: {statuses.count(202)} x 202")


def wait_status(slug: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = json.loads(bot_quiet("tenants", "list", "--format", "json"))
        if any(row["slug"] == slug and row["status"] == status for row in rows):
            return
        time.sleep(0.2)


def bot_quiet(*args: str) -> str:
    return subprocess.run([*BOT, *args], env=ENV, capture_output=True, text=True, check=True).stdout


def signup(*args: str) -> None:
    bot("send-signup", "--url", URL, *args)


def show_intake() -> None:
    step("Signed signups, as a landing page's backend sends them")
    signup("--slug", "northwind", "--plan", "pro", "--customer-ref", "cus_1001")
    signup("--organization", "Café Müller GmbH", "--plan", "free")
    signup("--slug", "umbrella", "--plan", "pro", "--domain", "app.umbrella.example")
    signup("--slug", "northwind-labs", "--plan", "free", "--id", "msg_demo_replay")

    step("What the bot refuses, and what it replays")
    signup("--slug", "northwind", "--plan", "free")
    signup("--slug", "www", "--plan", "free")
    signup("--slug", "bad_slug!", "--plan", "free")
    signup("--slug", "northwind-labs", "--plan", "free", "--id", "msg_demo_replay")
    forged = urllib.request.Request(
        f"{URL}/v1/events",
        data=b'{"type":"tenant.signup"}',
        headers={
            "Content-Type": "application/json",
            "webhook-id": "msg_forged",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,Zm9yZ2VkIHNpZ25hdHVyZQ==",
        },
    )
    try:
        urllib.request.urlopen(forged, timeout=10)
    except urllib.error.HTTPError as refused:
        print(f"$ curl -X POST {URL}/v1/events  # a forged signature")
        print(f"{refused.code} {refused.read().decode().strip()}")
    wait_landed({"northwind", "cafe-muller-gmbh", "umbrella", "northwind-labs"})


def show_burst() -> None:
    step("A burst: 40 signups from 8 concurrent senders share a few group commits")
    burst()
    wait_landed({f"burst-{n:02d}" for n in range(40)})
    print(git("log", "--format=%h %s", "main"))
    step("The newest group commit in full: a line and a trailer per event")
    print(git("log", "-1", "--stat", "--format=%h %an <%ae>%n%n%B", "main"))


def show_lifecycle() -> None:
    step("An enterprise signup waits for a reviewer on branch tenant/megacorp")
    signup("--slug", "megacorp", "--plan", "enterprise")
    wait_status("megacorp", "pr_open")
    print(git("log", "--format=%h %s", "main..tenant/megacorp"))
    step("What the reviewer sees first: the plan of merging it, from nix/")
    repo = str(STATE / "state.git")
    bot("plan", "--repo", repo, "--base", "main", "--head", "tenant/megacorp", "--fork-point")
    bot("approve", "megacorp", "--reason", "approved by the ops lead")
    step("An operator suspends a tenant; the reason lands in the commit")
    bot("tenants", "suspend", "northwind", "--reason", "invoice 1042 unpaid")
    step("The audit trail of one tenant")
    bot("history", "megacorp")


def prepare_standin() -> tuple[standin.StandinCA, standin.Sites, str]:
    """The stand-in's CA and HTTPS server, and the bot's settings to probe and hear from it."""
    ca = standin.StandinCA(STATE / "standin")
    sites = standin.Sites(ca)
    # GitHub's part is played locally (standin.WebhookDeployments), so it needs the secret
    # GitHub would sign deployment_status webhooks with: one made for this run.
    github_secret = secrets.token_urlsafe(32)
    secret_file = STATE / "standin" / "github-webhook-secret"
    secret_file.write_text(github_secret)
    secret_file.chmod(0o600)
    ENV.update(
        {
            "GITOPS_BOT_GITHUB_WEBHOOK_SECRET_FILE": str(secret_file),
            "GITOPS_BOT_PROBE_CA_FILE": str(ca.bundle),
            "GITOPS_BOT_PROBE_PORT": str(sites.port),
            "GITOPS_BOT_PROBE_RESOLVE": json.dumps({LIVE_NAME: "127.0.0.1"}),
            # 5 s by default; a demo should not wait for the second success that long.
            "GITOPS_BOT_PROBE_INTERVAL": "1",
        }
    )
    return ca, sites, github_secret


def transitions(slug: str) -> list[tuple[str, float, str | None, str | None]]:
    uri = f"file:{STATE / 'gitops-bot.sqlite3'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        return db.execute(
            "SELECT status, at, commit_sha, reason FROM transitions WHERE slug = ? ORDER BY id",
            (slug,),
        ).fetchall()


def wait_queue_empty() -> None:
    """So that no earlier change is still on its way to the branch when the stand-in starts."""
    uri = f"file:{STATE / 'gitops-bot.sqlite3'}?mode=ro"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            (pending,) = db.execute(
                "SELECT count(*) FROM events WHERE status = 'pending'"
            ).fetchone()
        if not pending:
            return
        time.sleep(0.1)


NOTES = {
    "accepted": "intake stored the signed signup (202)",
    "committed": "the writer pushed tenants/{slug}.json to main in {sha}",
    "evaluated": "nix/ evaluated with the tenant in it",
    "deploying": "the stand-in deploy started (deployment_status in_progress)",
    "deployed": "the stand-in finished after its fixed {seconds:g} s (deployment_status success)",
    "live": "the probe: GET / answered 200 twice in a row over HTTPS, certificate verified",
}


def follow(slug: str, *, timeout: float) -> bool:
    """Print each status of `slug` as it is recorded, with the time since the signup."""
    deadline = time.monotonic() + timeout
    shown = 0
    first = previous = 0.0
    while time.monotonic() < deadline:
        rows = transitions(slug)
        for status, at, sha, reason in rows[shown:]:
            first = first or at
            note = NOTES.get(status, reason or "").format(
                slug=slug, sha=(sha or "")[:12], seconds=STANDIN_SECONDS
            )
            if status == "failed":
                note = f"failed: {reason}"
            print(
                f"  {status:<10} {at - first:6.2f} s after the signup"
                f"  (+{at - (previous or at):5.2f} s)  {note}",
                flush=True,
            )
            previous = at
            if status in {"live", "failed"}:
                return status == "live"
        shown = len(rows)
        time.sleep(0.05)
    print(f"  {slug} did not reach live within {timeout:.0f} s; see {STATE / 'serve.log'}")
    return False


def show_live(ca: standin.StandinCA, sites: standin.Sites, github_secret: str) -> bool:
    step(f"From signup to live: {LIVE_SLUG}, against a STAND-IN deploy (not a real deploy)")
    print(standin.BANNER.format(seconds=STANDIN_SECONDS, port=sites.port, ca=ca.bundle))
    print(
        "What is real here: intake, the commit, the deploy's choice of hosts and new tenants, "
        "the bot's /webhooks/github, and the probe over HTTPS with the certificate verified."
    )
    wait_queue_empty()
    engine = standin.StandinEngine(
        STATE / "state.git",
        sites=sites,
        api=standin.WebhookDeployments(URL, github_secret),
        seconds=STANDIN_SECONDS,
        say=lambda line: print(f"  [stand-in] {line}", flush=True),
    ).start()
    try:
        signup("--slug", LIVE_SLUG, "--plan", "pro")
        reached = follow(LIVE_SLUG, timeout=STANDIN_SECONDS + 40)
    finally:
        engine.stop()
    spec = ProbeSpec(port=sites.port)
    pinned = Prober(resolve=lambda _name, _port: ["127.0.0.1"], ca_file=ca.bundle)
    print(f"$ probe https://{LIVE_NAME}/ trusting the stand-in CA only")
    print(f"  {pinned.probe(LIVE_NAME, spec).detail}")
    print(f"$ probe https://{LIVE_NAME}/ with the system's trust store: the CA is the demo's own")
    system = Prober(resolve=lambda _name, _port: ["127.0.0.1"])
    print(f"  {system.probe(LIVE_NAME, spec).detail}")
    return reached


def show_result() -> int:
    step("One tenant file, exactly as committed")
    print(git("show", "main:tenants/umbrella.json"))
    step("The checker's verdict on a fresh clone of the state repo")
    checkout = STATE / "checkout"
    subprocess.run(
        ["git", "clone", "--quiet", str(STATE / "state.git"), str(checkout)], env=ENV, check=True
    )
    verdict = bot("check", str(checkout))
    step("One tenant as the bot sees it: its file on main, and every status it reached")
    bot("tenants", "show", "northwind")
    return verdict.returncode


def operator_view() -> None:
    """A few metrics and a log line; `make serve` and /admin show the rest."""
    from gitops_bot.config import Settings  # noqa: PLC0415

    token = Settings(demo=True, state_dir=STATE).require_secrets().admin_token
    assert token is not None  # noqa: S101
    request = urllib.request.Request(
        f"{URL}/metrics", headers={"Authorization": f"Bearer {token.get_secret_value()}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        metrics = response.read().decode().splitlines()
    wanted = (
        "gitops_bot_intake_",
        "gitops_bot_queue_depth",
        "gitops_bot_host_tenants",
        "gitops_bot_deploys_total",
    )
    print(f"$ curl -H 'Authorization: Bearer ...' {URL}/metrics | grep ...")
    print("\n".join(line for line in metrics if line.startswith(wanted)))
    lines = (STATE / "serve.log").read_text().splitlines()
    print(f"$ grep event_id {STATE / 'serve.log'} | tail -1")
    print([line for line in lines if '"event_id"' in line][-1])
    print(
        f"\nThe operator view is /admin (`make serve`, then {URL.rsplit(':', 1)[0]}:8080/admin);"
        f" log in with the token in {STATE / 'demo-secrets' / 'admin-token'}."
    )


def main() -> int:
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    ca, sites, github_secret = prepare_standin()
    step(f"Starting the bot on {URL} (gunicorn, 2 web workers, 1 writer) in demo mode")
    log = (STATE / "serve.log").open("wb")
    server = subprocess.Popen(
        [*BOT, "serve", "--bind", f"127.0.0.1:{PORT}", "--workers", "2"],
        env=ENV,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(server)
        print(f"ready; the state repo is {STATE / 'state.git'}, seeded with tenants/ and nix/")
        show_intake()
        show_burst()
        show_lifecycle()
        reached = show_live(ca, sites, github_secret)
        verdict = show_result()
        step("For the operator: /metrics (with the admin token) and JSON log lines")
        operator_view()
        if not reached:
            print(f"\n{LIVE_SLUG} did not reach live", file=sys.stderr)
            return 1
        return verdict
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        sites.close()


if __name__ == "__main__":
    sys.exit(main())
