"""The fake DNS server answers dnspython over UDP and TCP as an authoritative server would."""

from __future__ import annotations

import dns.rcode
import dns.resolver
from fakes.dnsserver import ask_tcp, fake_dns


def _resolver(address: str) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    host, _, port = address.partition("@")
    resolver.nameservers = [host]
    resolver.port = int(port)
    resolver.lifetime = 1.0
    return resolver


def test_it_serves_set_records_and_nxdomain_for_the_rest() -> None:
    with fake_dns() as (zone, address):
        zone.set("_gitops-bot.shop.example", "TXT", '"gitops-bot-verification=acme"')
        answer = _resolver(address).resolve("_gitops-bot.shop.example", "TXT")
        assert [b"".join(r.strings) for r in answer] == [b"gitops-bot-verification=acme"]
        assert ask_tcp(address, "nowhere.example", "TXT").rcode() == dns.rcode.NXDOMAIN
        tcp = ask_tcp(address, "_gitops-bot.shop.example", "TXT")
        assert tcp.answer[0].to_text().endswith('"gitops-bot-verification=acme"')
