"""The operator view's tenant list: its query string checked, and one page of it read in SQL."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Final

from gitops_bot.contract.lifecycle import STATUSES

# The list is read from the `tenant_list` table (store/migrations/0009_tenant_list.sql), not
# from a snapshot of the branch. At 100,000 tenants a snapshot is a tree read (GitHub
# requests on that backend) and 100,000 files to parse for every page view, and it still
# knows nothing of queued, failed or deleted tenants. The table is kept by triggers in the
# transaction of each change it mirrors (a reservation, a read of the branch, a transition),
# so it is exactly as fresh as the queue, and one indexed query reads a page of it.

# Shown while a tenant has no transition yet: found on the branch, or reserved by a queued event.
UNRECORDED: Final = ("on branch", "queued")
STATES: Final = tuple(sorted(STATUSES)) + UNRECORDED
DEFAULT_PER_PAGE: Final = 100
MAX_PER_PAGE: Final = 500
MAX_PAGE: Final = 1_000_000
# Sort keys and the column each one orders; age and changed show time elapsed, so their
# ascending order is the newest first.
SORT_COLUMNS: Final = {
    "slug": "slug",
    "plan": "plan",
    "host": "host",
    "state": "state",
    "age": "since",
    "changed": "changed_at",
}
# The sort menu, for screens too narrow for the table's sortable headings.
SORT_LABELS: Final = (
    ("slug", "slug, a-z"),
    ("-slug", "slug, z-a"),
    ("state", "state, a-z"),
    ("-state", "state, z-a"),
    ("changed", "changed, newest first"),
    ("-changed", "changed, oldest first"),
    ("age", "age, newest first"),
    ("-age", "age, oldest first"),
    ("plan", "plan, a-z"),
    ("-plan", "plan, z-a"),
    ("host", "host, a-z"),
    ("-host", "host, z-a"),
)
_FILTERS: Final = ("state", "plan", "host", "prefix", "q")
# Filters whose counts tenant_list_counts keeps: one of them alone costs one row to count.
_COUNTED: Final = frozenset({"state", "plan", "host"})
_ELAPSED: Final = frozenset({"age", "changed"})
# The parameters' grammar, shared with /openapi.json so the document and the page agree.
NAME_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
SLUG_PART_PATTERN: Final = r" *[A-Za-z0-9-]{0,63} *"
_NAME: Final = re.compile(NAME_PATTERN)
_SLUG_PART: Final = re.compile(SLUG_PART_PATTERN)
_NUMBER: Final = re.compile(r"[0-9]{1,7}")
_COLUMNS: Final = "slug, plan, host, state, since, changed_at, commit_sha, review_url, deploy_url"


class BadParameter(ValueError):
    """A query-string parameter the page cannot use; `name` is the parameter."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"query parameter {name!r}: {problem}")
        self.name = name


@dataclass(frozen=True)
class ListQuery:
    """What the query string asks for; empty strings mean no filter."""

    state: str = ""
    plan: str = ""
    host: str = ""
    prefix: str = ""
    q: str = ""
    sort: str = "slug"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def filtered(self) -> bool:
        return any(getattr(self, name) for name in _FILTERS)

    def args(self, **changes: str | int) -> dict[str, str | int]:
        """The query string of this list with `changes`, defaults left out: a short link."""
        changed = replace(self, **changes)  # type: ignore[arg-type]
        default = ListQuery()
        return {
            field.name: getattr(changed, field.name)
            for field in fields(self)
            if getattr(changed, field.name) != getattr(default, field.name)
        }


@dataclass(frozen=True)
class ListRow:
    slug: str
    plan: str | None
    host: str | None
    state: str
    since: float | None  # the first transition; None for a tenant with none yet
    changed_at: float | None  # the latest transition
    commit_sha: str | None
    review_url: str | None
    deploy_url: str | None

    def age(self, now: float) -> float | None:
        return None if self.since is None else max(0.0, now - self.since)

    def changed(self, now: float) -> float | None:
        return None if self.changed_at is None else max(0.0, now - self.changed_at)


@dataclass(frozen=True)
class Page:
    rows: list[ListRow]
    matched: int
    total: int
    query: ListQuery

    @property
    def pages(self) -> int:
        return max(1, -(-self.matched // self.query.per_page))

    @property
    def first_shown(self) -> int:
        return (self.query.page - 1) * self.query.per_page + 1 if self.rows else 0

    @property
    def last_shown(self) -> int:
        return self.first_shown + len(self.rows) - 1 if self.rows else 0


def parse(args: Mapping[str, str]) -> ListQuery:
    """The list a query string asks for; BadParameter names the first parameter it cannot use."""
    state = args.get("state", "")
    if state and state not in STATES:
        raise BadParameter("state", f"unknown state {state!r}; one of {', '.join(STATES)}")
    names = {}
    for name in ("plan", "host"):
        value = args.get(name, "")
        if value and not _NAME.fullmatch(value):
            raise BadParameter(name, "letters, digits, '.', '_' and '-', at most 63")
        names[name] = value
    parts = {}
    for name in ("prefix", "q"):
        value = args.get(name, "")
        if not _SLUG_PART.fullmatch(value):
            raise BadParameter(name, "part of a slug: a-z, 0-9 and '-', at most 63")
        parts[name] = value.strip(" ").lower()
    sort = args.get("sort", "") or "slug"
    if sort.removeprefix("-") not in SORT_COLUMNS:
        keys = ", ".join(SORT_COLUMNS)
        raise BadParameter("sort", f"one of {keys}, each optionally after '-'")
    page = _number(args, "page", 1, MAX_PAGE)
    per_page = _number(args, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    return ListQuery(
        state, names["plan"], names["host"], parts["prefix"], parts["q"], sort, page, per_page
    )


def _number(args: Mapping[str, str], name: str, default: int, highest: int) -> int:
    if name not in args:
        return default
    text = args[name]
    if not _NUMBER.fullmatch(text) or not 1 <= int(text) <= highest:
        raise BadParameter(name, f"a whole number from 1 to {highest:,}")
    return int(text)


def where(query: ListQuery) -> tuple[str, dict[str, str]]:
    """The WHERE clause of a query's filters, and its parameters."""
    clauses, params = [], {}
    for name in ("state", "plan", "host"):
        if value := getattr(query, name):
            clauses.append(f"{name} = :{name}")
            params[name] = value
    if query.prefix:
        # A range on the primary key: slugs are a-z, 0-9 and '-', all below '~'.
        clauses.append("slug >= :prefix AND slug < :prefix_end")
        params |= {"prefix": query.prefix, "prefix_end": query.prefix + "~"}
    if query.q:
        # The one filter no index serves: a scan of the slugs, which are short.
        clauses.append("instr(slug, :q) > 0")
        params["q"] = query.q
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def order_by(sort: str, *, backwards: bool = False) -> str:
    """The ORDER BY of a sort key; `backwards` reads the same order from its end."""
    key = sort.removeprefix("-")
    descending = (sort.startswith("-") != (key in _ELAPSED)) != backwards
    direction = "DESC" if descending else "ASC"
    if key == "slug":
        return f" ORDER BY slug {direction}"
    # Rows without a value (an age nobody saw begin) go last, whichever the direction.
    nulls = "FIRST" if backwards else "LAST"
    return f" ORDER BY {SORT_COLUMNS[key]} {direction} NULLS {nulls}, slug {direction}"


def page_sql(query: ListQuery, matched: int) -> tuple[str, dict[str, str | int], bool]:
    """The page's query, its parameters, and whether it reads the order from its end.

    OFFSET walks past every row before the page, so a page in the second half of the
    list is read from the end instead: the last page costs what the first does.
    """
    clause, params = where(query)
    offset = (query.page - 1) * query.per_page
    end = min(offset + query.per_page, matched)
    backwards = matched - end < offset < matched
    limit = end - offset if backwards else query.per_page
    if backwards:
        offset = matched - end
    # Only fixed column names are formatted in; every value is a bound parameter.
    sql = f"SELECT {_COLUMNS} FROM tenant_list{clause}"  # noqa: S608
    sql += order_by(query.sort, backwards=backwards) + " LIMIT :limit OFFSET :offset"
    return sql, {**params, "limit": limit, "offset": offset}, backwards


def count_sql(query: ListQuery) -> tuple[str, dict[str, str]]:
    """How many rows the query's filters match: an index range read in full."""
    clause, filters = where(query)
    return f"SELECT count(*) FROM tenant_list{clause}", filters  # noqa: S608 - fixed names


def read_page(db: sqlite3.Connection, query: ListQuery) -> Page:
    """One page of the list and how many rows match, in one read transaction."""
    with _snapshot(db):
        total = _counted(db, "state")
        chosen = [name for name in _FILTERS if getattr(query, name)]
        if not chosen:
            matched = total
        elif len(chosen) == 1 and chosen[0] in _COUNTED:
            matched = _counted(db, chosen[0], getattr(query, chosen[0]))
        else:
            (matched,) = db.execute(*count_sql(query)).fetchone()
        rows = []
        if (query.page - 1) * query.per_page < matched:
            sql, params, backwards = page_sql(query, int(matched))
            rows = [ListRow(*row) for row in db.execute(sql, params)]
            if backwards:
                rows.reverse()
    return Page(rows, int(matched), int(total), query)


def menu(db: sqlite3.Connection, column: str, chosen: str) -> list[str]:
    """A filter's choices: the values in the list, and the chosen one even if none has it
    (yet), so that submitting the form again keeps it."""
    values = distinct(db, column)
    return sorted({*values, chosen}) if chosen and chosen not in values else values


def _counted(db: sqlite3.Connection, field: str, value: str | None = None) -> int:
    """Tenants with this value of `field` (all of them without one), from the kept counts."""
    sql = "SELECT coalesce(sum(tenants), 0) FROM tenant_list_counts WHERE field = ?"
    params = (field,) if value is None else (field, value)
    (found,) = db.execute(sql + (" AND value = ?" if value is not None else ""), params).fetchone()
    return int(found)


def distinct(db: sqlite3.Connection, column: str) -> list[str]:
    """The values of an indexed column, one index seek each rather than a scan of the list."""
    if column not in ("state", "plan", "host"):
        raise ValueError(column)
    rows = db.execute(
        f"""
        WITH RECURSIVE seen(value) AS (
            SELECT min({column}) FROM tenant_list
            UNION ALL
            SELECT (SELECT min({column}) FROM tenant_list WHERE {column} > seen.value)
            FROM seen WHERE seen.value IS NOT NULL
        )
        SELECT value FROM seen WHERE value IS NOT NULL
        """  # noqa: S608 - the column is one of three names
    )
    return [str(value) for (value,) in rows]


@contextmanager
def _snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """A read transaction, so the page and its counts see the same moment."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")
