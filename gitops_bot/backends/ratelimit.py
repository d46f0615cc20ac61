"""The GitHub request governor: write spacing, content-creation windows, rate headers, back-off."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Final, Protocol

log = logging.getLogger(__name__)

MINUTE: Final = 60.0
HOUR: Final = 3600.0


class Clock(Protocol):
    """Time as the governor sees it; tests and benchmarks pass one that only pretends to sleep."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Limits:
    """How hard the bot may push GitHub; the defaults stay under GitHub's documented limits.

    GitHub documents at most 80 content-creating requests a minute and 500 an hour, at
    least a second between writes, and at least a minute's wait after a secondary limit
    that came without Retry-After.
    """

    write_interval: float = 1.0
    per_minute: int = 60
    per_hour: int = 400
    # Below this many requests left in the hour, what is left is spread over the rest of it.
    primary_reserve: int = 50
    secondary_wait: float = 60.0
    transient_wait: float = 1.0
    max_wait: float = 900.0
    # GitHub counts a request when it arrives, a little after the governor lets it go; a
    # window is held this much longer so that jitter never puts one request too many in it.
    window_margin: float = 1.0


class Governor:
    """How long the one writer waits before each request to GitHub. No I/O but the clock.

    The writer is alone, so requests are sequential and the state is plain: when the last
    write ended, when each content-creating request of the last hour went out, and a time
    before which nothing is sent (a rate-limit reset, a Retry-After, a back-off).
    """

    def __init__(self, limits: Limits | None = None, clock: Clock | None = None) -> None:
        self.limits = limits or Limits()
        self.clock: Clock = clock or SystemClock()
        self._writes: deque[float] = deque()
        self._last_write_end: float | None = None
        self._not_before = 0.0
        self._secondary_strikes = 0
        self._transient_strikes = 0
        self.waited = 0.0  # seconds spent waiting in total, for logs and benchmarks

    # --- before and after each request ---------------------------------------------------

    def delay(self, *, write: bool) -> float:
        """Seconds to wait before a request could be sent now."""
        now = self.clock.monotonic()
        ready = max(now, self._not_before)
        if write:
            limits = self.limits
            if self._last_write_end is not None:
                ready = max(ready, self._last_write_end + limits.write_interval)
            self._forget(now - HOUR)
            ready = max(
                ready,
                self._window_opens(MINUTE, limits.per_minute, now),
                self._window_opens(HOUR, limits.per_hour, now),
            )
        return ready - now

    def before(self, *, write: bool) -> None:
        """Wait until the request may go out; a write is counted as it leaves."""
        wait = self.delay(write=write)
        if wait > 0:
            if wait >= 1:
                kind = "write" if write else "read"
                log.info("waiting %.1fs before the next GitHub %s", wait, kind)
            self.clock.sleep(wait)
            self.waited += wait
        if write:
            self._writes.append(self.clock.monotonic())

    def finished(self, *, write: bool) -> None:
        # GitHub asks for a second between writes; PyGithub also counts it from the end.
        if write:
            self._last_write_end = self.clock.monotonic()

    def observe(self, remaining: int | None, reset: float | None) -> None:
        """Take in x-ratelimit-remaining and x-ratelimit-reset (epoch seconds) of an answer."""
        if remaining is None or reset is None or remaining < 0:
            return
        until_reset = reset - self.clock.time()
        if until_reset <= 0:
            return
        if remaining == 0:
            # The reset second itself may still belong to the old window.
            self._hold(until_reset + 1)
        elif remaining < self.limits.primary_reserve:
            self._hold(until_reset / remaining)

    # --- when GitHub says no -------------------------------------------------------------

    def secondary_limit(self, retry_after: float | None) -> float:
        """A secondary limit was hit: honour Retry-After, doubling while it keeps happening."""
        self._secondary_strikes += 1
        base = self.limits.secondary_wait if retry_after is None else retry_after
        wait = min(base * 2.0 ** (self._secondary_strikes - 1), max(self.limits.max_wait, base))
        self._hold(wait)
        return wait

    def transient_failure(self) -> float:
        """A 5xx or a dropped connection: back off exponentially before the retry."""
        self._transient_strikes += 1
        wait = min(
            self.limits.transient_wait * 2.0 ** (self._transient_strikes - 1), self.limits.max_wait
        )
        self._hold(wait)
        return wait

    def succeeded(self) -> None:
        self._secondary_strikes = 0
        self._transient_strikes = 0

    # --- arithmetic ----------------------------------------------------------------------

    def _hold(self, seconds: float) -> None:
        self._not_before = max(self._not_before, self.clock.monotonic() + seconds)

    def _forget(self, horizon: float) -> None:
        while self._writes and self._writes[0] <= horizon:
            self._writes.popleft()

    def _window_opens(self, window: float, limit: int, now: float) -> float:
        """When one more write fits in every `window` seconds ending then (GitHub slides it)."""
        recent = [t for t in self._writes if t > now - window]
        if len(recent) < limit:
            return now
        # The write that must leave the window before another one may enter it.
        return recent[len(recent) - limit] + window + self.limits.window_margin
