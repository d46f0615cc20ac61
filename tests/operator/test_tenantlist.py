"""The tenant list: its table kept by triggers, its filters and sorts in SQL, and their plans."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gitops_bot.contract.inventory import Inventory
from gitops_bot.operator import tenantlist
from gitops_bot.operator.tenantlist import BadParameter, ListQuery
from gitops_bot.store.queue import Store
from gitops_bot.store.reservations import RepoTenant

INVENTORY = Inventory.model_validate_json(
    (Path(__file__).parents[2] / "nix/inventory.json").read_bytes()
)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "queue.sqlite3") as store:
        store.migrate()
        yield store


def listed(store: Store) -> dict[str, tuple[object, ...]]:
    rows = store.connection.execute(
        "SELECT slug, plan, host, state, since IS NOT NULL, commit_sha, review_url, deploy_url"
        " FROM tenant_list"
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def test_the_list_follows_reservations_transitions_and_the_branch(queue: Store) -> None:
    with queue.transaction():
        queue.reserve(slug="acme", host="web-1", plan="pro", domains=())
    assert listed(queue)["acme"] == ("pro", "web-1", "queued", 0, None, None, None)
    queue.add_transition("acme", "accepted")
    queue.add_transition("acme", "pr_open", url="https://github.test/pull/7")
    queue.add_transition("acme", "merged", commit_sha="ab" * 20)
    queue.add_transition("acme", "deploying", url="https://ci.test/run/1")
    queue.add_transition("acme", "deployed")
    assert listed(queue)["acme"] == (
        "pro",
        "web-1",
        "deployed",
        1,
        "ab" * 20,
        "https://github.test/pull/7",
        "https://ci.test/run/1",
    )
    inventory = INVENTORY
    queue.sync_repo("head1", inventory, [RepoTenant("acme", "web-2", "business", ())])
    assert listed(queue)["acme"][:3] == ("business", "web-2", "deployed")
    # Gone from the branch: still listed, with what it last had.
    queue.sync_repo("head2", inventory, [])
    queue.add_transition("acme", "deleted")
    assert listed(queue)["acme"][:3] == ("business", "web-2", "deleted")


def test_the_kept_counts_agree_with_counting_and_survive_a_restart(
    queue: Store, tmp_path: Path
) -> None:
    fleet(queue, 25)
    with queue.transaction():
        queue.reserve(slug="late", host="web-2", plan="pro", domains=())
    queue.add_transition("t001", "suspended")
    queue.add_transition("late", "accepted")
    queue.release("late")
    inventory = INVENTORY
    queue.sync_repo("head", inventory, [RepoTenant("t002", "web-2", "business", ())])
    queries = [{}, {"state": "failed"}, {"state": "live"}, {"state": "suspended"}]
    queries += [{"plan": "pro"}, {"plan": "business"}, {"host": "web-2"}, {"host": "web-9"}]

    def counts() -> list[tuple[int, int]]:
        shown = []
        for args in queries:
            query = tenantlist.parse(args)
            page = tenantlist.read_page(queue.connection, query)
            (counted,) = queue.connection.execute(*tenantlist.count_sql(query)).fetchone()
            assert page.matched == counted, args
            shown.append((page.matched, page.total))
        return shown

    before = counts()
    assert before[0] == (26, 26)
    queue.connection.execute("UPDATE tenant_list_counts SET tenants = 0")
    queue.migrate()  # what every process does at start
    assert counts() == before


def test_a_tenant_without_history_is_listed_only_while_it_holds_a_seat(queue: Store) -> None:
    with queue.transaction():
        queue.reserve(slug="brief", host="web-1", plan="free", domains=())
    queue.release("brief")
    inventory = INVENTORY
    queue.sync_repo("head", inventory, [RepoTenant("by-hand", "web-1", "pro", ())])
    assert listed(queue) == {"by-hand": ("pro", "web-1", "on branch", 0, None, None, None)}


def fleet(store: Store, count: int) -> None:
    """`count` tenants t000..: plans and hosts alternating, every tenth failed, ages rising."""
    db = store.connection
    with store.transaction():
        for i in range(count):
            slug = f"t{i:03d}"
            db.execute(
                "INSERT INTO tenants (slug, host, plan, in_repo) VALUES (?, ?, ?, 1)",
                (slug, f"web-{i % 2 + 1}", "pro" if i % 3 else "free"),
            )
            status = "failed" if i % 10 == 0 else "live"
            db.execute(
                "INSERT INTO transitions (slug, status, at) VALUES (?, ?, ?)",
                (slug, status, 1000.0 + i),
            )


def slugs(store: Store, **args: str) -> list[str]:
    page = tenantlist.read_page(store.connection, tenantlist.parse(args))
    return [row.slug for row in page.rows]


def test_pages_cover_the_list_once_in_order_from_both_ends(queue: Store) -> None:
    fleet(queue, 25)
    everything = [f"t{i:03d}" for i in range(25)]
    for sort, expected in (("slug", everything), ("-age", everything), ("age", everything[::-1])):
        pages = [slugs(queue, sort=sort, per_page="4", page=str(n)) for n in range(1, 8)]
        assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 4, 1]
        assert [slug for page in pages for slug in page] == expected
    assert slugs(queue, page="8", per_page="4") == []
    page = tenantlist.read_page(queue.connection, tenantlist.parse({"per_page": "4"}))
    assert (page.matched, page.total, page.pages, page.first_shown, page.last_shown) == (
        25,
        25,
        7,
        1,
        4,
    )


def test_filters_combine_and_count_what_they_match(queue: Store) -> None:
    fleet(queue, 25)
    assert slugs(queue, state="failed") == ["t000", "t010", "t020"]
    assert slugs(queue, state="failed", host="web-1") == ["t000", "t010", "t020"]
    assert slugs(queue, state="failed", plan="free") == ["t000"]
    assert slugs(queue, prefix="t01") == [f"t{i:03d}" for i in range(10, 20)]
    assert slugs(queue, q="11") == ["t011"]
    assert slugs(queue, state="failed", sort="-changed") == ["t000", "t010", "t020"]
    assert slugs(queue, state="failed", sort="changed") == ["t020", "t010", "t000"]
    assert slugs(queue, state="queued") == []
    page = tenantlist.read_page(queue.connection, tenantlist.parse({"host": "web-2"}))
    assert (page.matched, page.total) == (12, 25)
    assert tenantlist.distinct(queue.connection, "state") == ["failed", "live"]
    assert tenantlist.distinct(queue.connection, "plan") == ["free", "pro"]


def test_rows_without_an_age_sort_last_either_way(queue: Store) -> None:
    fleet(queue, 3)
    with queue.transaction():
        queue.reserve(slug="unseen", host="web-1", plan="pro", domains=())
    for sort in ("age", "-age", "changed", "-changed", "plan", "-plan"):
        assert slugs(queue, sort=sort)[-1] == "unseen" or sort.endswith("plan")
    assert slugs(queue, sort="age") == ["t002", "t001", "t000", "unseen"]
    assert slugs(queue, sort="-age") == ["t000", "t001", "t002", "unseen"]
    # Read from the end (the second half of the list), the order is the same.
    assert slugs(queue, sort="-age", per_page="1", page="4") == ["unseen"]
    assert slugs(queue, sort="age", per_page="1", page="3") == ["t000"]


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ({"state": "bogus"}, "state"),
        ({"plan": "pro plan"}, "plan"),
        ({"host": "../etc"}, "host"),
        ({"host": "x" * 64}, "host"),
        ({"prefix": "a_b"}, "prefix"),
        ({"q": "é"}, "q"),
        ({"q": "x" * 64}, "q"),
        ({"sort": "nonsense"}, "sort"),
        ({"sort": "--slug"}, "sort"),
        ({"page": ""}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": "99999999"}, "page"),
        ({"per_page": "501"}, "per_page"),
        ({"per_page": "x"}, "per_page"),
    ],
)
def test_a_parameter_the_page_cannot_use_is_named(args: dict[str, str], name: str) -> None:
    with pytest.raises(BadParameter) as refused:
        tenantlist.parse(args)
    assert refused.value.name == name
    assert repr(name) in str(refused.value)


def test_empty_parameters_mean_no_filter_and_links_leave_defaults_out() -> None:
    # What the filter form sends when nothing is chosen; it never sends a page.
    query = tenantlist.parse({"state": "", "plan": "", "prefix": "", "q": " AB ", "sort": ""})
    assert query == ListQuery(q="ab")
    assert query.args(page=3) == {"q": "ab", "page": 3}
    assert query.args(q="", sort="-age") == {"sort": "-age"}


def plan(db: sqlite3.Connection, sql: str, params: object) -> list[str]:
    return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


@pytest.mark.parametrize(
    ("args", "uses"),
    [
        ({}, "SCAN tenant_list"),  # the table is its primary key: slug order
        ({"sort": "-slug"}, "SCAN tenant_list"),
        ({"sort": "state"}, "INDEX tenant_list_state"),
        ({"sort": "-changed"}, "INDEX tenant_list_changed"),
        ({"sort": "age"}, "INDEX tenant_list_since"),
        ({"sort": "plan"}, "INDEX tenant_list_plan"),
        ({"sort": "host"}, "INDEX tenant_list_host"),
        ({"state": "failed"}, "INDEX tenant_list_state (state=?)"),
        ({"state": "failed", "sort": "-changed"}, "INDEX tenant_list_state_changed (state=?)"),
        ({"plan": "pro"}, "INDEX tenant_list_plan (plan=?)"),
        ({"host": "web-1"}, "INDEX tenant_list_host (host=?)"),
        ({"prefix": "ac"}, "PRIMARY KEY (slug>? AND slug<?)"),
    ],
)
def test_each_page_query_reads_an_index_in_order_without_sorting(
    queue: Store, args: dict[str, str], uses: str
) -> None:
    fleet(queue, 30)
    queue.connection.execute("ANALYZE")
    query = tenantlist.parse(args)
    # The first page, read from the start, and the last, read from the end.
    for page in (query, replace(query, page=3, per_page=10)):
        sql, params, _ = tenantlist.page_sql(page, 30)
        steps = plan(queue.connection, sql, params)
        assert any(uses in step for step in steps), steps
        assert not any("TEMP B-TREE" in step for step in steps), steps
    counting = plan(queue.connection, *tenantlist.count_sql(query))
    assert not any("TEMP B-TREE" in step for step in counting), counting
    if args and "sort" not in args:
        assert "SEARCH" in counting[0], counting


def test_the_menus_seek_each_value_rather_than_scan(queue: Store) -> None:
    fleet(queue, 30)
    for column in ("state", "plan"):
        steps = plan(
            queue.connection,
            f"SELECT min({column}) FROM tenant_list WHERE {column} > ?",  # noqa: S608
            ("a",),
        )
        assert len(steps) == 1
        assert steps[0].startswith(f"SEARCH tenant_list USING COVERING INDEX tenant_list_{column}")
        assert steps[0].endswith(f"({column}>?)")
