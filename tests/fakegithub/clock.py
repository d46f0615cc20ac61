"""The fake's clock: real time plus an offset that tests advance instead of sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Both clocks move together, so rate windows, token expiry and timestamps stay consistent."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def time(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += seconds

    def iso(self, epoch: float | None = None) -> str:
        """GitHub's timestamp format: UTC, whole seconds, a literal Z."""
        value = self.time() if epoch is None else epoch
        return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
