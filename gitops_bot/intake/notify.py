"""The notifier: POSTs each tenant status change to the landing page, signed, retried, in order."""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from standardwebhooks.webhooks import Webhook

from gitops_bot import logs
from gitops_bot.store import errorlog, outbox
from gitops_bot.store.queue import Store

log = logging.getLogger(__name__)

_OK: Final = range(200, 300)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET without its body: a failed delivery.
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


@dataclass
class Notifier:
    """Delivers the outbox to one URL; runs as a thread of the writer's process.

    Delivery is at least once: a receiver that answered 2xx is never asked again, but
    one that answered just before a crash can be; `webhook-id` lets it drop the repeat.
    """

    database: Path
    url: str
    secret: str
    attempts: int = 12
    # Backoff: base * 2^(n-1) seconds after the n-th failure, capped, with jitter so
    # that many tenants' messages do not all come back at the same moment.
    base_delay: float = 2.0
    max_delay: float = 600.0
    timeout: float = 10.0
    poll: float = 0.5
    synchronous: str = "FULL"
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._webhook = Webhook(self.secret)
        self._opener = urllib.request.build_opener(_NoRedirects)

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set; sleeps until the next message is due, or `poll`."""
        with Store(self.database, synchronous=self.synchronous) as store:
            while not stop.is_set():
                if self.deliver_due(store, stop):
                    continue
                due = outbox.next_attempt(store.connection)
                wait = self.poll if due is None else min(self.poll, max(0.0, due - time.time()))
                stop.wait(wait)

    def deliver_due(self, store: Store, stop: threading.Event | None = None) -> int:
        """Try every message due now; how many were tried."""
        messages = outbox.due(store.connection, time.time())
        for message in messages:
            if stop is not None and stop.is_set():
                break
            self.deliver(store, message)
        return len(messages)

    def deliver(self, store: Store, message: outbox.Message) -> bool:
        with logs.bound(slug=message.slug, delivery_id=message.id):
            error = self._post(message)
            now = time.time()
            if error is None:
                with store.transaction() as db:
                    outbox.delivered(db, message, now)
                log.info("notification %s delivered", message.id)
                return True
            attempt = message.attempts + 1
            retry_at = None if attempt >= self.attempts else now + self._delay(attempt)
            with store.transaction() as db:
                outbox.failed(db, message, error, retry_at=retry_at, now=now)
            if retry_at is None:
                problem = f"gave up on {message.id} for {message.slug} after {attempt}: {error}"
                log.error("notification %s", problem)
                errorlog.remember(store, "notify", problem)
            else:
                log.warning(
                    "notification %s failed (attempt %d, next in %.1fs): %s",
                    message.id,
                    attempt,
                    retry_at - now,
                    error,
                )
            return False

    def _delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def _post(self, message: outbox.Message) -> str | None:
        """Send one attempt, signed now; None on a 2xx, else what went wrong."""
        now = datetime.now(UTC)
        request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked in config
            self.url,
            data=message.body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "gitops-bot",
                "webhook-id": message.id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self._webhook.sign(message.id, now, message.body),
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(4096)
                status = int(response.status)
        except urllib.error.HTTPError as answer:
            answer.close()  # it holds the connection open until collected otherwise
            return f"HTTP {answer.code}"
        except (OSError, http.client.HTTPException) as problem:
            return f"{type(problem).__name__}: {problem}"
        return None if status in _OK else f"HTTP {status}"
