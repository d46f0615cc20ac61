"""The state repo at a git revision: its tree in a temp dir, its nix/ run by nix-instantiate."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from typing import TYPE_CHECKING, Any, Final

from gitops_bot.backends import gitrepo

if TYPE_CHECKING:
    from pathlib import Path

SUMMARY: Final = "nix/summary.nix"
EVAL_TIMEOUT: Final = 600


class EvalError(Exception):
    """A revision could not be read or its nix/ could not be evaluated."""


def nix_instantiate() -> str | None:
    return shutil.which("nix-instantiate")


def resolve(repo: Path, rev: str) -> str:
    """The commit id `rev` names."""
    try:
        return gitrepo.resolve(repo, rev)
    except gitrepo.GitError as error:
        raise EvalError(str(error)) from None


def fork_point(repo: Path, base: str, head: str) -> str:
    """Where `head` forked from `base`: the commit `head`'s own changes are measured from."""
    try:
        return gitrepo.merge_base(repo, base, head)
    except gitrepo.GitError as error:
        raise EvalError(str(error)) from None


def materialize(repo: Path, commit: str, dest: Path) -> None:
    """Write the tree of `commit` into `dest` (git archive, unpacked with tarfile's data filter)."""
    try:
        tree = gitrepo.archive(repo, commit)
    except gitrepo.GitError as error:
        raise EvalError(str(error)) from None
    try:
        with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as refused:
        # A committed symlink out of the tree (or another member the data filter refuses)
        # is the revision's fault: reported like any evaluation error, so the caller
        # records it instead of crashing and restarting on the same commit forever.
        member = refused.tarinfo.name if refused.tarinfo is not None else "a file"
        raise EvalError(f"{member}: cannot be read from the revision: {refused}") from None
    except (tarfile.TarError, OSError) as error:
        raise EvalError(f"the tree of {commit[:12]} cannot be unpacked: {error}") from None


def _nix_string(value: str) -> str:
    return json.dumps(value).replace("${", "\\${")


def _nix_path(path: Path) -> str:
    return f"(/. + {_nix_string(str(path))})"


def evaluate(
    tree: Path, *, rules: Path, hosts: list[str] | None = None, problems_only: bool = False
) -> dict[str, Any]:
    """The fleet summary of the checkout at `tree`.

    The tree's own nix/summary.nix is used when it has one; an older revision without it is
    read with the rules of `rules` (the other revision's tree). Evaluation runs in restricted
    mode with only the two trees readable, so a revision's Nix code cannot read the machine.
    `hosts` limits it to those hosts, and `problems_only` to the names tenants would share,
    where the summary knows how (naming 2 and later); an older one gives its whole summary.
    """
    nix = nix_instantiate()
    if nix is None:
        raise EvalError("nix-instantiate is not installed")
    summary = tree / SUMMARY if (tree / SUMMARY).is_file() else rules / SUMMARY
    args = f"{{ repo = {_nix_path(tree)}; }}"
    if hosts is not None:
        names = " ".join(_nix_string(h) for h in hosts)
        args += f' // optional "hosts" [ {names} ]'
    if problems_only:
        args += ' // optional "problemsOnly" true'
    # An argument the revision's summary.nix does not take is left out.
    optional = (
        "optional = name: value: "
        "if (builtins.functionArgs f) ? ${name} then { ${name} = value; } else { };"
    )
    expr = f"let f = import {_nix_path(summary)}; {optional} in f ({args})"
    command = [
        nix, "--eval", "--strict", "--json",
        "--option", "restrict-eval", "true",
        "--option", "allow-import-from-derivation", "false",
        "-I", str(tree), "-I", str(rules),
        "-E", expr,
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=EVAL_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        # A revision whose nix/ never finishes is a revision that does not evaluate: the
        # writer and `plan` say so instead of crashing on the exception.
        raise EvalError(f"nix/ did not evaluate within {EVAL_TIMEOUT} s") from None
    if result.returncode != 0:
        raise EvalError(_explain(command, result.stderr))
    summary_data: dict[str, Any] = json.loads(result.stdout)
    return summary_data


def _explain(command: list[str], stderr: str) -> str:
    """The error, plus the file being loaded when Nix's own message does not name it."""
    message = stderr.strip()
    if "tenants/" in message:
        return message
    traced = subprocess.run(
        [*command[:1], "--show-trace", *command[1:]],
        capture_output=True,
        text=True,
        check=False,
        timeout=EVAL_TIMEOUT,
    )
    context = [
        line.strip(" …")
        for line in traced.stderr.split("\n")
        if line.lstrip().startswith("… while loading")
    ]
    return "\n".join([*context[:1], message])
