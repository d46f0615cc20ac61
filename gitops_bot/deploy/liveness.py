"""Watching deployed tenants until their URLs answer: live after successes, failed at a deadline."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from gitops_bot.deploy.probe import ProbeResult, ProbeSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from gitops_bot.deploy.probe import Prober


@dataclass(frozen=True)
class Verdict:
    """What a watch learned: `live`, or `failed` with the last error in plain words."""

    slug: str
    status: Literal["live", "failed"]
    detail: str


@dataclass
class _Watch:
    names: tuple[str, ...]
    plan: str
    deadline: float
    next_at: float
    streak: dict[str, int] = field(default_factory=dict)
    last_error: str = ""
    failed: bool = False


@dataclass(frozen=True)
class LivenessPolicy:
    """How hard to look. Successes in a row guard against a route that flaps while nginx
    reloads; the deadline is when a customer should hear that something is wrong."""

    successes: int = 2
    interval: float = 5.0
    max_interval: float = 60.0
    deadline: float = 900.0
    concurrency: int = 8
    # Per plan: the path and the answers that mean "up". Plans not named get the default.
    specs: Mapping[str, ProbeSpec] = field(default_factory=dict)
    default: ProbeSpec = field(default_factory=ProbeSpec)

    def spec_for(self, plan: str) -> ProbeSpec:
        return self.specs.get(plan, self.default)


class LivenessWatch:
    """The tenants waiting to be seen live, probed in bounded rounds.

    A tenant is live once every one of its names (its own `<slug>.<baseDomain>` and each
    verified custom domain) has answered `successes` times in a row. Past the deadline it is
    reported failed once, and stays watched at the slowest interval: a later success still
    makes it live, so a certificate issued late does not leave a working tenant "failed".
    """

    def __init__(
        self,
        prober: Prober,
        policy: LivenessPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prober = prober
        self._policy = policy or LivenessPolicy()
        self._clock = clock
        self._watches: dict[str, _Watch] = {}

    def watch(self, slug: str, names: Sequence[str], plan: str) -> None:
        """Start (or restart, after another deploy) watching `slug`."""
        now = self._clock()
        self._watches[slug] = _Watch(
            names=tuple(dict.fromkeys(names)),
            plan=plan,
            deadline=now + self._policy.deadline,
            next_at=now,
        )

    def forget(self, slug: str) -> None:
        """Stop watching (the tenant was suspended or deleted)."""
        self._watches.pop(slug, None)

    @property
    def watching(self) -> frozenset[str]:
        return frozenset(self._watches)

    def run_once(self) -> list[Verdict]:
        """Probe every tenant that is due, at most `concurrency` probes at a time."""
        now = self._clock()
        due = {slug: w for slug, w in self._watches.items() if w.next_at <= now}
        if not due:
            return []
        jobs = [(slug, name) for slug, w in due.items() for name in w.names]
        spec = {slug: self._policy.spec_for(w.plan) for slug, w in due.items()}
        with ThreadPoolExecutor(max_workers=self._policy.concurrency) as pool:
            results = list(pool.map(lambda job: self._prober.probe(job[1], spec[job[0]]), jobs))
        by_slug: dict[str, list[ProbeResult]] = {}
        for (slug, _), result in zip(jobs, results, strict=True):
            by_slug.setdefault(slug, []).append(result)
        return [
            verdict
            for slug, found in by_slug.items()
            if (verdict := self._record(slug, due[slug], found)) is not None
        ]

    def next_due(self) -> float | None:
        """When the next probe is due (by the clock given), or None with nothing to watch."""
        return min((w.next_at for w in self._watches.values()), default=None)

    def _record(self, slug: str, watch: _Watch, results: list[ProbeResult]) -> Verdict | None:
        now = self._clock()
        for result in results:
            watch.streak[result.name] = watch.streak.get(result.name, 0) + 1 if result.ok else 0
            if not result.ok:
                watch.last_error = result.detail
        if all(watch.streak.get(name, 0) >= self._policy.successes for name in watch.names):
            del self._watches[slug]
            return Verdict(slug, "live", "; ".join(r.detail for r in results))
        failing = any(not result.ok for result in results)
        # Back off while it fails (a deploy that is still switching needs time, not load);
        # confirm a first success quickly.
        step = self._policy.interval
        if failing:
            waited = max(0.0, now - (watch.deadline - self._policy.deadline))
            step = min(self._policy.max_interval, max(step, waited / 4))
        watch.next_at = now + step
        if failing and not watch.failed and now >= watch.deadline:
            watch.failed = True
            watch.next_at = now + self._policy.max_interval
            return Verdict(slug, "failed", watch.last_error)
        return None
