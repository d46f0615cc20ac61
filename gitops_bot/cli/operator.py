"""What operator commands share: queueing an event as the webhook would, and waiting on it."""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from gitops_bot.config import Settings
from gitops_bot.intake.events import EVENT_MODELS
from gitops_bot.intake.intake import Intake
from gitops_bot.intake.webhooks import validation_error
from gitops_bot.store.queue import Store


def queue_event(settings: Settings, event_type: str, data: dict[str, Any]) -> tuple[str, int]:
    """Validate and queue an operator's event through the same intake as a webhook's.

    Returns the event id and the HTTP status intake would have answered.
    """
    payload = {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}
    try:
        event = EVENT_MODELS[event_type].model_validate(payload)
    except ValidationError as invalid:
        refusal = validation_error(invalid)
        print(f"{refusal.status} {refusal.body['error']}", file=sys.stderr)
        return "", refusal.status
    event_id = f"cli_{secrets.token_hex(12)}"
    body = json.dumps(payload, sort_keys=True).encode()
    with Store(settings.database_path, synchronous=settings.synchronous) as store:
        store.migrate()
        intake = Intake(
            store=store, settings=settings, status_url=lambda slug: f"/v1/tenants/{slug}"
        )
        answer = intake.accept(
            event_id=event_id, body_sha256=hashlib.sha256(body).hexdigest(), event=event
        )
    print(f"{answer.status} {json.dumps(dict(answer.body), sort_keys=True)}")
    return event_id, answer.status


def wait_for(settings: Settings, event_id: str, timeout: float) -> int:
    """Wait until the writer settles `event_id`; 0 when it landed, 1 when it failed or waits on."""
    deadline = time.monotonic() + timeout
    with Store(settings.database_path, synchronous=settings.synchronous) as store:
        while True:
            outcome = store.event_outcome(event_id)
            if outcome is not None and outcome[0] != "pending":
                status, reason, sha = outcome
                if status == "done":
                    print(f"done in {sha}")
                    return 0
                print(f"{status}: {reason}", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(
                    "still queued: the writer (`gitops-bot worker`) will commit it", file=sys.stderr
                )
                return 1
            time.sleep(0.1)
