"""What the bot reads of GitHub's payloads, and what it makes of payloads it cannot read."""

from __future__ import annotations

import json

from gitops_bot.github.payloads import Deployment


def test_a_deployment_payload_given_as_a_json_string_is_read() -> None:
    payload = json.dumps({"tenants": {"acme": "https://acme.example.com"}})
    deployment = Deployment(sha="0" * 40, environment="production", payload=payload)
    assert deployment.tenants() == {"acme": "https://acme.example.com"}


def test_a_deeply_nested_deployment_payload_string_names_no_tenant() -> None:
    # The string is JSON inside JSON: its depth was never bounded by the body's parse.
    payload = "[" * 32_000 + "]" * 32_000
    deployment = Deployment(sha="0" * 40, environment="production", payload=payload)
    assert deployment.tenants() == {}
