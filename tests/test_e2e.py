"""End to end over real HTTP: `gitops-bot serve` (gunicorn + writer) on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gitops_bot.checker import check_files
from helpers import STATUS_TOKEN, git, signed_headers, signup, tenant_files
from served import Server

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
    from gitops_bot.checker import read_tree  # noqa: PLC0415

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
        answer["statusUrl"], headers={"Authorization": f"Bearer {STATUS_TOKEN}"}
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
