"""The repository, its branches and commits, compare, and archive downloads."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from fakegithub import gittrees, shapes
from fakegithub.core import API_PREFIX, DOWNLOAD_PREFIX, RAW_PREFIX, Core
from fakegithub.web import ApiError, Ctx, Router, json_response, not_found, paginate

router = Router()
R = API_PREFIX + "/repos/<owner>/<repo>"
DOWNLOAD_TTL = 300.0


@router.route("GET", R)
def get_repo(ctx: Ctx) -> Response:
    return json_response(shapes.repository(ctx.core))


def resolve(ctx: Ctx, rev: str) -> str:
    sha = ctx.core.repo.resolve_commit(rev)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {rev}")
    return sha


@router.route("GET", R + "/branches/<path:branch>")
def get_branch(ctx: Ctx) -> Response:
    core, name = ctx.core, ctx.args["branch"]
    sha = core.branch_sha(name)
    if sha is None:
        raise ApiError(404, "Branch not found")
    api = core.urls.repo_api(core.settings)
    return json_response(
        {
            "name": name,
            "commit": shapes.rest_commit(core, core.repo.read_commit(sha)),
            "_links": {
                "self": f"{api}/branches/{name}",
                "html": f"{core.urls.html(core.settings)}/tree/{name}",
            },
            "protected": name == core.settings.default_branch
            and core.settings.required_approvals > 0,
            "protection_url": f"{api}/branches/{name}/protection",
        }
    )


def _file_json(core: Core, change: gittrees.FileChange, head: str) -> dict[str, Any]:
    api, html = core.urls.repo_api(core.settings), core.urls.html(core.settings)
    return {
        "sha": change.new_sha or change.old_sha,
        "filename": change.path,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": f"{html}/blob/{head}/{change.path}",
        "raw_url": f"{html}/raw/{head}/{change.path}",
        "contents_url": f"{api}/contents/{change.path}?ref={head}",
    }


@router.route("GET", R + "/commits")
def list_commits(ctx: Ctx) -> Response:
    """Newest first from `sha` (the default branch), only those touching `path` if given."""
    core = ctx.core
    head = resolve(ctx, ctx.query("sha") or core.settings.default_branch)
    path = ctx.query("path")
    shas = core.repo.rev_list(head, *(("--", path) if path else ()))
    chunk, headers = paginate(ctx, shas)
    found = [shapes.rest_commit(core, core.repo.read_commit(sha)) for sha in chunk]
    return json_response(found, 200, headers)


@router.route("GET", R + "/commits/<path:ref>")
def get_rest_commit(ctx: Ctx) -> Response:
    core = ctx.core
    commit = core.repo.read_commit(resolve(ctx, ctx.args["ref"]))
    parent = commit.parents[0] if commit.parents else gittrees.EMPTY_TREE
    files = gittrees.diff(core.repo, parent, commit.sha)
    data = shapes.rest_commit(core, commit)
    adds, dels = sum(f.additions for f in files), sum(f.deletions for f in files)
    data["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
    data["files"] = [_file_json(core, f, commit.sha) for f in files[:300]]
    return json_response(data)


# -- compare -------------------------------------------------------------------------------


@router.route("GET", R + "/compare/<path:basehead>")
def compare(ctx: Ctx) -> Response:
    core, spec = ctx.core, ctx.args["basehead"]
    base_rev, sep, head_rev = spec.partition("...")
    if not sep:
        raise not_found()
    base, head = (resolve(ctx, rev.rpartition(":")[2]) for rev in (base_rev, head_rev))
    merge_base = core.repo.merge_base(base, head)
    if merge_base is None:
        raise ApiError(404, f"No common ancestor between {base_rev} and {head_rev}.")
    ahead = core.repo.rev_list("--reverse", f"{base}..{head}")
    behind = int(core.repo.rev_list("--count", f"{head}..{base}")[0])
    if not ahead and not behind:
        status = "identical"
    elif not behind:
        status = "ahead"
    elif not ahead:
        status = "behind"
    else:
        status = "diverged"
    page, headers = paginate(ctx, ahead, per_page_default=250, per_page_max=1000)
    api, html = core.urls.repo_api(core.settings), core.urls.html(core.settings)
    files = gittrees.diff(core.repo, merge_base, head)
    data = {
        "url": f"{api}/compare/{spec}",
        "html_url": f"{html}/compare/{spec}",
        "permalink_url": f"{html}/compare/{base}...{head}",
        "diff_url": f"{html}/compare/{spec}.diff",
        "patch_url": f"{html}/compare/{spec}.patch",
        "base_commit": shapes.rest_commit(core, core.repo.read_commit(base)),
        "merge_base_commit": shapes.rest_commit(core, core.repo.read_commit(merge_base)),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": behind,
        "total_commits": len(ahead),
        "commits": [shapes.rest_commit(core, core.repo.read_commit(sha)) for sha in page],
        "files": [_file_json(core, f, head) for f in files[:300]],
    }
    return json_response(data, 200, headers)


# -- archives ------------------------------------------------------------------------------

_ARCHIVES = {
    "tarball": ("legacy.tar.gz", "application/x-gzip"),
    "zipball": ("legacy.zip", "application/zip"),
}


@router.route("GET", R + "/<any(tarball, zipball):kind>")
@router.route("GET", R + "/<any(tarball, zipball):kind>/<path:ref>")
def archive_link(ctx: Ctx) -> Response:
    """A 302 to a short-lived download URL, as GitHub redirects to codeload."""
    core = ctx.core
    sha = resolve(ctx, ctx.args.get("ref") or core.settings.default_branch)
    token = core.tokens.new_token("dl_")
    core.downloads[token] = (ctx.args["kind"], sha, core.clock.time() + DOWNLOAD_TTL)
    name = _ARCHIVES[ctx.args["kind"]][0]
    s = core.settings
    location = f"{core.urls.root}{DOWNLOAD_PREFIX}/{s.owner}/{s.repo}/{name}/{sha}?token={token}"
    response = Response(status=302)
    response.headers["location"] = location
    return response


@router.route("GET", DOWNLOAD_PREFIX + "/<owner>/<repo>/<name>/<sha>", auth="none")
def download(ctx: Ctx) -> Response:
    core = ctx.core
    grant = core.downloads.get(ctx.query("token") or "")
    if grant is None or grant[1] != ctx.args["sha"] or grant[2] < core.clock.time():
        raise not_found()
    kind, sha, _ = grant
    prefix = f"{core.settings.owner}-{core.settings.repo}-{sha[:7]}"
    if kind == "tarball":
        data = gittrees.tarball(core.repo, sha, prefix)
    else:
        data = gittrees.zipball(core.repo, sha, prefix)
    filename, mime = _ARCHIVES[kind]
    response = Response(data, status=200, content_type=mime)
    response.headers["content-disposition"] = (
        f"attachment; filename={prefix}.{filename.split('.', 1)[1]}"
    )
    return response


@router.route("GET", RAW_PREFIX + "/<owner>/<repo>/<sha>/<path:path>", auth="none")
def raw(ctx: Ctx) -> Response:
    if ctx.core.repo.object_type(ctx.args["sha"]) != "commit":
        raise not_found()
    entry = gittrees.entry_at(ctx.core.repo, ctx.args["sha"], ctx.args["path"])
    if entry is None or entry.type != "blob":
        raise not_found()
    return Response(ctx.core.repo.read_blob(entry.sha), content_type="text/plain; charset=utf-8")
