"""The signup-to-live chart on /admin: its layout, its bounded reads, and the page around it."""

from __future__ import annotations

import math
import re
from typing import Any

from flask.testing import FlaskClient

from gitops_bot.operator import timeline_chart
from gitops_bot.operator.timeline_chart import build, seconds_text
from gitops_bot.store import stagetimes
from gitops_bot.store.queue import Store
from helpers import ADMIN_TOKEN

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def history(slug: str, *steps: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"slug": slug, "status": status, "at": at} for status, at in steps]


def full(slug: str, start: float, *stages: float) -> list[dict[str, Any]]:
    at = [start]
    for seconds in stages:
        at.append(at[-1] + seconds)
    names = ("accepted", "committed", "deploying", "deployed", "live")
    return history(slug, *zip(names, at, strict=True))


def test_bars_stack_the_stages_to_the_total_in_the_order_tenants_went_live() -> None:
    chart = build(
        [
            full("late", 500.0, 2.0, 10.0, 60.0, 8.0),  # 80 s, live at 580
            full("early", 0.0, 1.0, 4.0, 30.0, 5.0),  # 40 s, live at 40
            # Local mode: committed, evaluated, live; what no stage covers is "other".
            history("local", ("accepted", 10.0), ("committed", 12.0), ("live", 30.0)),
            # Recovered from git: no signup time, so nothing to chart.
            history(
                "old", ("committed", 0.0), ("deploying", 1.0), ("deployed", 2.0), ("live", 3.0)
            ),
        ]
    )
    assert [bar.slug for bar in chart.bars] == ["local", "early", "late"]
    scale = (chart.baseline - chart.top) / 100.0  # the axis tops out at 100 s
    assert [tick.name for tick in chart.ticks] == ["0 s", "25 s", "50 s", "75 s", "100 s"]
    for bar in chart.bars:
        assert math.isclose(sum(s.height for s in bar.segments), bar.total * scale, abs_tol=0.05)
        # Stacked from the baseline up, each segment on the one before.
        assert math.isclose(bar.segments[0].y + bar.segments[0].height, chart.baseline)
        for below, above in zip(bar.segments, bar.segments[1:], strict=False):
            assert math.isclose(above.y + above.height, below.y, abs_tol=0.02)
        assert chart.left <= bar.x < bar.x + bar.width <= chart.right_edge
    local = chart.bars[0]
    assert [(s.stage, s.seconds) for s in local.segments] == [("committed", 2.0), ("other", 18.0)]
    assert [s.stage for s in chart.bars[2].segments] == [
        "committed",
        "deploying",
        "deployed",
        "live",
    ]
    assert {line.name: line.seconds for line in chart.lines} == {"median": 40.0, "p90": 80.0}
    assert chart.summary == (
        "Signup to live over the 3 tenants that went live most recently: "
        "median 40 s, 90th percentile 80 s."
    )
    assert "late: 80 s signup to live (committed 2 s, deploying 10 s" in chart.bars[2].title()
    medians = {item.stage: item.median for item in chart.legend}
    assert medians == {
        "committed": 2.0,
        "deploying": 4.0,
        "deployed": 30.0,
        "live": 5.0,
        "other": 18.0,
    }


def test_labels_of_a_median_and_p90_that_nearly_meet_stay_apart() -> None:
    chart = build([full(f"t{n}", n * 100.0, 1.0, 1.0, 1.0, 1.0 + n / 100) for n in range(10)])
    median, p90 = chart.lines
    assert p90.y <= median.y
    assert median.label_y - p90.label_y >= 13
    lone = build([full("only", 0.0, 1.0, 1.0, 1.0, 1.0)])
    assert [item.stage for item in lone.legend] == ["committed", "deploying", "deployed", "live"]


def test_nothing_live_yet_says_so() -> None:
    chart = build([history("new", ("accepted", 0.0), ("committed", 1.0))])
    assert chart.bars == []
    assert chart.lines == []
    assert chart.summary == "No tenant has gone live from a signup yet."


def test_durations_read_in_the_unit_an_operator_thinks_in() -> None:
    assert seconds_text(None) == "-"
    assert seconds_text(0.0) == "0 s"
    assert seconds_text(0.0004) == "< 0.01 s"
    assert seconds_text(0.25) == "0.25 s"
    assert seconds_text(2.5) == "2.5 s"
    assert seconds_text(75.0) == "75 s"
    assert seconds_text(600.0) == "10.0 min"
    assert seconds_text(10800.0) == "3.0 h"


def test_the_chart_reads_only_the_recent_live_tenants(store: Store) -> None:
    for n in range(8):
        for status in ("accepted", "committed", "deploying", "deployed", "live"):
            store.add_transition(f"shop-{n}", status)
    store.add_transition("never-live", "accepted")
    chart = timeline_chart.recent(store.connection, limit=5)
    assert [bar.slug for bar in chart.bars] == [f"shop-{n}" for n in range(3, 8)]
    for query, arguments in (
        (stagetimes.RECENT_LIVE_SQL, (10,)),
        (stagetimes.histories_sql(2), ("a", "b")),
    ):
        explained = store.connection.execute(f"EXPLAIN QUERY PLAN {query}", arguments)
        plan = [row[-1] for row in explained]
        # Walking the live-only index newest first stops at the LIMIT; a scan of the table,
        # or a sort of every row, would not.
        assert all("INDEX" in d for d in plan if d.startswith(("SCAN", "SEARCH"))), plan
        assert not any("TEMP B-TREE" in detail for detail in plan), plan


def test_admin_shows_the_chart_within_its_csp(client: FlaskClient, store: Store) -> None:
    empty = client.get("/admin", headers=BEARER).get_data(as_text=True)
    assert "No tenant has gone live from a signup yet." in empty
    assert 'data-testid="timeline-chart"' not in empty
    for slug in ("shop-a", "shop-b"):
        for status in ("accepted", "committed", "deploying", "deployed", "live"):
            store.add_transition(slug, status)
    page = client.get("/admin", headers=BEARER)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src" not in csp
    assert "unsafe-inline" not in csp
    html = page.get_data(as_text=True)
    svg = html[
        html.index('<svg class="chart"') : html.index("</svg>", html.index('<svg class="chart"'))
    ]
    assert (
        '<title id="timeline-title">Signup to live of the last 2 tenants, by stage</title>' in svg
    )
    assert 'role="img"' in svg
    assert svg.count('<g data-slug="shop-') == 2
    assert 'data-line="median"' in svg
    assert 'data-line="p90"' in svg
    # The CSP blocks style attributes: colours are presentation attributes.
    assert (
        "style="
        not in html[html.index('id="timeline"') : html.index('<h2 id="tenants">Tenants</h2>')]
    )
    assert re.search(r'fill="#[0-9a-f]{6}" data-stage="live"', svg)
    assert "<script" not in html
    assert 'data-testid="timeline-legend"' in html
