"""Primary (hourly budget) and secondary (content creation) rate limits, and the request log."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from fakegithub.clock import Clock

PRIMARY_WINDOW = 3600.0
MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    time: float  # the fake clock's monotonic seconds, when the request arrived
    content_creating: bool
    principal: str | None
    fault: str | None  # the kind of injected fault that shaped the answer, if any


@dataclass(frozen=True)
class Violation:
    """A content-creating request refused because the client went over a secondary limit."""

    time: float
    method: str
    path: str
    principal: str
    window: str  # "minute" or "hour"
    limit: int
    retry_after: int


@dataclass
class Bucket:
    limit: int
    used: int
    reset: float  # epoch seconds, as x-ratelimit-reset reports it
    resource: str

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(int(self.reset)),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": self.resource,
        }


class PrimaryLimiter:
    """One bucket per (principal, resource); a window starts at the first request after a reset."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: str, resource: str, limit: int) -> Bucket:
        now = self._clock.time()
        bucket = self._buckets.get((key, resource))
        if bucket is None or now >= bucket.reset:
            bucket = Bucket(limit, 0, now + PRIMARY_WINDOW, resource)
            self._buckets[(key, resource)] = bucket
        bucket.limit = limit  # a test may change the budget mid-run
        return bucket

    def consume(self, key: str, resource: str, limit: int) -> tuple[bool, Bucket]:
        """Count one request; False (and no count) when the budget is spent."""
        with self._lock:
            bucket = self._bucket(key, resource, limit)
            if bucket.used >= bucket.limit:
                return False, _copy(bucket)
            bucket.used += 1
            return True, _copy(bucket)

    def peek(self, key: str, resource: str, limit: int) -> Bucket:
        with self._lock:
            return _copy(self._bucket(key, resource, limit))


def _copy(bucket: Bucket) -> Bucket:
    return Bucket(bucket.limit, bucket.used, bucket.reset, bucket.resource)


class SecondaryLimiter:
    """Sliding one-minute and one-hour windows of content-creating requests per principal."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str, per_minute: int, per_hour: int) -> tuple[str, int, int] | None:
        """Record the request when it fits; otherwise (window, limit, retry_after) and no record."""
        with self._lock:
            now = self._clock.monotonic()
            times = self._times.setdefault(key, deque())
            while times and times[0] <= now - HOUR:
                times.popleft()
            in_minute = [t for t in times if t > now - MINUTE]
            if len(in_minute) >= per_minute:
                wait = in_minute[len(in_minute) - per_minute] + MINUTE - now
                return "minute", per_minute, max(math.ceil(wait), 1)
            if len(times) >= per_hour:
                wait = times[len(times) - per_hour] + HOUR - now
                return "hour", per_hour, max(math.ceil(wait), 1)
            times.append(now)
            return None


class RequestLog:
    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._violations: list[Violation] = []
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def add_violation(self, violation: Violation) -> None:
        with self._lock:
            self._violations.append(violation)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def violations(self) -> list[Violation]:
        with self._lock:
            return list(self._violations)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._violations.clear()

    def max_content_writes(self, window: float = MINUTE) -> int:
        """The most content-creating requests that arrived within any `window` seconds."""
        times = sorted(r.time for r in self.records() if r.content_creating)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best
