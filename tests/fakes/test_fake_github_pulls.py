"""The fake GitHub's pull requests, reviews, labels, comments, auto-merge and deployments."""

from __future__ import annotations

import pytest
from github import GithubException, InputGitTreeElement


def _branch(fake_github, repo, name, files, message="Tenant change"):
    """A branch off main carrying one commit, made with the Git Data API like the backend."""
    main = fake_github.branch_sha("main")
    repo.create_git_ref(f"refs/heads/{name}", main)
    parent = repo.get_git_commit(main)
    tree = repo.create_git_tree(
        [InputGitTreeElement(p, "100644", "blob", content=c) for p, c in files.items()],
        base_tree=parent.tree,
    )
    commit = repo.create_git_commit(message, tree, [parent])
    repo.get_git_ref(f"heads/{name}").edit(commit.sha)
    return commit.sha


@pytest.fixture
def repo(github_client, fake_github):
    return github_client.get_repo(fake_github.full_name)


def test_open_list_review_label_comment_and_merge(fake_github, repo):
    head = _branch(fake_github, repo, "tenant/globex", {"tenants/globex.json": "{}\n"})
    pr = repo.create_pull(base="main", head="tenant/globex", title="Add globex", body="signup")
    assert (pr.number, pr.state, pr.head.sha, pr.mergeable_state) == (1, "open", head, "clean")

    mine = repo.get_pulls(state="open", head="acme-ops:tenant/globex", base="main")
    assert [p.number for p in mine] == [1]
    assert list(repo.get_pulls(head="acme-ops:other")) == []

    pr.create_review_request(reviewers=["alice"], team_reviewers=["ops"])
    users, teams = pr.get_review_requests()
    assert ([u.login for u in users], [t.slug for t in teams]) == (["alice"], ["ops"])

    pr.add_to_labels("tenant", "automated")
    comment = pr.create_issue_comment("Plan: 1 tenant added")
    comment.edit("Plan: 1 tenant added (host a)")
    assert [c.body for c in pr.get_issue_comments()] == ["Plan: 1 tenant added (host a)"]
    assert [label.name for label in repo.get_pull(1).labels] == ["tenant", "automated"]

    fake_github.approve(1, "alice")
    assert [(r.user.login, r.state) for r in pr.get_reviews()] == [("alice", "APPROVED")]
    assert repo.get_pull(1).requested_reviewers == []  # the review answered the request

    status = pr.merge(merge_method="merge")
    assert status.merged
    merged = repo.get_pull(1)
    assert (merged.merged, merged.state, merged.merge_commit_sha) == (True, "closed", status.sha)
    assert fake_github.branch_sha("main") == status.sha
    assert fake_github.repo.read_commit(status.sha).parents[1] == head
    assert fake_github.read_file("tenants/globex.json") == b"{}\n"
    assert merged.is_merged()


def test_head_filter_without_owner_is_ignored_like_github_does(fake_github, repo):
    _branch(fake_github, repo, "a", {"a.json": "{}\n"})
    _branch(fake_github, repo, "b", {"b.json": "{}\n"})
    repo.create_pull(base="main", head="a", title="A")
    repo.create_pull(base="main", head="b", title="B")
    assert sorted(p.title for p in repo.get_pulls(head="a")) == ["A", "B"]
    assert [p.title for p in repo.get_pulls(head="acme-ops:a")] == ["A"]


def test_create_pull_validation(fake_github, repo):
    repo.create_git_ref("refs/heads/empty", fake_github.branch_sha("main"))
    with pytest.raises(GithubException) as raised:
        repo.create_pull(base="main", head="empty", title="Nothing")
    assert raised.value.status == 422
    assert raised.value.data["errors"][0]["message"] == "No commits between main and empty"

    _branch(fake_github, repo, "twice", {"t.json": "{}\n"})
    repo.create_pull(base="main", head="twice", title="Once")
    with pytest.raises(GithubException) as raised:
        repo.create_pull(base="main", head="twice", title="Twice")
    assert "already exists" in raised.value.data["errors"][0]["message"]


def test_squash_and_rebase_merges_rewrite_main_for_real(fake_github, repo):
    _branch(fake_github, repo, "sq", {"tenants/sq.json": "{}\n"}, "Add sq")
    fake_github.push_foreign_commit("main")
    pr = repo.create_pull(base="main", head="sq", title="Squash me")
    sha = pr.merge(merge_method="squash").sha
    commit = fake_github.repo.read_commit(sha)
    assert len(commit.parents) == 1
    assert commit.message.startswith("Squash me (#1)")

    _branch(fake_github, repo, "rb", {"tenants/rb.json": "{}\n"}, "Add rb")
    fake_github.push_foreign_commit("main")
    sha = (
        repo.create_pull(base="main", head="rb", title="Rebase me").merge(merge_method="rebase").sha
    )
    assert fake_github.repo.read_commit(sha).message.strip() == "Add rb"
    assert {"tenants/sq.json", "tenants/rb.json"} <= set(fake_github.files())


def test_conflicting_pull_is_not_mergeable_and_a_stale_sha_is_409(fake_github, repo):
    head = _branch(fake_github, repo, "edit", {"tenants/acme.json": '{"slug": "acme", "v": 2}\n'})
    pr = repo.create_pull(base="main", head="edit", title="Edit acme")

    with pytest.raises(GithubException) as raised:
        pr.merge(sha="0" * 40)
    assert raised.value.status == 409

    fake_github.push_foreign_commit("main", {"tenants/acme.json": b'{"slug": "acme", "v": 3}\n'})
    assert repo.get_pull(1).mergeable is False
    assert repo.get_pull(1).mergeable_state == "dirty"
    with pytest.raises(GithubException) as raised:
        pr.merge(sha=head)
    assert raised.value.status == 405


def test_required_approvals_block_merge_until_someone_approves(fake_github, repo):
    fake_github.settings.required_approvals = 1
    _branch(fake_github, repo, "needs-review", {"x.json": "{}\n"})
    pr = repo.create_pull(base="main", head="needs-review", title="Needs review")
    assert repo.get_pull(pr.number).mergeable_state == "blocked"
    with pytest.raises(GithubException) as raised:
        pr.merge()
    assert raised.value.status == 405

    fake_github.approve(pr.number, "alice")
    assert pr.merge().merged


def test_auto_merge_is_refused_for_a_clean_pull(fake_github, repo):
    _branch(fake_github, repo, "clean", {"x.json": "{}\n"})
    pr = repo.create_pull(base="main", head="clean", title="Clean")
    with pytest.raises(GithubException) as raised:
        pr.enable_automerge(merge_method="SQUASH")
    assert raised.value.status == 400  # PyGithub's status for a GraphQL errors list
    assert (
        raised.value.data["errors"][0]["message"] == "Pull request Pull request is in clean status"
    )
    assert repo.get_pull(pr.number).auto_merge is None


def test_auto_merge_queues_a_blocked_pull_and_merges_on_approval(fake_github, repo):
    fake_github.settings.required_approvals = 1
    _branch(fake_github, repo, "auto", {"tenants/auto.json": "{}\n"})
    pr = repo.create_pull(base="main", head="auto", title="Auto")

    result = pr.enable_automerge(merge_method="SQUASH")
    assert result["actor"]["login"] == fake_github.login
    queued = repo.get_pull(pr.number)
    assert queued.auto_merge["merge_method"] == "squash"
    assert queued.state == "open"

    fake_github.approve(pr.number, "alice")
    merged = repo.get_pull(pr.number)
    assert (merged.merged, merged.auto_merge) == (True, None)
    assert fake_github.read_file("tenants/auto.json") == b"{}\n"


def test_deployments_and_their_statuses(fake_github, repo):
    sha = fake_github.branch_sha("main")
    deployment = repo.create_deployment(
        "main", environment="fleet", description="rollout", auto_merge=False, required_contexts=[]
    )
    assert (deployment.sha, deployment.environment, deployment.creator.login) == (
        sha,
        "fleet",
        fake_github.login,
    )
    deployment.create_status("in_progress", description="switching hosts")
    deployment.create_status("success", environment_url="https://acme.example.com")
    assert [s.state for s in deployment.get_statuses()] == ["success", "in_progress"]
    assert [d.id for d in repo.get_deployments(environment="fleet")] == [deployment.id]
    assert list(repo.get_deployments(environment="staging")) == []

    with pytest.raises(GithubException) as raised:
        repo.create_deployment("no-such-branch")
    assert raised.value.status == 422


def test_deleting_the_head_branch_closes_the_pull(fake_github, repo):
    _branch(fake_github, repo, "gone", {"g.json": "{}\n"})
    pr = repo.create_pull(base="main", head="gone", title="Gone")
    repo.get_git_ref("heads/gone").delete()
    assert repo.get_pull(pr.number).state == "closed"
