"""JSON request bodies, parsed so that no nesting can exhaust the stack behind a 500."""

from __future__ import annotations

import json
from typing import Final

# Far deeper than any signup or GitHub payload, far shallower than the recursion limit: what
# passes here can be validated, logged and dumped again by code that recurses.
MAX_DEPTH: Final = 64


class BodyError(ValueError):
    """The body is not JSON this service reads; the message names the body."""


def parse_json(body: bytes | str) -> object:
    """The value `body` holds, or BodyError when it is not JSON or nested deeper than MAX_DEPTH."""
    try:
        value: object = json.loads(body)
    except RecursionError:
        # Where the parser gives up depends on how deep the caller's stack already is.
        raise BodyError(f"body is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as problem:
        raise BodyError(f"body is not valid JSON: {problem}") from None
    if depth(value) > MAX_DEPTH:
        raise BodyError(f"body is nested more than {MAX_DEPTH} levels deep")
    return value


def depth(value: object) -> int:
    """How many arrays and objects deep `value` goes (a scalar is 0), without recursing."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        pending.extend((child, level + 1) for child in children)
    return deepest
