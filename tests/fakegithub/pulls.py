"""Pull requests as the fake keeps them: mergeability, real merges in the bare repo, auto-merge."""

from __future__ import annotations

from fakegithub import gittrees, shapes
from fakegithub.auth import Principal
from fakegithub.core import Core
from fakegithub.state import Pull, Review
from fakegithub.web import ApiError

MERGE_METHODS = ("merge", "squash", "rebase")


def head_sha(core: Core, pr: Pull) -> str | None:
    return pr.head_sha if pr.state == "closed" else core.branch_sha(pr.head_ref)


def base_sha(core: Core, pr: Pull) -> str | None:
    return pr.base_sha if pr.state == "closed" else core.branch_sha(pr.base_ref)


def approvals(pr: Pull) -> tuple[int, bool]:
    """Approving reviewers, and whether anyone's latest word is "changes requested"."""
    latest: dict[str, str] = {}
    for review in pr.reviews:
        # Comments and pending reviews neither grant nor withdraw an approval.
        if review.state in {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}:
            latest[review.user] = review.state
    states = latest.values()
    return sum(s == "APPROVED" for s in states), any(s == "CHANGES_REQUESTED" for s in states)


def mergeability(core: Core, pr: Pull) -> tuple[bool | None, str]:
    """(mergeable, mergeable_state) as GitHub reports them once it has computed them."""
    if pr.merged or pr.state == "closed":
        return None, "unknown"
    head, base = head_sha(core, pr), base_sha(core, pr)
    if head is None or base is None:
        return None, "unknown"
    if gittrees.merge_trees(core.repo, base, head) is None:
        return False, "dirty"
    if pr.draft:
        return True, "draft"
    approved, changes_requested = approvals(pr)
    required = core.settings.required_approvals
    if required and (approved < required or changes_requested):
        return True, "blocked"
    return True, "clean"


def _not_mergeable(core: Core, pr: Pull) -> ApiError | None:
    mergeable, state = mergeability(core, pr)
    if pr.state == "closed" or not mergeable or state == "draft":
        return ApiError(405, "Pull Request is not mergeable")
    if state == "blocked":
        required = core.settings.required_approvals
        noun = "review" if required == 1 else "reviews"
        return ApiError(
            405,
            f"At least {required} approving {noun} is required by reviewers with write access.",
        )
    return None


def merge(
    core: Core,
    pr: Pull,
    *,
    merged_by: str,
    method: str = "merge",
    title: str | None = None,
    message: str | None = None,
    expected_head: str | None = None,
) -> str:
    """Merge into the base branch for real; returns the new base tip (merge_commit_sha)."""
    if method not in MERGE_METHODS:
        raise ApiError(
            422, "Validation Failed", errors=[{"field": "merge_method", "code": "invalid"}]
        )
    with core.lock:
        error = _not_mergeable(core, pr)
        if error is not None:
            raise error
        head, base = head_sha(core, pr), base_sha(core, pr)
        # mergeability() has already seen both branches exist.
        assert head is not None
        assert base is not None
        if expected_head is not None and expected_head != head:
            raise ApiError(409, "Head branch was modified. Review and try the merge again.")
        new_tip = _merge_commit(
            core,
            pr,
            method=method,
            head=head,
            base=base,
            merged_by=merged_by,
            title=title,
            message=message,
        )
        if not core.repo.update_ref(f"refs/heads/{pr.base_ref}", new_tip, base):
            raise RuntimeError("lost a compare-and-swap while holding the lock")
        now = core.clock.time()
        pr.state, pr.closed_at, pr.merged_at, pr.updated_at = "closed", now, now, now
        pr.merged_by, pr.merge_commit_sha = merged_by, new_tip
        pr.head_sha, pr.base_sha, pr.auto_merge = head, base, None
        if core.settings.delete_branch_on_merge:
            core.repo.delete_ref(f"refs/heads/{pr.head_ref}", head)
        on_refs_changed(core)
        return new_tip


def _merge_commit(
    core: Core,
    pr: Pull,
    *,
    method: str,
    head: str,
    base: str,
    merged_by: str,
    title: str | None,
    message: str | None,
) -> str:
    repo = core.repo
    if method == "rebase":
        if repo.is_ancestor(base, head):
            return head  # nothing to replay: same trees, same order as GitHub's result
        tip = base
        for sha in repo.rev_list("--reverse", f"{base}..{head}"):
            replayed = gittrees.replay(repo, repo.read_commit(sha), tip, core.web_flow())
            if replayed is None:
                raise ApiError(405, "This branch can't be rebased")
            tip = replayed
        return tip
    tree = gittrees.merge_trees(repo, base, head)
    if tree is None:
        raise ApiError(405, "Pull Request is not mergeable")
    author = core.signature(Principal(merged_by, "user"))
    if method == "squash":
        subjects = [
            repo.read_commit(sha).message.strip()
            for sha in repo.rev_list("--reverse", f"{base}..{head}")
        ]
        default_title = f"{pr.title} (#{pr.number})"
        default_message = "\n".join(f"* {s}" for s in subjects)
        parents = [base]
    else:
        default_title = f"Merge pull request #{pr.number} from {core.settings.owner}/{pr.head_ref}"
        default_message = pr.title
        parents = [base, head]
    text = f"{title or default_title}\n\n{default_message if message is None else message}"
    return repo.commit_tree(tree, parents, text.strip() + "\n", author, core.web_flow())


def add_review(core: Core, pr: Pull, reviewer: str, state: str, body: str = "") -> Review:
    with core.lock:
        head = head_sha(core, pr)
        review = Review(core.state.next_id(), reviewer, state, body, head or "", core.clock.time())
        pr.reviews.append(review)
        # A submitted review answers the request, so GitHub drops the reviewer from the list.
        if reviewer in pr.requested_reviewers:
            pr.requested_reviewers.remove(reviewer)
        pr.updated_at = review.submitted_at
        on_refs_changed(core)
        return review


def on_refs_changed(core: Core) -> None:
    """Keep pull requests consistent with the branches, as GitHub does after every push."""
    with core.lock:
        # One git process for every branch, not one per open pull request: a burst opens
        # a thousand of them, and each push would otherwise cost a thousand processes.
        tips: dict[str, str] | None = None
        for pr in list(core.state.pulls.values()):
            if pr.state != "open":
                continue
            if tips is None:
                tips = dict(core.repo.refs())
            tip = tips.get(f"refs/heads/{pr.head_ref}")
            if tip is None:
                # Deleting the head branch closes the pull request at its last known head.
                pr.base_sha = core.branch_sha(pr.base_ref)
                pr.state, pr.closed_at = "closed", core.clock.time()
                pr.auto_merge = None
                continue
            pr.head_sha = tip  # remembered for the day the branch disappears
            if pr.auto_merge is not None and mergeability(core, pr)[1] == "clean":
                auto = pr.auto_merge
                merge(
                    core,
                    pr,
                    merged_by=auto.enabled_by,
                    method=auto.merge_method,
                    title=auto.commit_title,
                    message=auto.commit_message,
                )
                tips = None  # the merge moved the base branch, and maybe deleted the head


def find_by_node_id(core: Core, node: str) -> Pull | None:
    return next((p for p in core.state.pulls.values() if shapes.node_id("PR", p.id) == node), None)
