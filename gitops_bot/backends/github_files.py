"""Reading a GitHub commit's files cheaply (one recursive tree, one tarball for many blobs)."""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import urllib.parse
import urllib.request
from functools import partial
from typing import Final, TypeVar

from github.GitCommit import GitCommit
from github.GitRef import GitRef
from github.GitTree import GitTree
from github.Repository import Repository

from gitops_bot.backends.base import SYMLINK_MODE, BackendError
from gitops_bot.backends.github_api import GitHubApi

log = logging.getLogger(__name__)

# The folders the bot reads, as in the local backend; everything else is carried over untouched.
WATCHED: Final = ("tenants/", "nix/")
# An archive larger than this is refused rather than read into memory.
MAX_ARCHIVE_BYTES: Final = 512 * 1024 * 1024
_DOWNLOAD_TIMEOUT: Final = 120


def watched(path: str) -> bool:
    return path.startswith(WATCHED)


def _holds_watched(folder: str) -> bool:
    return any(w.startswith(folder + "/") or folder.startswith(w) for w in WATCHED)


def blob_id(content: bytes) -> str:
    """Git's id of a blob with this content, so that files the bot wrote need no reading back."""
    header = b"blob %d\0" % len(content)
    return hashlib.sha1(header + content, usedforsecurity=False).hexdigest()


class _Unlistable(Exception):
    """A folder with more entries than one tree listing holds."""


def list_files(
    api: GitHubApi, commit: str, blobs: dict[str, bytes] | None = None
) -> tuple[str, dict[str, str]]:
    """The commit's tree id, and the blob id of each watched file in it.

    One request, unless GitHub truncates the recursive listing (over 100,000 entries or
    7 MB); then the watched folders are listed one by one. A folder over 100,000 entries
    cannot be listed at all (trees have no pages), so then the listing comes from the
    commit's tarball, and the contents it brings go into `blobs`.
    """
    tree = api.call("read tree", lambda: api.repo.get_git_tree(commit, recursive=True), write=False)
    if tree.truncated:
        try:
            return tree.sha, _walk(api, tree.sha, "")
        except _Unlistable as folder:
            log.info("%s is too large to list; reading the listing from the archive", folder)
            files, contents = archive_files(api, commit)
            if blobs is not None:
                blobs.update(contents)
            return tree.sha, files
    return tree.sha, {
        e.path: _value(e.mode, e.sha) for e in tree.tree if e.type == "blob" and watched(e.path)
    }


# A symlink's entry in a listing: its blob id behind this mark, which no blob id starts with.
LINK: Final = "link:"


def _value(mode: str, sha: str) -> str:
    return LINK + sha if mode == SYMLINK_MODE else sha


def split_links(files: dict[str, str]) -> tuple[dict[str, str], frozenset[str]]:
    """A listing's files, and its symlinks apart: what a Snapshot holds."""
    links = frozenset(path for path, value in files.items() if value.startswith(LINK))
    return {p: v for p, v in files.items() if p not in links}, links


def _walk(api: GitHubApi, tree: str, prefix: str) -> dict[str, str]:
    listing = api.call(
        "read tree", lambda: api.repo.get_git_tree(tree, recursive=False), write=False
    )
    if listing.truncated:
        raise _Unlistable(prefix or "the root folder")
    files: dict[str, str] = {}
    for entry in listing.tree:
        path = prefix + entry.path
        if entry.type == "blob" and watched(path):
            files[path] = _value(entry.mode, entry.sha)
        elif entry.type == "tree" and _holds_watched(path):
            sub = api.call(
                "read tree", partial(api.repo.get_git_tree, entry.sha, recursive=True), write=False
            )
            if sub.truncated:
                files.update(_walk(api, entry.sha, path + "/"))
            else:
                blobs = (e for e in sub.tree if e.type == "blob" and watched(f"{path}/{e.path}"))
                files.update({f"{path}/{e.path}": _value(e.mode, e.sha) for e in blobs})
    return files


def archive_blobs(api: GitHubApi, commit: str) -> dict[str, bytes]:
    """The content of every watched file of `commit`, by blob id, from one tarball.

    Ids are computed from the bytes, so a file the archive changed (export-subst) or left
    out (export-ignore) is simply absent, and read on its own by the caller.
    """
    return archive_files(api, commit)[1]


def archive_files(api: GitHubApi, commit: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """`commit`'s watched files as a listing (path to blob id, symlinks marked) and their
    contents by blob id, from one tarball.

    As a listing it trusts the archive: a watched file marked export-ignore would be
    missing, which the bot's own folders never are.
    """
    link = api.call(
        "archive link", lambda: api.repo.get_archive_link("tarball", commit), write=False
    )
    data = api.call("download archive", lambda: _download(link), write=False)
    files: dict[str, str] = {}
    blobs: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive:
            # Every path starts with one folder named after the repository and commit.
            path = member.name.partition("/")[2]
            if not watched(path):
                continue
            if member.issym():
                files[path] = LINK + blob_id(member.linkname.encode())
            elif member.isfile() and (handle := archive.extractfile(member)):
                content = handle.read()
                files[path] = sha = blob_id(content)
                blobs[sha] = content
    return files, blobs


def _download(link: str) -> bytes:
    """The archive behind GitHub's short-lived link; it carries its own grant, so no token."""
    if urllib.parse.urlsplit(link).scheme not in {"https", "http"}:
        raise OSError("GitHub's archive link is not an http(s) URL")
    with urllib.request.urlopen(link, timeout=_DOWNLOAD_TIMEOUT) as answer:  # noqa: S310
        data: bytes = answer.read(MAX_ARCHIVE_BYTES + 1)
    if len(data) > MAX_ARCHIVE_BYTES:
        raise BackendError(f"the state repo's archive is over {MAX_ARCHIVE_BYTES} bytes")
    return data


# --- git objects known by their address alone: passing them on costs no request ------------


def lazy_ref(repo: Repository, branch: str) -> GitRef:
    """The branch's ref at the URL that updates and deletes it.

    A lazy get_git_ref() object carries the URL of the read (/git/ref/...), which GitHub
    answers with 404 for PATCH and DELETE; those live at /git/refs/....
    """
    url = f"{repo.url}/git/refs/heads/{urllib.parse.quote(branch)}"
    return GitRef(repo.requester, attributes={"ref": f"refs/heads/{branch}", "url": url})


_Known = TypeVar("_Known", GitTree, GitCommit)


def lazy_object(kind: type[_Known], repo: Repository, folder: str, sha: str) -> _Known:
    """A PyGithub tree or commit known by its sha alone, so that passing it on costs no request."""
    url = f"{repo.url}/git/{folder}/{sha}"
    return kind(repo.requester, attributes={"sha": sha, "url": url}, completed=False)
