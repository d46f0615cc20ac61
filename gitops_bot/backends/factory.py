"""Which backend the settings choose: the one module that knows every implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitops_bot.backends.base import StateRepo
    from gitops_bot.config import Settings


def open_state_repo(settings: Settings) -> StateRepo:
    """The backend the settings choose; the default local remote is created on first use."""
    if settings.backend == "github":
        from gitops_bot.backends.github import GitHubRepo  # noqa: PLC0415

        return GitHubRepo.from_settings(settings)
    from gitops_bot.backends.gitrepo import init_bare  # noqa: PLC0415
    from gitops_bot.backends.local import LocalGitRepo  # noqa: PLC0415 - PyGithub stays unloaded

    if settings.remote is None:
        remote = settings.state_dir / "state.git"
        if not (remote / "HEAD").exists():
            init_bare(remote, branch=settings.branch)
    return LocalGitRepo(settings.remote_url, settings.writer_clone)
