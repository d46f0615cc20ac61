"""`make demo`: start the bot on a fresh local state repo, send signed signups, show the result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "var" / "demo"
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
    wanted = ("gitops_bot_intake_", "gitops_bot_queue_depth", "gitops_bot_host_tenants")
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
        verdict = show_result()
        step("For the operator: /metrics (with the admin token) and JSON log lines")
        operator_view()
        return verdict
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
