"""Fault injection from Python: failing statuses, secondary limits, latency, concurrent pushes."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["status", "secondary_limit", "latency", "concurrent_push", "stale_read"]


@dataclass
class FaultRule:
    """Which requests a fault hits, how often, and what it does.

    A rule matches on method and on a regular expression searched in the request path below
    the API root (e.g. ``/repos/acme-ops/fleet-state/git/refs/heads/main`` or ``/graphql``), so
    it never depends on which calls came before. ``remaining`` None means every match is a
    candidate; a number means only the next N matching requests that fire.
    """

    kind: FaultKind
    methods: frozenset[str] | None = None
    path: str = ""
    probability: float = 1.0
    remaining: int | None = None
    status: int = 502
    retry_after: int = 1
    latency: float = 0.0
    applied: bool = False  # status faults: run the request for real, then answer the fault
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.remaining == 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return self._pattern.search(path) is not None


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    return None if methods is None else frozenset(m.upper() for m in methods)


class Faults:
    """The rules a FakeGitHub applies; every probability is drawn from one seeded Random."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 502,
        methods: Iterable[str] | None = None,
        path: str = "",
        applied: bool = False,
    ) -> FaultRule:
        """The next n matching requests answer `status` (502, 503, ...)."""
        return self.add(
            FaultRule("status", _methods(methods), path, 1.0, n, status, applied=applied)
        )

    def fail_randomly(
        self,
        probability: float,
        *,
        status: int = 502,
        methods: Iterable[str] | None = None,
        path: str = "",
        applied: bool = False,
    ) -> FaultRule:
        return self.add(
            FaultRule("status", _methods(methods), path, probability, None, status, applied=applied)
        )

    def secondary_limit_next(
        self,
        n: int = 1,
        *,
        status: int = 403,
        retry_after: int = 1,
        methods: Iterable[str] | None = None,
        path: str = "",
    ) -> FaultRule:
        """The next n matching requests get a secondary-limit 403 or 429 with Retry-After."""
        return self.add(
            FaultRule("secondary_limit", _methods(methods), path, 1.0, n, status, retry_after)
        )

    def secondary_limit_randomly(
        self,
        probability: float,
        *,
        status: int = 403,
        retry_after: int = 1,
        methods: Iterable[str] | None = None,
        path: str = "",
    ) -> FaultRule:
        return self.add(
            FaultRule(
                "secondary_limit", _methods(methods), path, probability, None, status, retry_after
            )
        )

    def concurrent_push_next(self, n: int = 1, *, path: str = r"/git/refs/heads/") -> FaultRule:
        """Before the next n matching ref PATCHes apply, another writer advances the branch."""
        return self.add(FaultRule("concurrent_push", frozenset({"PATCH"}), path, 1.0, n))

    def concurrent_push_randomly(
        self, probability: float, *, path: str = r"/git/refs/heads/"
    ) -> FaultRule:
        return self.add(FaultRule("concurrent_push", frozenset({"PATCH"}), path, probability, None))

    def stale_read_next(self, n: int = 1, *, path: str = r"/git/ref/heads/") -> FaultRule:
        """The next n matching ref reads answer the ref's previous commit (its first parent).

        GitHub may serve a read from a replica that has not seen the latest write yet.
        """
        return self.add(FaultRule("stale_read", frozenset({"GET"}), path, 1.0, n))

    def add_latency(
        self,
        seconds: float,
        *,
        probability: float = 1.0,
        methods: Iterable[str] | None = None,
        path: str = "",
        n: int | None = None,
    ) -> FaultRule:
        return self.add(
            FaultRule("latency", _methods(methods), path, probability, n, latency=seconds)
        )

    def draw(self, kinds: Iterable[FaultKind], method: str, path: str) -> FaultRule | None:
        """The first rule of these kinds that matches and fires; it is counted as fired."""
        wanted = set(kinds)
        with self._lock:
            for rule in self._rules:
                if rule.kind not in wanted or not rule.matches(method, path):
                    continue
                # Only uncertain rules consume a draw, so adding a certain rule does not
                # shift the random sequence that other rules see.
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.fired += 1
                return rule
        return None
