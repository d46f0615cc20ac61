"""FakeGitHub: the fake served on a loopback port, with helpers to set it up and inspect it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from github import Auth, Github
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from fakegithub import branches, gittrees, pulls
from fakegithub.app import FakeApp
from fakegithub.auth import App, Principal
from fakegithub.core import Core, Settings, Urls
from fakegithub.faults import Faults
from fakegithub.gitrepo import BareRepo, Signature
from fakegithub.ratelimit import RequestRecord, Violation
from fakegithub.state import Pull, Review

DEFAULT_LOGIN = "gitops-bot"
DEFAULT_APP_PERMISSIONS = {"contents": "write", "pull_requests": "write", "metadata": "read"}


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr, and every open connection known so stop() can cut it."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()


class FakeGitHub:
    """A GitHub REST server for one repository, backed by a real bare git repo."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        owner: str = "acme-ops",
        repo: str = "fleet-state",
        default_branch: str = "main",
        login: str = DEFAULT_LOGIN,
        seed: int = 0,
        **settings: Any,
    ) -> None:
        self._core = Core(tmp_path, Settings(owner, repo, default_branch, **settings), seed)
        self._core.repo.init(default_branch)
        self._app = FakeApp(self._core)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.login = login
        self.token = self.add_token(login=login)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        server.connections = set()  # type: ignore[attr-defined]
        # Keep-alive connections would make server_close() wait for their threads forever.
        server.block_on_close = False  # type: ignore[attr-defined]
        self._core.urls = Urls(f"http://127.0.0.1:{server.server_port}")
        self._server = server
        # A short poll interval makes stop() take milliseconds rather than half a second.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-github",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        for conn in list(server.connections):  # type: ignore[attr-defined]
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self.internal_errors:
            raise AssertionError("the fake GitHub crashed:\n" + "\n".join(self.internal_errors))

    # -- where it is -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """For Github(base_url=...) and GithubIntegration(base_url=...)."""
        return self._core.urls.api

    def client(self, token: str | None = None, **kwargs: Any) -> Github:
        """PyGithub pointed here, without retries or its own pacing unless a test asks.

        PyGithub sleeps 0.25 s between requests and 1 s between writes by default, and
        retries 5xx and 403 by itself; a test of the fake wants each answer raw and fast.
        """
        options: dict[str, Any] = {
            "retry": None,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
            **kwargs,
        }
        return Github(base_url=self.base_url, auth=Auth.Token(token or self.token), **options)

    @property
    def graphql_url(self) -> str:
        return self._core.urls.graphql

    @property
    def full_name(self) -> str:
        return f"{self._core.settings.owner}/{self._core.settings.repo}"

    @property
    def repo_path(self) -> Path:
        return self._core.repo.path

    @property
    def repo(self) -> BareRepo:
        return self._core.repo

    @property
    def settings(self) -> Settings:
        """Mutable: a changed limit or approval count applies from the next request on."""
        return self._core.settings

    @property
    def faults(self) -> Faults:
        return self._core.faults

    # -- what happened -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        return self._core.log.records()

    @property
    def violations(self) -> list[Violation]:
        return self._core.log.violations()

    @property
    def internal_errors(self) -> list[str]:
        return list(self._app.internal_errors)

    def max_content_writes_per_minute(self) -> int:
        return self._core.log.max_content_writes(60.0)

    def reset_log(self) -> None:
        self._core.log.clear()

    # -- tokens and apps -------------------------------------------------------------------

    def add_token(
        self, token: str | None = None, *, login: str = DEFAULT_LOGIN, ttl: float | None = None
    ) -> str:
        """A personal access token for `login`; with ttl it expires that many seconds from now."""
        token = token or self._core.tokens.new_token("ghp_")
        expires = None if ttl is None else self._core.clock.time() + ttl
        self._core.tokens.add(token, Principal(login, "user"), expires_at=expires)
        return token

    def revoke_token(self, token: str) -> None:
        self._core.tokens.revoke(token)

    def register_app(
        self,
        app_id: int,
        public_key_pem: str | bytes,
        *,
        installation_id: int = 1,
        slug: str = "gitops-bot",
        permissions: Mapping[str, str] | None = None,
    ) -> None:
        key = public_key_pem.decode() if isinstance(public_key_pem, bytes) else public_key_pem
        perms = dict(permissions or DEFAULT_APP_PERMISSIONS)
        self._core.tokens.register_app(App(app_id, slug, key, installation_id, perms))

    def advance_time(self, seconds: float) -> None:
        """Move the fake's clock: rate windows roll over and tokens expire without sleeping."""
        self._core.clock.advance(seconds)

    # -- the repository ----------------------------------------------------------------------

    def seed(
        self,
        files: Mapping[str, bytes],
        *,
        branch: str | None = None,
        message: str = "Initial commit",
    ) -> str:
        """An initial commit holding exactly these files, on the default branch unless told."""
        core = self._core
        branch = branch or core.settings.default_branch
        with core.lock:
            sig = Signature("Seeder", "seeder@example.invalid", int(core.clock.time()))
            sha = gittrees.commit_files(core.repo, None, dict(files), message, sig)
            old = core.branch_sha(branch)
            core.repo.update_ref(f"refs/heads/{branch}", sha, old)
            pulls.on_refs_changed(core)
            return sha

    def push_foreign_commit(
        self,
        branch: str,
        files: Mapping[str, bytes | None] | None = None,
        *,
        message: str | None = None,
    ) -> str:
        """Another writer commits on top of the branch; None as content deletes a path."""
        return branches.foreign_commit(self._core, branch, files, message)

    def branch_sha(self, branch: str) -> str | None:
        return self._core.branch_sha(branch)

    def read_file(self, path: str, ref: str | None = None) -> bytes | None:
        core = self._core
        commit = core.repo.resolve_commit(ref or core.settings.default_branch)
        entry = gittrees.entry_at(core.repo, commit, path) if commit else None
        return core.repo.read_blob(entry.sha) if entry and entry.type == "blob" else None

    def files(self, ref: str | None = None) -> dict[str, bytes]:
        core = self._core
        commit = core.repo.resolve_commit(ref or core.settings.default_branch)
        if commit is None:
            return {}
        blobs = [e for e in gittrees.ls_tree(core.repo, commit, recursive=True) if e.type == "blob"]
        contents = core.repo.read_blobs([e.sha for e in blobs])
        return {e.path: data for e, data in zip(blobs, contents, strict=True)}

    def commit_messages(self, ref: str | None = None) -> list[str]:
        """Newest first, like git log."""
        core = self._core
        commit = core.repo.resolve_commit(ref or core.settings.default_branch)
        shas = core.repo.rev_list(commit) if commit else []
        return [core.repo.read_commit(s).message.strip() for s in shas]

    # -- pull requests -----------------------------------------------------------------------

    def pull(self, number: int) -> Pull:
        return self._core.state.pulls[number]

    @property
    def pulls(self) -> list[Pull]:
        with self._core.lock:
            return list(self._core.state.pulls.values())

    def approve(self, number: int, reviewer: str, body: str = "") -> Review:
        """An approving review from `reviewer`; auto-merge fires if that makes the pull clean."""
        return pulls.add_review(self._core, self.pull(number), reviewer, "APPROVED", body)

    def request_changes(self, number: int, reviewer: str, body: str = "Please fix") -> Review:
        return pulls.add_review(self._core, self.pull(number), reviewer, "CHANGES_REQUESTED", body)

    def mergeable_state(self, number: int) -> str:
        return pulls.mergeability(self._core, self.pull(number))[1]
