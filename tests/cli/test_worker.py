"""`gitops-bot serve` runs the domain verifier in its worker, against a real DNS server."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from fakes.dnsserver import fake_dns

from gitops_bot.config import Settings
from helpers import running_bot, signed_headers, signup, tenant_files


def _status(url: str, token: str, slug: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{url}/v1/tenants/{slug}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, object] = json.load(response)
    return result


def test_the_worker_verifies_a_domain_once_its_txt_record_appears(
    settings: Settings, tmp_path: Path
) -> None:
    domain = "shop.dns-e2e.example"
    with (
        fake_dns() as (zone, address),
        running_bot(
            settings,
            tmp_path,
            GITOPS_BOT_DNS_RESOLVER=address,
            GITOPS_BOT_DNS_TIMEOUT="0.5",
            GITOPS_BOT_DOMAIN_CHECK_FIRST="0",
            GITOPS_BOT_DOMAIN_CHECK_MAX_INTERVAL="1",
        ) as server,
    ):
        body = json.dumps(signup("dns-e2e", domain=domain)).encode()
        request = urllib.request.Request(
            f"{server.url}/v1/events", data=body, headers=signed_headers(body), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
        deadline = time.monotonic() + 60
        while not zone.queries:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
        assert tenant_files(server.remote)["dns-e2e"]["pendingDomains"] == [domain]
        zone.set(f"_gitops-bot.{domain}", "TXT", '"gitops-bot-verification=dns-e2e"')
        while tenant_files(server.remote)["dns-e2e"]["domains"] != [domain]:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
        domains = _status(server.url, server.status_token, "dns-e2e")["domains"]
        assert isinstance(domains, list)
        assert [d["state"] for d in domains] == ["verified"]
