"""Data hygiene of a state repo: its whole history holds no personal data and no secret.

Every reliability suite calls `assert_history_clean` on the state repo it wrote to. Git
history is forever: a secret or an email address that reaches any commit, even one
later reverted or on a branch that was deleted, has to be treated as published.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gitops_bot.backends.gitrepo import BOT_EMAIL, BOT_NAME
from helpers import (
    ADMIN_TOKEN,
    E2E_ADMIN_TOKEN,
    E2E_STATUS_TOKEN,
    SECRET,
    SECRET_BYTES,
    STATUS_TOKEN,
)

EMAIL: Final = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Webhook secrets, GitHub tokens of every kind, and any PEM block (private keys, certificates).
TOKEN: Final = re.compile(
    rb"whsec_|gh[pousr]_[A-Za-z0-9]{8,}|github_pat_|-----BEGIN [A-Z0-9 ]+-----"
)
# The secrets the tests configure (in-process, and for helpers.running_bot), in every
# spelling they could leak in.
TEST_SECRETS: Final = (
    SECRET,
    SECRET.removeprefix("whsec_"),
    SECRET_BYTES.decode(),
    STATUS_TOKEN,
    ADMIN_TOKEN,
    E2E_STATUS_TOKEN,
    E2E_ADMIN_TOKEN,
)


@dataclass(frozen=True)
class Hygiene:
    """What a scan read: so a suite can say how much history it vouched for."""

    commits: int
    blobs: int
    bot_commits: int  # those whose paths were checked to be under tenants/


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], input=stdin, check=True, capture_output=True
    ).stdout


def _objects(repo: Path) -> Iterator[tuple[str, str, bytes]]:
    """(id, kind, content) of every object reachable from any ref."""
    ids = [
        line.split(b" ", 1)[0]
        for line in _git(repo, "rev-list", "--all", "--objects").split(b"\n")
        if line
    ]
    if not ids:
        return
    batch = _git(repo, "cat-file", "--batch", stdin=b"\n".join(ids) + b"\n")
    position = 0
    while position < len(batch):
        header_end = batch.index(b"\n", position)
        object_id, kind, size = batch[position:header_end].split(b" ")
        start = header_end + 1
        content = batch[start : start + int(size)]
        position = start + int(size) + 1
        yield object_id.decode(), kind.decode(), content


def _seed_emails(repo: Path) -> set[bytes]:
    """Addresses the operator's own seed files hold under nix/ (an ACME contact, say)."""
    allowed: set[bytes] = set()
    for root in _git(repo, "rev-list", "--all", "--max-parents=0").decode().split():
        for path in _git(repo, "ls-tree", "-r", "--name-only", root, "--", "nix").split():
            allowed.update(EMAIL.findall(_git(repo, "show", f"{root}:{path.decode()}")))
    return allowed


def _message(commit: bytes) -> bytes:
    """A commit's message, without the header whose author lines carry git identities."""
    return commit.partition(b"\n\n")[2]


def assert_history_clean(
    repo: Path, *, secrets: Iterable[str] = (), bot: str = f"{BOT_NAME} <{BOT_EMAIL}>"
) -> Hygiene:
    """Fail unless every blob and commit message reachable from any ref of bare `repo` is clean,
    and every commit authored by `bot` touches tenants/ only (the seed, a root commit, also
    nix/).

    `secrets` are further values to look for, besides the tests' own secrets and tokens.
    `bot` is the author the bot's commits carry: its fixed identity when it writes with git,
    the account of its token when it writes through the GitHub API.
    """
    needles = [s.encode() for s in (*TEST_SECRETS, *secrets) if s]
    allowed_emails = _seed_emails(repo) | {BOT_EMAIL.encode()}
    problems: list[str] = []
    blobs = commits = 0
    for object_id, kind, content in _objects(repo):
        if kind == "tree":
            continue  # file names: tenants/<slug>.json, checked by the checker's slug rules
        text = content if kind == "blob" else _message(content)
        blobs += kind == "blob"
        commits += kind == "commit"
        where = f"{kind} {object_id[:12]}"
        problems += [
            f"{where}: email address {email!r}"
            for email in set(EMAIL.findall(text)) - allowed_emails
        ]
        problems += [f"{where}: token-like {match!r}" for match in set(TOKEN.findall(text))]
        problems += [f"{where}: a test secret" for needle in needles if needle in text]
    paths, bot_commits = _bot_paths(repo, bot)
    problems += paths
    assert not problems, "state repo history is not clean:\n" + "\n".join(problems[:20])
    return Hygiene(commits=commits, blobs=blobs, bot_commits=bot_commits)


def _bot_paths(repo: Path, bot: str) -> tuple[list[str], int]:
    """Paths outside tenants/ that a commit of the bot's own touched; how many commits it made."""
    log = _git(
        repo,
        "log",
        "--all",
        "--fixed-strings",
        f"--author={bot}",
        "--name-only",
        "--format=commit %H %P%x00%s",
    ).decode()
    problems = []
    commit = subject = ""
    seed = False
    commits = 0
    for line in log.splitlines():
        if line.startswith("commit "):
            header, _, subject = line.partition("\0")
            commit, *parents = header.split()[1:]
            commits += 1
            seed = not parents  # the root commit seeds the repo: tenants/ and nix/
        elif line and not line.startswith("tenants/") and not (seed and line.startswith("nix/")):
            problems.append(f"commit {commit[:12]} ({subject}) wrote {line}")
    return problems, commits
