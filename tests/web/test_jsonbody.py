"""JSON bodies: nesting is bounded, and no depth of it raises anything but BodyError."""

from __future__ import annotations

import pytest

from gitops_bot.web.jsonbody import MAX_DEPTH, BodyError, depth, parse_json


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_depth_counts_arrays_and_objects_without_recursing() -> None:
    assert depth(1) == 0
    assert depth({"a": [1, {"b": []}]}) == 4
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert depth(deep) == 100_001


def test_the_limit_itself_is_read() -> None:
    assert depth(parse_json(nested(MAX_DEPTH))) == MAX_DEPTH


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 990, 32_000])
def test_deeper_bodies_are_a_body_error(levels: int) -> None:
    # 990 parses in a shallow stack; 32,000 (a 64 KB body) exhausts any stack.
    with pytest.raises(BodyError, match=r"^body is nested more than 64 levels deep$"):
        parse_json(nested(levels))


def test_not_json_is_a_body_error_naming_the_body() -> None:
    with pytest.raises(BodyError, match=r"^body is not valid JSON"):
        parse_json(b"{not json")
