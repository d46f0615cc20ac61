"""What deploying a revision of the state repo would do, host by host, compared with another."""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import asdict, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final, Literal

from gitops_bot.nix import nixeval, plan_render
from gitops_bot.nix.plan_report import HostPlan, Report

if TYPE_CHECKING:
    from collections.abc import Mapping

Format = Literal["text", "json", "markdown"]
FORMATS: Final = ("text", "json", "markdown")

# Files whose change can alter units beyond what the per-tenant fingerprints show.
_RULE_FILES: Final = re.compile(r"^(flake\.nix|nix/.*\.nix)$")
_TENANT_FILE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*\.json$")
NO_NIX: Final = (
    "nix-instantiate not found: FILE-LEVEL DIFF of tenants/*.json only; "
    "nix/ was not evaluated, so unit and nginx actions are not known."
)
NAMING_CHANGED: Final = (
    "ONE-TIME MIGRATION: nix/ names units by naming scheme {new} at {head} and {old} at "
    "{base}. Every tenant's units are renamed, so each running tenant is stopped and "
    "started once by this deploy (see docs/nixos.md, 'Migrating a host'). Announce it."
)
RULES_CHANGED: Final = (
    "{files} changed: units may change beyond this plan; "
    "check with `nixos-rebuild dry-activate` on a host"
)


class PlanError(Exception):
    """The plan could not be made (bad revision, a tenant file Nix refuses, ...)."""


def build_report(*, repo: Path, base: str, head: str, fork_point: bool = False) -> Report:
    """Materialize both revisions, evaluate nix/ at each (or diff files), and compare.

    With `fork_point`, `head` is compared with where it forked from `base`: a review
    branch's own change, without the other tenants that reached `base` since.
    """
    try:
        base_commit = nixeval.resolve(repo, base)
        head_commit = nixeval.resolve(repo, head)
        if fork_point:
            base_commit = nixeval.fork_point(repo, base_commit, head_commit)
        with tempfile.TemporaryDirectory(prefix="gitops-bot-plan-") as tmp:
            base_tree, head_tree = Path(tmp, "base"), Path(tmp, "head")
            nixeval.materialize(repo, base_commit, base_tree)
            nixeval.materialize(repo, head_commit, head_tree)
            report = _compare(base_tree, head_tree, base_name=base, head_name=head)
    except nixeval.EvalError as error:
        raise PlanError(str(error)) from error
    return replace(report, base=base_commit, head=head_commit)


def plan_change(
    rules: Mapping[str, bytes],
    before: Mapping[str, bytes],
    after: Mapping[str, bytes],
    *,
    base: str,
    head: str,
) -> Report:
    """The plan of a change given as files rather than as two revisions: a review's plan.

    `rules` are the files under nix/ that will deploy the change; `before` and `after`
    the tenant files it touches, as the main branch has them and as it will have them.
    The other tenants are left out: a tenant's units depend on its own file only (the Nix
    tests hold the module to that), so they would add evaluation time and change nothing.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="gitops-bot-plan-") as tmp:
            base_tree, head_tree = Path(tmp, "base"), Path(tmp, "head")
            _write_tree(base_tree, {**rules, **before})
            _write_tree(head_tree, {**rules, **after})
            return _compare(base_tree, head_tree, base_name=base, head_name=head)
    except nixeval.EvalError as error:
        raise PlanError(str(error)) from error


def _write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    # A new tenant's "before" has no tenant files at all, yet a folder to read.
    (root / "tenants").mkdir(parents=True)
    for name, data in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise PlanError(f"{name}: not a path inside the repository")
        path = root.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _compare(base_tree: Path, head_tree: Path, *, base_name: str, head_name: str) -> Report:
    """Evaluate nix/ in both checkouts (or diff their files) and compare, host by host."""
    notes = _rule_notes(base_tree, head_tree)
    if nixeval.nix_instantiate() is None:
        hosts = _file_diff(_read_files(base_tree), _read_files(head_tree))
        return Report(base_name, head_name, "files", hosts, (NO_NIX, *notes))
    old = nixeval.evaluate(base_tree, rules=head_tree)
    new = nixeval.evaluate(head_tree, rules=head_tree)
    if not (base_tree / nixeval.SUMMARY).is_file():
        notes = (*notes, f"{base_name} has no {nixeval.SUMMARY}: read with {head_name}'s rules")
    old_naming, new_naming = old.get("naming", 1), new.get("naming", 1)
    if old_naming != new_naming:
        migration = NAMING_CHANGED.format(
            old=old_naming, new=new_naming, base=base_name, head=head_name
        )
        notes = (migration, *notes)
    notes = (*notes, *(f"tenant {s} names a host the inventory lacks" for s in new["unplaced"]))
    return Report(base_name, head_name, "nix", diff(old, new), notes)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[HostPlan, ...]:
    """Compare two fleet summaries of nix/summary.nix, host by host."""
    shared_changed = old.get("sharedNginx") != new.get("sharedNginx")
    names = sorted(set(old["hosts"]) | set(new["hosts"]))
    return tuple(
        _diff_host(
            host,
            old["hosts"].get(host, {}),
            new["hosts"].get(host, {}),
            shared_changed=shared_changed,
        )
        for host in names
    )


def _diff_host(
    host: str, old: Mapping[str, Any], new: Mapping[str, Any], *, shared_changed: bool
) -> HostPlan:
    old_units, new_units = _unit_files(old), _unit_files(new)
    old_vhosts, new_vhosts = _merged(old, "virtualHosts"), _merged(new, "virtualHosts")
    vhost_changes = _changes(old_vhosts, new_vhosts)
    if shared_changed and (old or new):
        vhost_changes = (*vhost_changes, "shared tenant routing (base domain)")
    return replace(
        _classify(host, old, new),
        start=tuple(sorted(set(new_units) - set(old_units))),
        restart=tuple(
            sorted(u for u in set(old_units) & set(new_units) if old_units[u] != new_units[u])
        ),
        stop=tuple(sorted(set(old_units) - set(new_units))),
        nginx_reload=bool(vhost_changes),
        nginx_changes=vhost_changes,
    )


def _classify(host: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> HostPlan:
    """The tenant-level changes on `host`: from tenant summaries or plain tenant files."""
    both = set(old) & set(new)
    state_of = {s: (old[s]["state"], new[s]["state"]) for s in both}
    return HostPlan(
        host=host,
        added=tuple(sorted(set(new) - set(old))),
        removed=tuple(sorted(set(old) - set(new))),
        suspended=tuple(sorted(s for s in both if state_of[s] == ("active", "suspended"))),
        resumed=tuple(sorted(s for s in both if state_of[s] == ("suspended", "active"))),
        changed=tuple(
            sorted(
                s
                for s in both
                if state_of[s][0] == state_of[s][1]
                and old[s]["fingerprint"] != new[s]["fingerprint"]
            )
        ),
    )


def _merged(tenants: Mapping[str, Any], key: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for summary in tenants.values():
        merged.update(summary.get(key, {}))
    return merged


def _changes(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(
        [f"+{d}" for d in sorted(set(new) - set(old))]
        + [f"-{d}" for d in sorted(set(old) - set(new))]
        + [f"~{d}" for d in sorted(set(old) & set(new)) if old[d] != new[d]]
    )


def _unit_files(tenants: Mapping[str, Any]) -> dict[str, str]:
    """Fingerprints by unit file name. Summaries before naming 2 named services only, and
    without their suffix (tenant-acme-db); a unit name never has a dot otherwise."""
    return {
        name if "." in name else f"{name}.service": fingerprint
        for name, fingerprint in _merged(tenants, "units").items()
    }


def _read_files(tree: Path) -> dict[str, dict[str, Any]]:
    """Tenant files by slug, read as plain JSON: the fallback when Nix is not available."""
    tenants: dict[str, dict[str, Any]] = {}
    folder = tree / "tenants"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        if not _TENANT_FILE.match(path.name):
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise PlanError(f"tenants/{path.name}: {error}") from error
        tenants[path.stem] = {
            "host": str(data.get("host", "?")),
            "state": str(data.get("state", "?")),
            "fingerprint": json.dumps(data, sort_keys=True),
        }
    return tenants


def _file_diff(
    old: Mapping[str, dict[str, Any]], new: Mapping[str, dict[str, Any]]
) -> tuple[HostPlan, ...]:
    hosts = sorted({t["host"] for t in (*old.values(), *new.values())})
    return tuple(_classify(h, _on(old, h), _on(new, h)) for h in hosts)


def _on(tenants: Mapping[str, dict[str, Any]], host: str) -> dict[str, dict[str, Any]]:
    return {slug: t for slug, t in tenants.items() if t["host"] == host}


def _rule_notes(base: Path, head: Path) -> tuple[str, ...]:
    """Say so when the module or its library changed: fingerprints cannot see that."""
    changed = sorted(
        name
        for name in _rule_file_names(base) | _rule_file_names(head)
        if _read(base / name) != _read(head / name)
    )
    if not changed:
        return ()
    return (RULES_CHANGED.format(files=", ".join(changed)),)


def _rule_file_names(tree: Path) -> set[str]:
    names = (p.relative_to(tree).as_posix() for p in tree.rglob("*.nix"))
    return {name for name in names if _RULE_FILES.match(name)}


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def render(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(asdict(report), indent=2, sort_keys=True) + "\n"
    if fmt == "markdown":
        return plan_render.markdown(report)
    return plan_render.text(report)
