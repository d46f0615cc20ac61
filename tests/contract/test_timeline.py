"""Stage durations from a tenant's transitions: nulls where unseen, never negative."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.contract.lifecycle import STATUSES
from gitops_bot.contract.timeline import STAGES, bucket, percentile, reached, timeline


def story(*steps: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"status": status, "at": at} for status, at in steps]


def test_a_direct_signup_all_the_way_to_live() -> None:
    result = timeline(
        story(
            ("accepted", 100.0),
            ("committed", 103.0),
            ("deploying", 110.0),
            ("deployed", 170.0),
            ("live", 175.5),
        )
    )
    assert result.stages == {"committed": 3.0, "deploying": 7.0, "deployed": 60.0, "live": 5.5}
    assert result.signup_to_live == 75.5
    assert result.as_json() == {
        "stages": {"committed": 3.0, "deploying": 7.0, "deployed": 60.0, "live": 5.5},
        "signupToLive": 75.5,
    }


def test_a_reviewed_signup_counts_its_merge_as_the_commit() -> None:
    result = timeline(
        story(("accepted", 0.0), ("pr_open", 1.0), ("merged", 600.0), ("deploying", 601.0))
    )
    assert result.stages == {"committed": 600.0, "deploying": 1.0, "deployed": None, "live": None}
    assert result.signup_to_live is None


def test_a_stage_nobody_saw_is_null_not_zero() -> None:
    # Local mode: nix/ evaluated, no deploy observed, the probe asked to watch it anyway.
    result = timeline(
        story(("accepted", 0.0), ("committed", 2.0), ("evaluated", 4.0), ("live", 9.0))
    )
    assert result.stages == {"committed": 2.0, "deploying": None, "deployed": None, "live": None}
    assert result.signup_to_live == 9.0


def test_failed_then_live_still_gets_its_times() -> None:
    result = timeline(
        story(
            ("accepted", 0.0),
            ("committed", 1.0),
            ("deploying", 2.0),
            ("deployed", 3.0),
            ("failed", 903.0),  # the probe's deadline passed
            ("live", 1000.0),  # then the certificate arrived
        )
    )
    assert result.stages["live"] == 997.0
    assert result.signup_to_live == 1000.0


def test_only_the_first_pass_counts() -> None:
    first = story(("accepted", 0.0), ("committed", 1.0), ("deployed", 5.0), ("live", 6.0))
    later = story(("updated", 50.0), ("deploying", 60.0), ("deployed", 70.0), ("live", 80.0))
    assert timeline(first + later) == timeline(first)


def test_a_slug_signed_up_again_starts_over() -> None:
    old = story(("accepted", 0.0), ("committed", 1.0), ("deleted", 5.0))
    new = story(("accepted", 100.0), ("committed", 104.0))
    assert timeline(old + new).stages["committed"] == 4.0


def test_a_tenant_recovered_from_git_has_no_signup_time() -> None:
    result = timeline(story(("committed", 1.0), ("deploying", 2.0), ("deployed", 4.0)))
    assert result.stages == {"committed": None, "deploying": 1.0, "deployed": 2.0, "live": None}


def test_a_clock_stepped_back_gives_zero_not_a_negative() -> None:
    steps = (("accepted", 100.0), ("committed", 90.0), ("deploying", 95.0), ("deployed", 105.0))
    result = timeline(story(*steps))
    assert result.stages["committed"] == 0.0
    assert result.stages["deploying"] == 0.0
    assert result.stages["deployed"] == 5.0


def test_percentiles_and_buckets() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert percentile([7.0], 0.9) == 7.0
    assert bucket(0.2) == "5.0"
    assert bucket(5.0) == "5.0"
    assert bucket(5.1) == "15.0"
    assert bucket(3600.0) == "3600.0"
    assert bucket(3600.5) == "+Inf"


histories = st.lists(
    st.tuples(
        st.sampled_from(sorted(STATUSES)),
        st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    ),
    max_size=30,
)


@given(histories)
def test_durations_are_never_negative_and_add_up(steps: list[tuple[str, float]]) -> None:
    result = timeline(story(*steps))
    values = [value for value in result.stages.values() if value is not None]
    assert all(value >= 0 for value in values)
    if result.signup_to_live is not None:
        assert result.signup_to_live >= 0
    if all(result.stages[stage] is not None for stage in STAGES):
        assert result.signup_to_live is not None
        assert math.isclose(sum(values), result.signup_to_live, rel_tol=1e-9, abs_tol=1e-6)


@given(histories, histories)
def test_what_was_measured_stays_measured(
    before: list[tuple[str, float]], after: list[tuple[str, float]]
) -> None:
    # The histograms record each stage once, when it is first measured: that is only
    # right if no later transition can change it, short of a new signup of the slug.
    if any(status == "accepted" for status, _ in after):
        return
    first = timeline(story(*before))
    both = timeline(story(*before, *after))
    for stage, value in first.stages.items():
        if value is not None:
            assert both.stages[stage] == value
    if first.signup_to_live is not None:
        assert both.signup_to_live == first.signup_to_live
    assert set(reached(story(*before))) <= set(reached(story(*before, *after)))
