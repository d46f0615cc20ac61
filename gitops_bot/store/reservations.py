"""What the queue knows of the fleet: tenants on the branch or reserved, domains, seats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitops_bot.contract.inventory import Inventory
from gitops_bot.contract.tenant import UID_RANGE
from gitops_bot.store.database import Database


class UidsExhausted(Exception):
    """Every uid of the tenant range has been handed out once."""


@dataclass(frozen=True)
class RepoTenant:
    """What the queue needs to know of a tenant on the branch."""

    slug: str
    host: str
    plan: str
    domains: tuple[str, ...]
    uid: int | None = None  # None only in the queue's own rows, which do not keep it
    release: str | None = None  # None: the legacy app.package


class Reservations(Database):
    """Names and seats: taken by a tenant on the branch, or held for a queued event.

    Intake decides against these under the write lock, so no slug, domain or last seat on
    a host is ever handed out twice; the writer keeps them in step with the branch.
    """

    def slug_taken(self, slug: str) -> bool:
        return self._scalar("SELECT 1 FROM tenants WHERE slug = ?", slug) is not None

    def tenant(self, slug: str) -> RepoTenant | None:
        row = self._db.execute(
            "SELECT host, plan, release FROM tenants WHERE slug = ?", (slug,)
        ).fetchone()
        if row is None:
            return None
        domains = self._db.execute("SELECT domain FROM domains WHERE slug = ? ORDER BY 1", (slug,))
        return RepoTenant(slug, row[0], row[1], tuple(d[0] for d in domains), release=row[2])

    def on_branch(self, slug: str) -> bool:
        return bool(self._scalar("SELECT in_repo FROM tenants WHERE slug = ?", slug) == 1)

    def domain_owner(self, domain: str) -> str | None:
        value = self._scalar("SELECT slug FROM domains WHERE domain = ?", domain)
        return None if value is None else str(value)

    def tenants_per_host(self) -> dict[str, int]:
        rows = self._db.execute("SELECT host, taken FROM host_seats WHERE taken > 0")
        return {str(host): int(count) for host, count in rows}

    def hosts_of_tenants_on(self, hosts: Iterable[str]) -> dict[str, str]:
        """Each tenant placed on one of `hosts` (a few pulling hosts), with its host."""
        wanted = sorted(set(hosts))
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT slug, host FROM tenants WHERE host IN ({marks})",  # noqa: S608 - placeholders
            wanted,
        )
        return {str(slug): str(host) for slug, host in rows}

    def inventory(self) -> Inventory | None:
        """The inventory the writer last read from the branch; None before its first sync."""
        value = self._scalar("SELECT value FROM meta WHERE key = 'inventory'")
        return None if value is None else Inventory.model_validate_json(value)

    def reserve(self, *, slug: str, host: str, plan: str, domains: Iterable[str]) -> None:
        self._db.execute(
            "INSERT INTO tenants (slug, host, plan, in_repo) VALUES (?, ?, ?, 0)",
            (slug, host, plan),
        )
        self.reserve_domains(slug, domains)

    def reserve_domains(self, slug: str, domains: Iterable[str]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO domains (domain, slug, in_repo) VALUES (?, ?, 0)",
            [(d, slug) for d in domains],
        )

    def allocate_uid(self) -> int:
        """A uid no tenant ever had: the counter only moves up, so a removed tenant's files
        never get a new owner. Call it inside the transaction that queues the signup."""
        uid = self._next_uid()
        if uid not in UID_RANGE:
            raise UidsExhausted(f"all {len(UID_RANGE)} tenant uids have been used")
        self._set_next_uid(uid + 1)
        return uid

    def raise_next_uid(self, uids: Iterable[int]) -> None:
        """Keep the counter above every uid seen: on the branch, on review branches, in history."""
        highest = max(uids, default=None)
        if highest is not None and highest >= self._next_uid():
            self._set_next_uid(highest + 1)

    def _next_uid(self) -> int:
        value = self._scalar("SELECT value FROM meta WHERE key = 'next_uid'")
        return UID_RANGE.start if value is None else int(value)

    def _set_next_uid(self, uid: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_uid', ?)", (str(uid),)
        )

    def release(self, slug: str) -> None:
        """Free the names and the seat a tenant held that never reached the branch."""
        with self.transaction() as db:
            db.execute("DELETE FROM tenants WHERE slug = ? AND in_repo = 0", (slug,))
            db.execute("DELETE FROM domains WHERE slug = ? AND in_repo = 0", (slug,))

    def _set_on_branch(self, slug: str, tenant: RepoTenant | None) -> None:
        db = self._db
        if tenant is None:
            db.execute("DELETE FROM tenants WHERE slug = ?", (slug,))
            db.execute("DELETE FROM domains WHERE slug = ?", (slug,))
            return
        db.execute(
            "INSERT INTO tenants (slug, host, plan, in_repo, release) VALUES (?, ?, ?, 1, ?)"
            " ON CONFLICT (slug) DO UPDATE SET host = excluded.host, plan = excluded.plan,"
            " in_repo = 1, release = excluded.release",
            (slug, tenant.host, tenant.plan, tenant.release),
        )
        db.execute("DELETE FROM domains WHERE slug = ? AND in_repo = 1", (slug,))
        db.executemany(
            "INSERT OR REPLACE INTO domains (domain, slug, in_repo) VALUES (?, ?, 1)",
            [(domain, slug) for domain in tenant.domains],
        )

    def sync_repo(
        self, head: str, inventory: Inventory, tenants: Iterable[RepoTenant]
    ) -> tuple[list[str], list[str]]:
        """Make the queue's view of the branch match `head`; the slugs that arrived and left.

        Tenants added or removed by hand (a reviewer's own pull request) show up here, so
        intake refuses their slugs and counts them against their host's capacity.
        Reservations of events still queued are kept.
        """
        tenants = list(tenants)
        with self.transaction() as db:
            db.execute("UPDATE tenants SET in_repo = 2 WHERE in_repo = 1")
            arrived = []
            for tenant in tenants:
                if self._scalar("SELECT in_repo FROM tenants WHERE slug = ?", tenant.slug) != 2:  # noqa: PLR2004
                    arrived.append(tenant.slug)
                self._set_on_branch(tenant.slug, tenant)
            gone = [row[0] for row in db.execute("SELECT slug FROM tenants WHERE in_repo = 2")]
            for slug in gone:
                self._set_on_branch(slug, None)
            self.raise_next_uid(t.uid for t in tenants if t.uid is not None)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('inventory', ?), ('head', ?)",
                (inventory.model_dump_json(by_alias=True), head),
            )
            return arrived, gone

    def synced_head(self) -> str | None:
        value = self._scalar("SELECT value FROM meta WHERE key = 'head'")
        return None if value is None else str(value)
