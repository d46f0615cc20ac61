"""The admin page's signup-to-live chart: recent tenants as stacked bars, laid out for SVG."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from gitops_bot.contract.timeline import STAGES, percentile, reached, timeline
from gitops_bot.store import stagetimes

# How many tenants the chart shows: enough for a median and a 90th percentile to mean
# something, few enough that every bar stays wide enough to point at.
RECENT: Final = 50
WIDTH: Final = 720
HEIGHT: Final = 260
LEFT: Final = 56  # room for the axis's labels
RIGHT: Final = 112  # room for the median's and p90's labels
TOP: Final = 12
BOTTOM: Final = 28
# Fill colours as SVG presentation attributes (the page's CSP allows no style attribute),
# readable on the light and the dark background alike.
COLOURS: Final = {
    "committed": "#6c8ebf",
    "deploying": "#d6a640",
    "deployed": "#8e6cbf",
    "live": "#3fa66b",
    "other": "#9aa1ad",
}
LABELS: Final = {
    "committed": "accepted → committed (or merged)",
    "deploying": "committed → deploying",
    "deployed": "deploying → deployed",
    "live": "deployed → live",
    "other": "not broken down (a stage not seen, e.g. no deploy in local mode)",
}


# Below this much time left over by the stages a tenant's bar gets no "other" segment:
# float sums of the stages differ from the total in the last digits.
_UNSEEN_AT_LEAST: Final = 1e-6
# (below how many seconds, unit, seconds per unit, number format)
_UNITS: Final = ((10.0, "s", 1.0, ".2g"), (120.0, "s", 1.0, ".0f"), (7200.0, "min", 60.0, ".1f"))
_SHORTEST: Final = 0.01  # seconds; anything shorter reads as "< 0.01 s", not 0.00049
_LABEL_GAP: Final = 13.0  # pixels between the median's and the p90's labels, at least


@dataclass(frozen=True)
class Segment:
    stage: str
    seconds: float
    y: float
    height: float

    @property
    def colour(self) -> str:
        return COLOURS[self.stage]


@dataclass(frozen=True)
class Bar:
    slug: str
    total: float
    x: float
    width: float
    segments: list[Segment]

    def title(self) -> str:
        parts = ", ".join(f"{s.stage} {seconds_text(s.seconds)}" for s in self.segments)
        return f"{self.slug}: {seconds_text(self.total)} signup to live ({parts})"


@dataclass(frozen=True)
class Line:
    name: str
    seconds: float
    y: float
    label_y: float = 0.0  # where its text goes: apart from the other line's, if close


@dataclass(frozen=True)
class LegendItem:
    stage: str
    label: str
    colour: str
    median: float | None


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    lines: list[Line]
    ticks: list[Line]
    legend: list[LegendItem]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = HEIGHT - BOTTOM
    summary: str = field(default="")


def recent(db: sqlite3.Connection, limit: int = RECENT) -> Chart:
    """The chart of the `limit` tenants that went live most recently."""
    return build(stagetimes.recent_live(db, limit))


def build(histories: Sequence[Sequence[dict[str, Any]]]) -> Chart:
    """Bars of the histories that reached live from a signup, in the order they went live."""
    measured = []
    for history in histories:
        result = timeline(history)
        if result.signup_to_live is not None:
            slug = str(history[0]["slug"]) if history else ""
            measured.append((reached(history)["live"], slug, result))
    measured.sort(key=lambda item: (item[0], item[1]))
    totals = [result.signup_to_live for _, _, result in measured if result.signup_to_live]
    median, p90 = percentile(totals, 0.5), percentile(totals, 0.9)
    top = _nice_ceiling(max([*totals, 1.0]))
    plot = HEIGHT - BOTTOM - TOP
    scale = plot / top
    baseline = HEIGHT - BOTTOM
    slot = (WIDTH - RIGHT - LEFT) / max(len(measured), 1)
    bars = []
    for index, (_, slug, result) in enumerate(measured):
        total = result.signup_to_live or 0.0
        parts = [(stage, result.stages[stage]) for stage in STAGES]
        known = [(stage, seconds) for stage, seconds in parts if seconds is not None]
        rest = total - sum(seconds for _, seconds in known)
        if rest > _UNSEEN_AT_LEAST:
            known.append(("other", rest))
        segments, y = [], float(baseline)
        for stage, seconds in known:
            height = seconds * scale
            y -= height
            segments.append(Segment(stage, seconds, round(y, 2), round(height, 2)))
        width = min(slot * 0.7, 40.0)
        x = LEFT + index * slot + (slot - width) / 2
        bars.append(Bar(slug, total, round(x, 2), round(width, 2), segments))
    lines = []
    if median is not None and p90 is not None:
        median_y, p90_y = baseline - median * scale, baseline - p90 * scale
        # The p90 is never below the median; when the two nearly meet, its label moves up.
        p90_label = min(p90_y, median_y - _LABEL_GAP)
        lines = [
            Line("median", median, round(median_y, 2), round(median_y + 4, 2)),
            Line("p90", p90, round(p90_y, 2), round(p90_label + 4, 2)),
        ]
    ticks = [
        Line(seconds_text(value), value, round(baseline - value * scale, 2))
        for value in _ticks(top)
    ]
    per_stage: dict[str, list[float]] = {stage: [] for stage in COLOURS}
    for bar in bars:
        for segment in bar.segments:
            per_stage[segment.stage].append(segment.seconds)
    legend = [
        LegendItem(stage, LABELS[stage], COLOURS[stage], percentile(per_stage[stage], 0.5))
        for stage in COLOURS
        if stage != "other" or per_stage[stage]
    ]
    summary = (
        f"Signup to live over the {len(measured)} tenants that went live most recently: "
        f"median {seconds_text(median)}, 90th percentile {seconds_text(p90)}."
        if median is not None and p90 is not None
        else "No tenant has gone live from a signup yet."
    )
    return Chart(bars, lines, ticks, legend, summary=summary)


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value`."""
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if value <= step * power:
            return step * power
    return 10.0 * power  # pragma: no cover - the loop's last step always fits


def _ticks(top: float) -> list[float]:
    return [top * n / 4 for n in range(5)]


def seconds_text(seconds: float | None) -> str:
    """A duration in the unit an operator reads it in: tenths of a second up to hours."""
    if seconds is None:
        return "-"
    if 0 < seconds < _SHORTEST:
        return f"< {_SHORTEST} s"
    for below, unit, size, shape in _UNITS:
        if seconds < below:
            return f"{seconds / size:{shape}} {unit}"
    return f"{seconds / 3600:.1f} h"
