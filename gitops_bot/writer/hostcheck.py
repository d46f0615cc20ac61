"""Before a commit: every host the batch touches still evaluates, with no name shared."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gitops_bot.nix import nixeval

if TYPE_CHECKING:
    from gitops_bot.backends.base import Snapshot, StateRepo
    from gitops_bot.contract.checker import FileResult
    from gitops_bot.writer.changes import Tree

log = logging.getLogger(__name__)

# nix/lib/names.nix words a shared name like this.
_SHARED: Final = re.compile(r"^(?P<files>.+) share (?P<what>\S+ name \S+)$")
_FILE: Final = re.compile(r"tenants/[a-z0-9-]+\.json")


class HostsBroken(Exception):
    """nix/ fails on the branch as it is, before any change: nothing may be committed."""


class HostCheck:
    """The writer's last veto: nix/ of the tree about to be committed, evaluated for the
    hosts the batch touches. The checker already holds every rule it knows of; this
    catches whatever nix/ derives that the checker does not (or does differently), so a
    commit can never leave a host that fails to evaluate.

    Without nix-instantiate, or in a state repo without nix/summary.nix, it checks nothing
    and says so once.
    """

    def __init__(self, repo: StateRepo) -> None:
        self.repo = repo
        self._rules: dict[str, bytes] = {}  # by blob id: nix/ changes rarely
        self._warned = False

    def __call__(self, tree: Tree, changes: Mapping[str, FileResult | None]) -> dict[str, str]:
        """Why each refused path of `changes` would break its host; empty when none would."""
        if not changes:
            return {}
        if nixeval.nix_instantiate() is None or nixeval.SUMMARY not in tree.snapshot.files:
            if not self._warned:
                log.warning(
                    "nix-instantiate or %s missing: commits are checked without nix/",
                    nixeval.SUMMARY,
                )
                self._warned = True
            return {}
        results = {**tree.results, **changes}
        touched = {
            r.tenant.host
            for path in changes
            for r in (tree.results.get(path), changes[path])
            if r is not None and r.tenant is not None
        }
        try:
            problems = self._evaluate(tree, results, touched)
        except nixeval.EvalError as error:
            named = [path for path in changes if path in str(error)]
            if not named:
                # Naming no changed file, the fault may be the branch's own: then every
                # event waits, as for a branch the checker refuses, instead of failing.
                try:
                    self._evaluate(tree, tree.results, touched)
                except nixeval.EvalError as broken:
                    raise HostsBroken(f"nix/ does not evaluate on the branch: {broken}") from None
            reason = f"nix/ does not evaluate with this change: {error}"
            return dict.fromkeys(named or list(changes), reason)
        reasons: dict[str, list[str]] = {}
        for host, messages in sorted(problems.items()):
            for message in messages:
                for path, reason in self._shared(host, message, changes).items():
                    reasons.setdefault(path, []).append(reason)
        return {path: "; ".join(found) for path, found in reasons.items()}

    def _evaluate(
        self, tree: Tree, results: Mapping[str, FileResult | None], hosts: set[str]
    ) -> dict[str, list[str]]:
        with tempfile.TemporaryDirectory(prefix="gitops-bot-hostcheck-") as scratch:
            root = Path(scratch)
            (root / "tenants").mkdir()
            for relative, content in self._rule_files(tree).items():
                path = root / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            for name, result in results.items():
                # Only the touched hosts' tenants: the others cannot change their verdict.
                tenant = None if result is None else result.tenant
                if result is not None and tenant is not None and tenant.host in hosts:
                    (root / name).write_text(result.text, encoding="utf-8")
            summary = nixeval.evaluate(root, rules=root, hosts=sorted(hosts), problems_only=True)
        problems: dict[str, list[str]] = summary.get("problems", {})
        return problems

    def unread(self, snapshot: Snapshot) -> set[str]:
        """The nix/ blobs of `snapshot` not read yet: the writer reads them with the tenant
        files, so that on GitHub they come in the same archive instead of a request each."""
        return set(_rule_blobs(snapshot).values()) - self._rules.keys()

    def remember(self, contents: Mapping[str, bytes]) -> None:
        self._rules.update(contents)

    def _rule_files(self, tree: Tree) -> dict[str, bytes]:
        """nix/ as the tree has it, without its tests: what the hosts evaluate."""
        wanted = _rule_blobs(tree.snapshot)
        if missing := self.unread(tree.snapshot):
            self._rules.update(self.repo.read_blobs(missing))
        return {path: self._rules[blob] for path, blob in wanted.items()}

    @staticmethod
    def _shared(
        host: str, message: str, changes: Mapping[str, FileResult | None]
    ) -> dict[str, str]:
        """The changed file(s) a shared name names, each told who the other one is."""
        match = _SHARED.match(message)
        files = _FILE.findall(match["files"]) if match else []
        culprits = [f for f in files if f in changes] or list(changes)
        what = match["what"] if match else message
        return {
            path: (
                f"on host {host}, {path} would share {what} with "
                f"{', '.join(f for f in files if f != path) or 'another tenant'}"
            )
            for path in culprits
        }


def _rule_blobs(snapshot: Snapshot) -> dict[str, str]:
    return {
        path: blob
        for path, blob in snapshot.files.items()
        if path.startswith("nix/") and not path.startswith("nix/tests/")
    }
