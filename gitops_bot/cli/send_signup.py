"""`gitops-bot send-signup`: the reference sender, signing an event as a landing page would."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks.webhooks import Webhook


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("send-signup", help="send a signed tenant.signup event")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the bot's base URL")
    parser.add_argument("--plan", required=True, help="the plan signed up for")
    parser.add_argument("--slug", help="requested slug (else derived from --organization)")
    parser.add_argument("--organization", help="organization name, used only to derive a slug")
    parser.add_argument("--domain", help="custom domain")
    parser.add_argument("--customer-ref", help="opaque id in the landing page's records")
    parser.add_argument("--id", help="webhook-id (default: a fresh msg_ id); reuse it to redeliver")
    parser.add_argument(
        "--secret-file", type=Path, help="webhook secret (default: the bot's own settings)"
    )
    parser.set_defaults(func=run)


def signed_request(
    url: str, secret: str, event_id: str, payload: Mapping[str, object]
) -> urllib.request.Request:
    """A POST /v1/events request signed exactly as the Standard Webhooks spec says."""
    body = json.dumps(payload, separators=(",", ":"))
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id=event_id, timestamp=now, data=body)
    return urllib.request.Request(  # noqa: S310 - the operator chooses the URL
        url.rstrip("/") + "/v1/events",
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
    )


def _secret(args: argparse.Namespace) -> str:
    if args.secret_file is not None:
        return str(args.secret_file.read_text(encoding="utf-8").strip())
    from gitops_bot.config import Settings  # noqa: PLC0415

    secret = Settings().require_secrets().webhook_secret
    assert secret is not None  # noqa: S101 - require_secrets guarantees it
    return secret.get_secret_value()


def run(args: argparse.Namespace) -> int:
    data = {
        key: value
        for key, value in {
            "slug": args.slug,
            "organization": args.organization,
            "plan": args.plan,
            "domain": args.domain,
            "customerRef": args.customer_ref,
        }.items()
        if value is not None
    }
    payload = {"type": "tenant.signup", "timestamp": datetime.now(UTC).isoformat(), "data": data}
    event_id = args.id or f"msg_{secrets.token_hex(12)}"
    request = signed_request(args.url, _secret(args), event_id, payload)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, body = response.status, response.read()
    except urllib.error.HTTPError as refused:
        status, body = refused.code, refused.read()
    except urllib.error.URLError as unreachable:
        print(
            f"gitops-bot send-signup: cannot reach {args.url}: {unreachable.reason}",
            file=sys.stderr,
        )
        return 2
    print(f"{status} {body.decode(errors='replace').strip()}")
    return 0 if status < 400 else 1  # noqa: PLR2004
