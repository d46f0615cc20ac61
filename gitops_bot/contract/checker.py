"""The checker: every rule a tenant file and the fleet must satisfy, with errors that point home."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from gitops_bot.contract.inventory import INVENTORY_PATH, Inventory
from gitops_bot.contract.tenant import SCHEMA_FILE, Tenant, slug_problem

TENANTS_DIR: Final = "tenants"
# The folders whose symlinks the checker refuses: what the NixOS module reads.
LINKED_DIRS: Final = (TENANTS_DIR, "nix")


@dataclass(frozen=True, order=True)
class Problem:
    """One broken rule, located as precisely as the file allows."""

    file: str
    line: int  # 0: the file as a whole
    message: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class FileResult:
    """What one file says on its own: its tenant when it parses, and its own problems."""

    path: str
    text: str
    tenant: Tenant | None
    problems: tuple[Problem, ...]


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    tenants: dict[str, Tenant] = field(default_factory=dict)  # by path, for valid files

    @property
    def ok(self) -> bool:
        return not self.problems


def is_tenant_path(path: str) -> bool:
    """Files the checker owns: tenants/*.json, except the schema."""
    folder, _, name = path.rpartition("/")
    return folder == TENANTS_DIR and name.endswith(".json") and name != SCHEMA_FILE


def line_of(text: str, key: str) -> int:
    """The line where `key` is set in a canonical file, or 0 (the whole file) if nowhere."""
    needle = f'"{key}":'
    for number, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith(needle):
            return number
    return 0


def check_file(path: str, content: bytes) -> FileResult:
    """Rules that need only the file itself: name, JSON, schema, slug = name, canonical form."""
    name = path.rpartition("/")[2].removesuffix(".json")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return FileResult(path, "", None, (Problem(path, 0, "is not UTF-8"),))
    if (problem := slug_problem(name)) is not None:
        return FileResult(
            path, text, None, (Problem(path, 0, f"file name is not a slug: {problem}"),)
        )
    try:
        tenant = Tenant.model_validate_json(content)
    except ValidationError as invalid:
        return FileResult(path, text, None, tuple(_schema_problems(path, text, invalid)))
    problems = []
    if tenant.slug != name:
        problems.append(
            Problem(
                path,
                line_of(text, "slug"),
                f"is '{tenant.slug}' but the file is {name}.json",
                "slug",
            )
        )
    if tenant.to_json() != text:
        problems.append(Problem(path, 0, "not in canonical form; run `gitops-bot fmt`"))
    return FileResult(path, text, tenant, tuple(problems))


def _schema_problems(path: str, text: str, invalid: ValidationError) -> Iterable[Problem]:
    for error in invalid.errors(include_url=False, include_input=False):
        if error["type"] == "json_invalid":
            yield Problem(path, _json_error_line(text), f"invalid JSON: {error['msg']}")
            continue
        loc = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if loc == ["uid"] and error["type"] == "missing":
            # Files from before uids were pinned: the one-time migration gives them one.
            message += "; run `gitops-bot pin-uids` once (docs/nixos.md, 'Migrating a host')"
        yield Problem(path, line_of(text, loc[0]) if loc else 0, message, ".".join(loc) or None)


def _json_error_line(text: str) -> int:
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return error.lineno
    return 0


def parse_inventory(content: bytes | None) -> tuple[Inventory | None, list[Problem]]:
    if content is None:
        return None, [Problem(INVENTORY_PATH, 0, "is missing")]
    try:
        return Inventory.model_validate_json(content), []
    except ValidationError as invalid:
        text = content.decode("utf-8", "replace")
        return None, list(_schema_problems(INVENTORY_PATH, text, invalid))


def check_fleet(results: Iterable[FileResult], inventory: Inventory | None) -> Report:
    """The rules between files, given each file's own result."""
    report = Report()
    valid: list[tuple[Tenant, FileResult]] = []
    for result in results:
        report.problems.extend(result.problems)
        if result.tenant is not None:
            report.tenants[result.path] = result.tenant
            valid.append((result.tenant, result))
    if inventory is None:
        return report
    # Oldest first: when two tenants collide, the newcomer is the one reported.
    valid.sort(key=lambda pair: (pair[0].created_at, pair[0].slug))
    seats: dict[str, int] = defaultdict(int)
    owners = _Owners()
    for tenant, result in valid:
        report.problems.extend(_fleet_problems(tenant, result, inventory, seats, owners))
    report.problems.sort()
    return report


@dataclass
class _Owners:
    """Who took each fleet-wide unique value first: custom domains and uids."""

    domains: dict[str, str] = field(default_factory=dict)
    uids: dict[int, str] = field(default_factory=dict)


def _fleet_problems(
    tenant: Tenant,
    result: FileResult,
    inventory: Inventory,
    seats: dict[str, int],
    owners: _Owners,
) -> Iterator[Problem]:
    """One tenant against the inventory and the tenants before it (counted in the dicts)."""

    def problem(key: str, message: str) -> Problem:
        return Problem(result.path, line_of(result.text, key), message, key)

    for key, message in _unknown_names(tenant, inventory):
        yield problem(key, message)
    host = inventory.hosts.get(tenant.host)
    if host is None:
        yield problem("host", f"'{tenant.host}' is not in {INVENTORY_PATH}")
    else:
        seats[tenant.host] += 1
        if seats[tenant.host] > host.capacity:
            yield problem("host", f"'{tenant.host}' is over its capacity of {host.capacity}")
    if overlap := sorted(set(tenant.domains) & set(tenant.pending_domains or ())):
        yield problem("pendingDomains", f"'{overlap[0]}' is in domains already")
    # A pending domain holds its name as firmly as a verified one: no one else may take it.
    for domain in tenant.claimed_domains:
        key = "domains" if domain in tenant.domains else "pendingDomains"
        if (why := inventory.why_ours(domain)) is not None:
            yield problem(key, f"'{domain}' {why}")
        elif (owner := owners.domains.setdefault(domain, result.path)) != result.path:
            yield problem(key, f"'{domain}' is already used by {owner}")
    # Unique in the fleet, not just per host, so a tenant can move without a new uid.
    if (owner := owners.uids.setdefault(tenant.uid, result.path)) != result.path:
        yield problem("uid", f"{tenant.uid} is already used by {owner}")


def _unknown_names(tenant: Tenant, inventory: Inventory) -> Iterator[tuple[str, str]]:
    """The plan and the release a tenant names, when the inventory does not list them."""
    if tenant.plan not in inventory.plans:
        known = ", ".join(sorted(inventory.plans))
        yield "plan", f"unknown plan '{tenant.plan}' (one of: {known})"
    # Every release a tenant names must be listed: that also refuses removing a release
    # from the inventory while a tenant still runs it, since the tenant's file is checked too.
    if tenant.release is not None and (why := inventory.release_problem(tenant.release)):
        yield "release", why


def link_problems(links: Iterable[str]) -> list[Problem]:
    """One problem per symlink under tenants/ or nix/.

    Nix's readDir reports a symlink as "symlink" and the module reads "regular" files only,
    so a linked tenant file is no tenant to the hosts whatever it points to; and a link in
    nix/ reads whatever is at its target on the machine that evaluates it.
    """
    return [
        Problem(path, 0, "is a symlink; commit a regular file instead (nix/ does not follow it)")
        for path in sorted(links)
        if path.partition("/")[0] in LINKED_DIRS
    ]


def check_files(files: Mapping[str, bytes], *, links: Iterable[str] = ()) -> Report:
    """Check a whole tree given as {path: content}; paths are relative to the repo root.

    `links` are the tree's symlinks, each one a problem (and none of them in `files`).
    """
    inventory, problems = parse_inventory(files.get(INVENTORY_PATH))
    problems[:0] = link_problems(links)
    results = [check_file(path, content) for path, content in files.items() if is_tenant_path(path)]
    report = check_fleet(results, inventory)
    report.problems[:0] = problems
    return report


def read_tree(root: Path) -> dict[str, bytes]:
    """The files of a checkout that the checker reads; symlinks are not followed."""
    files = {
        f"{TENANTS_DIR}/{entry.name}": entry.read_bytes()
        for entry in (root / TENANTS_DIR).iterdir()
        if not entry.is_symlink()
        and entry.is_file()
        and is_tenant_path(f"{TENANTS_DIR}/{entry.name}")
    }
    inventory = root / INVENTORY_PATH
    if not inventory.is_symlink() and inventory.is_file():
        files[INVENTORY_PATH] = inventory.read_bytes()
    return files


def read_links(root: Path) -> list[str]:
    """The symlinks under tenants/ and nix/ of a checkout, as repo-relative paths."""
    links = []
    for folder in LINKED_DIRS:
        if (root / folder).is_symlink():
            links.append(folder)
            continue
        # os.walk does not descend into linked folders; it lists them among `dirs`.
        for parent, dirs, names in os.walk(root / folder):
            for name in [*dirs, *names]:
                path = Path(parent, name)
                if path.is_symlink():
                    links.append(path.relative_to(root).as_posix())
    return sorted(links)
