"""The governor's arithmetic, on a clock that only pretends to sleep."""

from __future__ import annotations

import pytest

from gitops_bot.backends.ratelimit import Governor, Limits


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.epoch = 1_700_000_000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def write(governor: Governor, clock: ManualClock, duration: float = 0.0) -> None:
    governor.before(write=True)
    clock.now += duration
    governor.finished(write=True)


def test_defaults_stay_under_githubs_documented_limits() -> None:
    limits = Limits()
    assert limits.write_interval >= 1.0
    assert limits.per_minute < 80
    assert limits.per_hour < 500


def test_writes_are_a_second_apart_counted_from_the_end_of_the_last(clock: ManualClock) -> None:
    governor = Governor(Limits(), clock)
    write(governor, clock, duration=0.3)
    assert governor.delay(write=True) == pytest.approx(1.0)
    assert governor.delay(write=False) == 0  # reads are not held back by writes
    clock.now += 0.4
    write(governor, clock)
    assert clock.slept == [pytest.approx(0.6)]


def test_minute_window_holds_the_next_write_until_the_oldest_leaves(clock: ManualClock) -> None:
    governor = Governor(
        Limits(write_interval=0, per_minute=3, per_hour=100, window_margin=1), clock
    )
    start = clock.now
    for _ in range(3):
        write(governor, clock)
        clock.now += 1
    # Three writes at start, start+1, start+2; the fourth waits for the first to slide out,
    # and a second more for the time a request takes to reach GitHub.
    assert governor.delay(write=True) == pytest.approx(start + 61 - clock.now)
    write(governor, clock)
    assert clock.now == pytest.approx(start + 61)


def test_hour_window(clock: ManualClock) -> None:
    governor = Governor(
        Limits(write_interval=0, per_minute=100, per_hour=5, window_margin=0), clock
    )
    start = clock.now
    for _ in range(5):
        write(governor, clock)
        clock.now += 61
    assert governor.delay(write=True) == pytest.approx(start + 3600 - clock.now)


def test_a_long_run_never_exceeds_either_window(clock: ManualClock) -> None:
    limits = Limits()
    governor = Governor(limits, clock)
    sent = []
    for _ in range(1200):
        governor.before(write=True)
        sent.append(clock.now)
        clock.now += 0.05
        governor.finished(write=True)
    for i, t in enumerate(sent):
        # Even a request that reaches GitHub most of a second late stays inside the limits.
        in_minute = sum(1 for u in sent[i:] if u < t + 60 + 0.9)
        in_hour = sum(1 for u in sent[i:] if u < t + 3600 + 0.9)
        assert in_minute <= limits.per_minute
        assert in_hour <= limits.per_hour
    assert sent[-1] - sent[0] > 2 * 3600  # 1,200 writes at 400 an hour take three hours


def test_exhausted_budget_waits_for_the_reset(clock: ManualClock) -> None:
    governor = Governor(Limits(), clock)
    governor.observe(remaining=0, reset=clock.time() + 120)
    assert governor.delay(write=False) == pytest.approx(121)


def test_low_budget_is_spread_over_the_rest_of_the_window(clock: ManualClock) -> None:
    governor = Governor(Limits(primary_reserve=50), clock)
    governor.observe(remaining=10, reset=clock.time() + 100)
    assert governor.delay(write=False) == pytest.approx(10)
    governor = Governor(Limits(primary_reserve=50), clock)
    governor.observe(remaining=4000, reset=clock.time() + 100)
    assert governor.delay(write=False) == 0


def test_secondary_limit_honours_retry_after_then_doubles(clock: ManualClock) -> None:
    governor = Governor(Limits(), clock)
    assert governor.secondary_limit(7) == 7
    assert governor.delay(write=False) == pytest.approx(7)
    assert governor.secondary_limit(7) == 14
    assert governor.secondary_limit(None) == 240  # a minute, doubled twice more
    governor.succeeded()
    assert governor.secondary_limit(None) == 60


def test_retry_after_longer_than_the_cap_is_still_honoured(clock: ManualClock) -> None:
    governor = Governor(Limits(max_wait=100), clock)
    assert governor.secondary_limit(3600) == 3600


def test_transient_failures_back_off_exponentially_up_to_a_cap(clock: ManualClock) -> None:
    governor = Governor(Limits(transient_wait=1, max_wait=5), clock)
    assert [governor.transient_failure() for _ in range(5)] == [1, 2, 4, 5, 5]
    governor.succeeded()
    assert governor.transient_failure() == 1


def test_time_waited_is_accounted(clock: ManualClock) -> None:
    governor = Governor(Limits(), clock)
    governor.secondary_limit(30)
    governor.before(write=False)
    assert governor.waited == pytest.approx(30)
