"""Moving a tenant to another app release from the operator's side, as one `tenant.update`."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime

from pydantic import ValidationError

from gitops_bot.config import Settings
from gitops_bot.intake.events import UpdateEvent
from gitops_bot.intake.intake import Intake
from gitops_bot.intake.webhooks import validation_error
from gitops_bot.store.queue import Answer, Store


def queue_release_change(
    store: Store,
    settings: Settings,
    *,
    slug: str,
    release: str,
    reason: str,
    event_id: str | None = None,
) -> Answer:
    """Queue a `tenant.update` that moves `slug` to `release`; intake's answer comes back.

    It goes through the same intake as a webhook's event, so the same rules hold: 404 for
    an unknown tenant, 422 naming `data.release` for a release nix/inventory.json does not
    list, the delivery policy (a review where it asks for one), the writer's checker before
    the commit. A 202 means queued. Pass an `event_id` fixed by the caller (a rollout's wave
    and tenant) so that calling again after a crash gets the first answer back instead of
    queueing the change twice. Call it outside a transaction of `store`: intake opens its own.
    """
    payload = {
        "type": "tenant.update",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {"slug": slug, "release": release, "reason": reason},
    }
    try:
        event = UpdateEvent.model_validate(payload)
    except ValidationError as invalid:
        return validation_error(invalid)
    body = json.dumps(payload["data"], sort_keys=True).encode()
    intake = Intake(store=store, settings=settings, status_url=lambda s: f"/v1/tenants/{s}")
    return intake.accept(
        event_id=event_id or f"rel_{secrets.token_hex(12)}",
        body_sha256=hashlib.sha256(body).hexdigest(),
        event=event,
    )
