"""End to end over real HTTP: `gitops-bot serve` (gunicorn + writer) on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitops_bot.contract.checker import check_files
from helpers import SECRET, Server, git, signed_headers, signup, tenant_files

pytestmark = pytest.mark.slow


def post(url: str, payload: object, event_id: str | None = None) -> tuple[int, dict[str, object]]:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{url}/v1/events", data=body, headers=signed_headers(body, event_id), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def wait_for_tenants(
    remote: Path, slugs: set[str], timeout: float = 60
) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        files = tenant_files(remote)
        if slugs <= set(files) or time.monotonic() > deadline:
            return files
        time.sleep(0.2)


def test_200_concurrent_signups_all_land_in_fewer_commits(server: Server, tmp_path: Path) -> None:
    commits_before = int(git(server.remote, "rev-list", "--count", "main"))
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda n: post(server.url, signup(f"load-{n:03d}")), range(200)))
    assert [status for status, _ in answers] == [202] * 200
    slugs = {str(body["slug"]) for _, body in answers}
    files = wait_for_tenants(server.remote, slugs)
    assert slugs <= set(files)
    commits = int(git(server.remote, "rev-list", "--count", "main")) - commits_before
    assert 1 <= commits < 200
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(server.remote), str(checkout)], check=True)
    from gitops_bot.contract.checker import read_tree  # noqa: PLC0415

    assert check_files(read_tree(checkout)).ok


def test_same_event_three_times_concurrently_makes_one_tenant(server: Server) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(
            pool.map(lambda _: post(server.url, signup("thrice"), "msg_thrice"), range(3))
        )
    assert answers == [answers[0]] * 3
    assert answers[0][0] == 202
    files = wait_for_tenants(server.remote, {"thrice"})
    assert files["thrice"]["origin"] == "msg_thrice"


def test_send_signup_cli_and_status(server: Server) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gitops_bot.cli",
            "send-signup",
            "--url",
            server.url,
            "--organization",
            "Wayne Enterprises",
            "--plan",
            "free",
        ],
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("202 ")
    answer = json.loads(result.stdout.removeprefix("202 "))
    wait_for_tenants(server.remote, {"wayne-enterprises"})
    request = urllib.request.Request(
        answer["statusUrl"], headers={"Authorization": f"Bearer {server.status_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        status = json.loads(response.read())
    assert status["status"] == "committed"


def test_chunked_oversized_body_is_413_over_real_http(server: Server) -> None:
    body = json.dumps({**signup("chunky"), "padding": "x" * 100_000}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/v1/events")
    for key, value in signed_headers(body).items():
        connection.putheader(key, value)
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    try:
        for start in range(0, len(body), 8192):
            chunk = body[start : start + 8192]
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading once the limit is passed
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]
    connection.close()


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    request = urllib.request.Request(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.admin_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_every_worker_scrapes_the_same_totals_and_logs_are_json(server: Server) -> None:
    slugs = {f"obs-{n}" for n in range(8)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda slug: post(server.url, signup(slug)), sorted(slugs)))
    assert {status for status, _ in answers} == {202}
    body = json.dumps(signup("forged")).encode()
    forged = urllib.request.Request(
        f"{server.url}/v1/events",
        data=body,
        headers={**signed_headers(body), "webhook-signature": "v1,AAAA"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    refused.value.close()
    assert refused.value.code == 401
    wait_for_tenants(server.remote, slugs)
    deadline = time.monotonic() + 30
    while scrape(server)[("gitops_bot_queue_depth", ())] and time.monotonic() < deadline:
        time.sleep(0.1)
    # Four web workers answer scrapes at random; each must tell the whole story.
    with ThreadPoolExecutor(max_workers=4) as pool:
        scrapes = list(pool.map(lambda _: scrape(server), range(16)))
    accepted = ("gitops_bot_intake_accepted_total", (("type", "tenant.signup"),))
    forged_key = ("gitops_bot_intake_rejected_total", (("reason", "signature"),))
    assert {s[accepted] for s in scrapes} == {8}
    assert {s[forged_key] for s in scrapes} == {1}
    assert {s[("gitops_bot_accept_to_commit_seconds_count", ())] for s in scrapes} == {8}

    text = server.log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    answered = {line["slug"]: line for line in lines if "answered 202" in line["message"]}
    assert set(answered) == slugs
    assert all(line["event_id"].startswith("msg_") for line in answered.values())
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    for secret in (SECRET, SECRET.removeprefix("whsec_"), server.status_token, server.admin_token):
        assert secret not in text


def test_a_writer_killed_under_serve_is_restarted(server: Server) -> None:
    killed = server.writer_pid()
    os.kill(killed, signal.SIGKILL)
    server.writer_pid(other_than=killed)  # the supervisor starts another
    assert post(server.url, signup("after-the-crash"))[0] == 202
    assert "after-the-crash" in wait_for_tenants(server.remote, {"after-the-crash"})
