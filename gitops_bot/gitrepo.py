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
