"""The one door to git: GitPython repos with a fixed bot identity and no user or system config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import git

if TYPE_CHECKING:
    from collections.abc import Mapping

BOT_NAME: Final = "gitops-bot"
BOT_EMAIL: Final = "gitops-bot@users.noreply.invalid"

# The user's ~/.gitconfig (hooks, signing, url rewrites, credential helpers) must not change
# what the bot writes or where it pushes; a fixed identity makes commits reproducible.
ISOLATED_ENV: Final = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": BOT_NAME,
    "GIT_AUTHOR_EMAIL": BOT_EMAIL,
    "GIT_COMMITTER_NAME": BOT_NAME,
    "GIT_COMMITTER_EMAIL": BOT_EMAIL,
}
# git knows the empty tree without storing it: diffing against it lists every file.
EMPTY_TREE: Final = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
TOKEN_VARIABLE: Final = "GITOPS_BOT_GIT_TOKEN"  # noqa: S105 - a variable name, not a secret
# A credential helper that answers with the token from the environment of the git process:
# the token never reaches a command line (visible in `ps`), .git/config or a remote URL.
# The first, empty helper entry drops any helper the repository's own config names.
_TOKEN_HELPER: Final = (
    '!f() { test "$1" = get || exit 0; '
    f'printf "username=x-access-token\\npassword=%s\\n" "${TOKEN_VARIABLE}"; }}; f'
)


class GitError(Exception):
    """A git command failed; the message carries git's own words."""


def open_repo(path: Path) -> git.Repo:
    repo = git.Repo(path)
    repo.git.update_environment(**ISOLATED_ENV)
    return repo


def init_bare(path: Path, *, branch: str) -> git.Repo:
    path.mkdir(parents=True, exist_ok=True)
    git.Git().execute(
        ["git", "init", "--quiet", "--bare", f"--initial-branch={branch}", str(path)],
        env=ISOLATED_ENV,
    )
    return open_repo(path)


def run(repo: git.Repo, *args: str, env: Mapping[str, str] | None = None) -> str:
    """git's output for `args`, run in `repo` with the isolated environment."""
    try:
        output = repo.git.execute(["git", *args], env=env)
    except git.GitCommandError as failure:
        stderr = str(failure.stderr).strip().replace("\n", " ")[:500]
        raise GitError(f"git {args[0]} failed: {stderr}") from None
    return str(output)


def credential_env(token: str | None) -> dict[str, str]:
    """Extra environment that lets git fetch and push over HTTPS with `token`, if any."""
    if not token:
        return {}
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": "credential.helper",
        "GIT_CONFIG_VALUE_1": _TOKEN_HELPER,
        TOKEN_VARIABLE: token,
    }


def resolve(repo: git.Repo, rev: str) -> str | None:
    """The commit `rev` names, or None when it names none."""
    try:
        return run(
            repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )
    except GitError:
        return None


def changed_paths(repo: git.Repo, base: str, head: str) -> tuple[str, ...]:
    """Paths whose content differs between two commits' trees; a rename is two paths."""
    output = run(repo, "diff-tree", "-r", "-z", "--name-only", "--no-renames", base, head)
    return tuple(path for path in output.split("\0") if path)


def read_file(repo: git.Repo, commit: str, path: str) -> bytes | None:
    """The content of `path` at `commit`, or None when it is not a file there."""
    try:
        item = repo.commit(commit).tree / path
    except KeyError:
        return None
    if not isinstance(item, git.Blob):
        return None
    data: bytes = item.data_stream.read()
    return data


def refs(repo: git.Repo, prefix: str) -> dict[str, str]:
    """Every ref under `prefix` (e.g. `refs/tags/deployed/`) and the commit it points at."""
    output = run(
        repo, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)", prefix
    )
    found = {}
    for line in output.splitlines():
        name, direct, peeled = line.split("\0")
        found[name] = peeled or direct  # an annotated tag points at its tag object
    return found


def update_ref(repo: git.Repo, ref: str, new: str, *, old: str | None) -> None:
    """Move `ref` to `new` only if it still points at `old` (None: only if it does not exist)."""
    run(repo, "update-ref", ref, new, old or "")


def fetch_refs(repo: git.Repo, remote: str, pattern: str, *, token: str | None) -> None:
    """Make the local refs matching `pattern` (e.g. `refs/tags/deployed/*`) equal the remote's."""
    run(
        repo,
        "fetch",
        "--quiet",
        "--no-tags",
        "--prune",
        remote,
        f"+{pattern}:{pattern}",
        env=credential_env(token),
    )


def push_refs(
    repo: git.Repo,
    remote: str,
    updates: Mapping[str, tuple[str | None, str]],
    *,
    token: str | None,
) -> None:
    """Set each remote ref to its new commit, all or none, each only if still at its old one.

    `updates` maps a ref to (old, new); old None means the ref must not exist yet. A lease per
    ref, rather than a blind force, turns a concurrent move by someone else into a refusal.
    """
    leases = [f"--force-with-lease={ref}:{old or ''}" for ref, (old, _new) in updates.items()]
    specs = [f"{new}:{ref}" for ref, (_old, new) in updates.items()]
    run(
        repo,
        "push",
        "--quiet",
        "--atomic",
        "--no-verify",
        *leases,
        remote,
        *specs,
        env=credential_env(token),
    )
