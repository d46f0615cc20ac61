"""Deploy: the hosts whose inputs changed since their own last deploy, deployed and recorded."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from gitops_bot.backends import gitrepo
from gitops_bot.contract.inventory import INVENTORY_PATH, Inventory
from gitops_bot.deploy import engine, markers
from gitops_bot.deploy.affected import TENANT_FILE, Impact, impact, read_paths
from gitops_bot.github.deployments import NewTenant, Reporter, ReportError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path


class DeployError(Exception):
    """The deploy did not happen, or failed; no marker moved."""


@dataclass(frozen=True)
class Target:
    """A host to deploy: the commit it was last deployed from (None: never) and why."""

    host: str
    base: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Selection:
    head: str
    targets: tuple[Target, ...]
    up_to_date: tuple[str, ...]
    new_tenants: tuple[NewTenant, ...]
    unknown_markers: tuple[str, ...]  # markers of hosts the inventory no longer has
    # Inventory hosts with "deploy": "comin": they switch by themselves.
    pulling: frozenset[str] = frozenset()
    # Hosts a push engine leaves alone although their inputs changed: they pull.
    left_to_pull: tuple[str, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(target.host for target in self.targets)

    def for_push(self) -> Selection:
        """Without the hosts that pull: a push engine must not deploy them (it would need
        their SSH key), move their markers, or report their tenants deployed."""
        left = tuple(t.host for t in self.targets if t.host in self.pulling)
        if not left:
            return self
        return replace(
            self,
            targets=tuple(t for t in self.targets if t.host not in self.pulling),
            new_tenants=tuple(t for t in self.new_tenants if t.host not in self.pulling),
            left_to_pull=left,
        )


@dataclass(frozen=True)
class _Change:
    """What differs between a base and the head: the hosts it touches, and the files it read."""

    impact: Impact
    before: Mapping[str, bytes]  # changed tenant files and inventory, at the base
    after: Mapping[str, bytes]  # the same, at the head


def select(repo: Path, *, head: str, deployed: Mapping[str, str]) -> Selection:
    """Every inventory host whose inputs differ between its own marker and `head`.

    Each host is compared with the commit it was last deployed from, not with the previous
    commit, so a host whose deploy failed or was superseded still gets everything it missed.
    """
    inventory = _inventory_at(repo, head)
    changes: dict[str | None, _Change] = {}
    targets, up_to_date = [], []
    for host in sorted(inventory.hosts):
        base = lost = deployed.get(host)
        if base is not None and not gitrepo.has_commit(repo, base):
            base = None  # e.g. history rewritten under the marker: deploy the host in full
        if base not in changes:
            changes[base] = _change(repo, base, head)
        if base is None:
            reason = (
                f"its marker names {lost[:12]}, which this clone lacks"
                if lost
                else f"first deploy: no {markers.ref(host)}"
            )
            targets.append(Target(host, None, (reason,)))
        elif reasons := changes[base].impact.why(host):
            targets.append(Target(host, base, reasons))
        else:
            up_to_date.append(host)
    return Selection(
        head=head,
        targets=tuple(targets),
        up_to_date=tuple(up_to_date),
        new_tenants=_new_tenants(targets, changes, inventory.base_domain),
        unknown_markers=tuple(sorted(set(deployed) - set(inventory.hosts))),
        pulling=frozenset(name for name, host in inventory.hosts.items() if host.pulls),
    )


def _inventory_at(repo: Path, head: str) -> Inventory:
    content = gitrepo.read_files(repo, head, INVENTORY_PATH).get(INVENTORY_PATH)
    if content is None:
        raise DeployError(f"{head[:12]} has no {INVENTORY_PATH}")
    try:
        return Inventory.model_validate_json(content)
    except ValidationError as error:
        raise DeployError(f"{INVENTORY_PATH} at {head[:12]} is invalid: {error}") from error


def _change(repo: Path, base: str | None, head: str) -> _Change:
    if base is None:
        # Never deployed: nothing to compare, and every tenant file at the head is new there.
        after = gitrepo.read_files(repo, head, "tenants")
        return _Change(Impact(), {}, {p: c for p, c in after.items() if TENANT_FILE.match(p)})
    paths = gitrepo.changed_paths(repo, base, head)
    wanted = read_paths(paths)
    before = gitrepo.read_files(repo, base, *wanted) if wanted else {}
    after = gitrepo.read_files(repo, head, *wanted) if wanted else {}
    return _Change(impact(paths, old=before.get, new=after.get), before, after)


def _new_tenants(
    targets: Sequence[Target], changes: Mapping[str | None, _Change], base_domain: str
) -> tuple[NewTenant, ...]:
    """Active tenants whose file did not exist at their host's base: they go live now."""
    found = []
    for target in targets:
        change = changes[target.base]
        for path, content in change.after.items():
            if not TENANT_FILE.match(path) or path in change.before:
                continue
            data = _json_object(content)
            if data.get("host") == target.host and data.get("state") == "active":
                slug = path.removeprefix("tenants/").removesuffix(".json")
                found.append(NewTenant(slug, target.host, f"https://{slug}.{base_domain}"))
    return tuple(sorted(found, key=lambda t: t.slug))


def _json_object(content: bytes | None) -> dict[str, Any]:
    try:
        data = json.loads(content) if content else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe(selection: Selection, *, engine_name: str, argv: Sequence[str]) -> str:
    """The hosts and why, the new tenants and the exact engine command, for the job log."""
    every = len(selection.targets) + len(selection.up_to_date) + len(selection.left_to_pull)
    count = f"{len(selection.targets)} of {every}"
    lines = [f"deploy {selection.head[:12]} with {engine_name}: {count} host(s)"]
    for target in selection.targets:
        since = f"since {target.base[:12]}" if target.base else "never deployed"
        lines.append(f"  {target.host} ({since}): {'; '.join(target.reasons)}")
    if selection.up_to_date:
        lines.append(f"  up to date: {', '.join(selection.up_to_date)}")
    if selection.left_to_pull:
        lines.append(
            f"  changed, but they pull it themselves (comin): {', '.join(selection.left_to_pull)}"
        )
    if selection.unknown_markers:
        lines.append(
            f"  markers of hosts not in the inventory: {', '.join(selection.unknown_markers)}"
        )
    lines += [f"new tenant: {t.slug} on {t.host} ({t.url})" for t in selection.new_tenants]
    lines.append(f"command: {shlex.join(argv)}" if argv else "nothing to deploy")
    return "\n".join(lines)


def apply(
    repo: Path,
    selection: Selection,
    *,
    argv: Sequence[str],
    cwd: Path,
    deployed: Mapping[str, str],
    remote: str | None,
    token: str | None,
    reporter: Reporter,
) -> list[str]:
    """Run the engine, then record each host's marker and report success.

    Raises DeployError when nothing was deployed or the engine failed: then no marker moves,
    so the next run selects the same hosts again. Returns the problems that came after a
    successful engine run (the hosts run the new configuration, but a record of it is missing).
    """
    hosts = {target.host: target.base for target in selection.targets}
    try:
        reporter.start(
            head=selection.head, engine=argv[0], hosts=hosts, new_tenants=selection.new_tenants
        )
    except ReportError as error:
        raise DeployError(f"{error}; nothing was deployed") from error
    try:
        code = engine.run(argv, cwd=cwd)
    except engine.EngineError as error:
        _failed(reporter, str(error), hosts)
    if code != 0:
        _failed(reporter, f"{argv[0]} exited with code {code}", hosts)
    problems = []
    try:
        markers.record(
            repo, hosts=hosts, commit=selection.head, previous=deployed, remote=remote, token=token
        )
    except gitrepo.GitError as error:
        problems.append(
            f"deployed, but the markers were not recorded ({error}): the next run "
            "deploys these hosts again, which changes nothing on them"
        )
    try:
        reporter.succeed()
    except ReportError as error:
        problems.append(f"deployed, but GitHub was not told: {error}")
    return problems


def _failed(reporter: Reporter, message: str, hosts: Iterable[str]) -> NoReturn:
    """Report the failure, then raise it: no marker moved, so the next run retries `hosts`."""
    retry = f"no marker moved, so the next run deploys {', '.join(hosts)} again"
    try:
        reporter.fail(message)
    except ReportError as error:
        retry += f" ({error})"
    raise DeployError(f"{message}: {retry}")
