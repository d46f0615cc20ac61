"""The one door to git: GitPython repos with a fixed bot identity and no user or system config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import git

from gitops_bot.backends.base import BackendError

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
TOKEN_VARIABLE: Final = "GITOPS_BOT_GIT_TOKEN"  # noqa: S105 - a variable name, not a secret
# A credential helper that answers with the token from the environment of the git process:
# the token never reaches a command line (visible in `ps`), .git/config or a remote URL.
# The first, empty helper entry drops any helper the repository's own config names.
_TOKEN_HELPER: Final = (
    '!f() { test "$1" = get || exit 0; '
    f'printf "username=x-access-token\\npassword=%s\\n" "${TOKEN_VARIABLE}"; }}; f'
)


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


class GitError(BackendError):
    """A git command on a checkout failed; the message is git's own."""


def git_says(failure: git.GitCommandError) -> str:
    """What git printed, on one line, without GitPython's `stderr: '...'` wrapping."""
    text = str(failure.stderr).strip()
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text.removeprefix("stderr: '").removesuffix("'")
    return " ".join(text.split())[:500]


def run(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> bytes:
    """Run git in `repo` (a checkout or a bare repo) and return its output as bytes.

    `env` adds to the isolated environment, e.g. credential_env() for a fetch or push.
    """
    try:
        output: bytes = git.Git(str(repo)).execute(
            ["git", *args], env={**ISOLATED_ENV, **(env or {})}, stdout_as_string=False
        )
    except git.GitCommandError as failure:
        raise GitError(f"git {' '.join(args[:2])}: {git_says(failure)}") from None
    except git.GitCommandNotFound:
        raise GitError("git is not installed") from None
    return output


def resolve(repo: Path, rev: str) -> str:
    """The commit id `rev` names; refuses option-like input before git sees it."""
    if rev.startswith("-"):
        raise GitError(f"not a revision: {rev!r}")
    return run(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()


def merge_base(repo: Path, a: str, b: str) -> str:
    """The best common ancestor of two commits (ids, as `resolve` gives them)."""
    try:
        found = run(repo, "merge-base", a, b).decode().strip()
    except GitError:
        found = ""  # git says nothing, and exits 1, when there is none
    if not found:
        raise GitError(f"{a[:12]} and {b[:12]} have no common history")
    return found


def has_commit(repo: Path, sha: str) -> bool:
    """Whether `repo` holds the commit `sha` (a shallow or rewritten clone may not)."""
    try:
        resolve(repo, sha)
    except GitError:
        return False
    return True


def archive(repo: Path, commit: str) -> bytes:
    """The tree of `commit` as a tar archive."""
    return run(repo, "archive", "--format=tar", commit)


def read_files(repo: Path, commit: str, *folders: str) -> dict[str, bytes]:
    """Every file under `folders` at `commit`, read with two git processes whatever their number."""
    listing = run(repo, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *folders)
    entries = []
    for entry in listing.split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            _mode, kind, blob = meta.split(b" ")
            if kind == b"blob":
                entries.append((path.decode(), blob.decode()))
    repo_handle = git.Repo(repo)
    try:
        return {path: repo_handle.odb.stream(bytes.fromhex(blob)).read() for path, blob in entries}
    finally:
        repo_handle.close()


def trailers(repo: Path, base: str, head: str, key: str) -> list[str]:
    """The values of trailer `key` in the commits after `base` up to `head`."""
    log = run(repo, "log", f"--format=%(trailers:key={key},valueonly)", f"{base}..{head}")
    return [line.strip() for line in log.decode().split("\n") if line.strip()]


def changed_paths(repo: Path, base: str, head: str) -> tuple[str, ...]:
    """Paths whose content differs between two commits' trees; a rename is two paths."""
    output = run(repo, "diff-tree", "-r", "-z", "--name-only", "--no-renames", base, head)
    return tuple(path for path in output.decode().split("\0") if path)


def refs(repo: Path, prefix: str) -> dict[str, str]:
    """Every ref under `prefix` (e.g. `refs/tags/deployed/`) and the commit it points at."""
    output = run(
        repo, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)", prefix
    )
    found = {}
    for line in filter(None, output.decode().split("\n")):
        name, direct, peeled = line.split("\0")
        found[name] = peeled or direct  # an annotated tag points at its tag object
    return found


def update_ref(repo: Path, ref: str, new: str, *, old: str | None) -> None:
    """Move `ref` to `new` only if it still points at `old` (None: only if it does not exist)."""
    run(repo, "update-ref", ref, new, old or "")


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


def fetch_refs(repo: Path, remote: str, pattern: str, *, token: str | None) -> None:
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
    repo: Path,
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
