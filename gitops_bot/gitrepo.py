"""The one door to git: GitPython repos with a fixed bot identity and no user or system config."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import git

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


class GitError(Exception):
    """A git command on a checkout failed; the message is git's own."""


def run(repo: Path, *args: str) -> bytes:
    """Run git in `repo` (a checkout or a bare repo) and return its output as bytes."""
    try:
        output: bytes = git.Git(str(repo)).execute(
            ["git", *args], env=ISOLATED_ENV, stdout_as_string=False
        )
    except git.GitCommandError as failure:
        stderr = str(failure.stderr).strip().removeprefix("stderr: ").strip("'")
        raise GitError(f"git {' '.join(args[:2])}: {stderr}") from None
    except git.GitCommandNotFound:
        raise GitError("git is not installed") from None
    return output


def resolve(repo: Path, rev: str) -> str:
    """The commit id `rev` names; refuses option-like input before git sees it."""
    if rev.startswith("-"):
        raise GitError(f"not a revision: {rev!r}")
    return run(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()


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
    return [line.strip() for line in log.decode().splitlines() if line.strip()]
