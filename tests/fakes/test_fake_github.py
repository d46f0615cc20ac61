"""The fake GitHub's Git Data, contents, compare and archive APIs, driven by unmodified PyGithub."""

from __future__ import annotations

import io
import tarfile
import threading
import urllib.request

import pytest
from github import GithubException, InputGitTreeElement

from fakegithub import FakeGitHub


def _commit_files(repo, branch, files, message="change"):
    """The batch write the backend does: tree on base_tree, commit, then move the ref."""
    ref = repo.get_git_ref(f"heads/{branch}")
    parent = repo.get_git_commit(ref.object.sha)
    elements = [
        InputGitTreeElement(path, "100644", "blob", content=content)
        if content is not None
        else InputGitTreeElement(path, "100644", "blob", sha=None)
        for path, content in files.items()
    ]
    tree = repo.create_git_tree(elements, base_tree=parent.tree)
    commit = repo.create_git_commit(message, tree, [parent])
    return ref, commit


def test_fakegithub_is_importable_from_the_tests_folder():
    # pytest's default "prepend" import mode puts tests/ on sys.path for conftest.py.
    import fakegithub  # noqa: PLC0415

    assert fakegithub.FakeGitHub is FakeGitHub


def test_tree_commit_and_ref_update_land_in_the_bare_repo(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    ref, commit = _commit_files(
        repo, "main", {"tenants/globex.json": '{"slug": "globex"}\n'}, "Add globex"
    )
    ref.edit(commit.sha)

    assert fake_github.branch_sha("main") == commit.sha
    assert fake_github.read_file("tenants/globex.json") == b'{"slug": "globex"}\n'
    assert fake_github.read_file("tenants/acme.json") == b'{"slug": "acme"}\n'
    assert fake_github.commit_messages()[0] == "Add globex"
    assert repo.get_git_ref("heads/main").object.sha == commit.sha
    assert commit.author.name == fake_github.login


def test_ref_update_after_a_foreign_commit_is_a_real_non_fast_forward(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    ref, commit = _commit_files(repo, "main", {"tenants/b.json": "{}\n"})
    foreign = fake_github.push_foreign_commit("main", {"tenants/other.json": b"{}\n"})

    with pytest.raises(GithubException) as raised:
        ref.edit(commit.sha)
    assert raised.value.status == 422
    assert raised.value.data["message"] == "Update is not a fast forward"
    assert fake_github.branch_sha("main") == foreign

    ref.edit(commit.sha, force=True)  # force is the documented way to discard the other write
    assert fake_github.branch_sha("main") == commit.sha


def test_concurrent_push_fault_lands_just_before_the_patch(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    rule = fake_github.faults.concurrent_push_next(1)
    ref, commit = _commit_files(repo, "main", {"tenants/c.json": "{}\n"})

    with pytest.raises(GithubException) as raised:
        ref.edit(commit.sha)
    assert raised.value.status == 422
    assert rule.fired == 1
    tip = fake_github.branch_sha("main")
    assert tip != commit.sha
    assert fake_github.repo.read_commit(tip).author.name == "Foreign Writer"

    ref, commit = _commit_files(repo, "main", {"tenants/c.json": "{}\n"})  # rebase and retry
    ref.edit(commit.sha)
    assert fake_github.read_file("tenants/c.json") == b"{}\n"


def test_stale_read_fault_answers_the_previous_commit_once(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    before = fake_github.branch_sha("main")
    ref, commit = _commit_files(repo, "main", {"tenants/s.json": "{}\n"})
    ref.edit(commit.sha)
    rule = fake_github.faults.stale_read_next(1)
    assert repo.get_git_ref("heads/main").object.sha == before
    assert repo.get_git_ref("heads/main").object.sha == commit.sha
    assert rule.fired == 1


def test_tree_entry_with_null_sha_deletes_and_a_missing_path_is_422(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    ref, commit = _commit_files(repo, "main", {"tenants/acme.json": None})
    ref.edit(commit.sha)
    assert fake_github.read_file("tenants/acme.json") is None
    assert "nix/inventory.json" in fake_github.files()

    with pytest.raises(GithubException) as raised:
        _commit_files(repo, "main", {"tenants/never-existed.json": None})
    assert raised.value.status == 422


def test_tree_entry_needs_exactly_one_of_sha_and_content(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    with pytest.raises(GithubException) as raised:
        repo.create_git_tree([InputGitTreeElement("a.json", "100644", "blob")])
    assert raised.value.status == 422
    assert raised.value.data["message"].startswith("Must supply either tree.sha or tree.content")


def test_blobs_round_trip_in_both_encodings(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    text = repo.create_git_blob("héllo\n", "utf-8")
    binary = repo.create_git_blob("AAEC/w==", "base64")
    assert fake_github.repo.read_blob(text.sha) == "héllo\n".encode()
    assert repo.get_git_blob(binary.sha).content.strip() == "AAEC/w=="
    assert repo.get_git_blob(binary.sha).size == 4


def test_recursive_tree_lists_nested_paths_and_reports_truncation(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    tree = repo.get_git_tree("main", recursive=True)
    paths = {e.path: e.type for e in tree.tree}
    assert paths == {
        "nix": "tree",
        "nix/inventory.json": "blob",
        "tenants": "tree",
        "tenants/acme.json": "blob",
    }
    assert tree.raw_data["truncated"] is False

    fake_github.settings.tree_truncate_limit = 2
    assert repo.get_git_tree("main", recursive=True).raw_data["truncated"] is True


def test_a_recursive_listing_also_truncates_at_its_size_as_github_documents(
    fake_github, github_client
):
    repo = github_client.get_repo(fake_github.full_name)
    assert fake_github.settings.tree_truncate_bytes == 7 * 1024 * 1024
    fake_github.settings.tree_truncate_bytes = 600  # about three entries' JSON
    tree = repo.get_git_tree("main", recursive=True)
    assert tree.raw_data["truncated"] is True
    assert 0 < len(tree.tree) < 4
    # Without recursion only the number of entries bounds a listing.
    root = repo.get_git_tree("main")
    assert root.raw_data["truncated"] is False
    assert {e.path for e in root.tree} == {"nix", "tenants"}


def test_ten_thousand_file_tree_is_seeded_and_listed(tmp_path):
    # How fast is for the benchmarks (make bench); a timed assertion here would only flake.
    files = {f"tenants/t{i:05d}.json": b"{}\n" for i in range(10_000)}
    with FakeGitHub(tmp_path / "big") as gh:
        gh.seed(files)
        with gh.client() as client:
            repo = client.get_repo(gh.full_name)
            tree = repo.get_git_tree("main", recursive=True)
            ref, commit = _commit_files(repo, "main", {"tenants/t00042.json": None})
            ref.edit(commit.sha)
    assert len(tree.tree) == 10_001
    assert len(gh.files()) == 9_999


def test_contents_put_creates_then_updates_with_the_blob_sha(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    created = repo.create_file("tenants/d.json", "Add d", '{"v": 1}\n', branch="main")
    assert fake_github.read_file("tenants/d.json") == b'{"v": 1}\n'

    with pytest.raises(GithubException) as raised:
        repo.create_file("tenants/d.json", "Add d again", "{}\n")
    assert raised.value.status == 422  # updating needs the sha

    with pytest.raises(GithubException) as raised:
        repo.update_file("tenants/d.json", "Stale", "{}\n", sha="0" * 40)
    assert raised.value.status == 409

    updated = repo.update_file("tenants/d.json", "Bump d", '{"v": 2}\n', created["content"].sha)
    assert repo.get_contents("tenants/d.json").decoded_content == b'{"v": 2}\n'
    assert fake_github.commit_messages()[:2] == ["Bump d", "Add d"]

    repo.delete_file("tenants/d.json", "Drop d", updated["content"].sha)
    assert fake_github.read_file("tenants/d.json") is None
    listing = repo.get_contents("tenants", ref="main")
    assert [c.path for c in listing] == ["tenants/acme.json"]


def test_compare_reports_status_commits_and_files(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    base = fake_github.branch_sha("main")
    repo.create_git_ref("refs/heads/feature", base)
    assert repo.compare("main", "feature").status == "identical"

    ref, commit = _commit_files(repo, "feature", {"tenants/e.json": "{}\n"}, "Add e")
    ref.edit(commit.sha)
    ahead = repo.compare("main", "feature")
    assert (ahead.status, ahead.ahead_by, ahead.behind_by) == ("ahead", 1, 0)
    assert [c.commit.message for c in ahead.commits] == ["Add e"]
    assert [(f.filename, f.status) for f in ahead.files] == [("tenants/e.json", "added")]

    fake_github.push_foreign_commit("main")
    diverged = repo.compare("main", "feature")
    assert (diverged.status, diverged.ahead_by, diverged.behind_by) == ("diverged", 1, 1)
    assert repo.compare("feature", "main").status == "diverged"


def test_tarball_link_redirects_to_a_download_of_the_tree(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    url = repo.get_archive_link("tarball", "main")
    assert url.startswith(fake_github.base_url.removesuffix("/api/v3"))
    with urllib.request.urlopen(url) as response:
        data = response.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
    short = fake_github.branch_sha("main")[:7]
    assert f"acme-ops-fleet-state-{short}/tenants/acme.json" in names


def test_parallel_writers_serialise_on_the_ref_and_lose_nothing(fake_github):
    errors = []

    def writer(n):
        with fake_github.client() as client:
            repo = client.get_repo(fake_github.full_name)
            for _ in range(20):
                ref, commit = _commit_files(repo, "main", {f"tenants/w{n}.json": f"{n}\n"})
                try:
                    ref.edit(commit.sha)
                except GithubException as exc:
                    if exc.status != 422:
                        errors.append(exc)
                    continue
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {f"tenants/w{n}.json" for n in range(4)} <= set(fake_github.files())


def test_other_repositories_and_unknown_routes_are_404(fake_github, github_client):
    from github import UnknownObjectException  # noqa: PLC0415

    with pytest.raises(UnknownObjectException):
        github_client.get_repo("acme-ops/someone-else")
    assert github_client.get_repo("ACME-OPS/Fleet-State").name == "fleet-state"  # case-insensitive
    repo = github_client.get_repo(fake_github.full_name)
    with pytest.raises(UnknownObjectException):
        repo.get_git_ref("heads/missing")


def test_matching_refs_is_a_plain_prefix_match(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    main = fake_github.branch_sha("main")
    for name in ("tenant/a", "tenant/b", "tenantx"):
        repo.create_git_ref(f"refs/heads/{name}", main)
    names = [r.ref for r in repo.get_git_matching_refs("heads/tenant/")]
    assert names == ["refs/heads/tenant/a", "refs/heads/tenant/b"]
    assert len(list(repo.get_git_matching_refs("heads/tenant"))) == 3
    with pytest.raises(GithubException) as raised:
        repo.create_git_ref("refs/heads/tenant/a", main)
    assert (raised.value.status, raised.value.data["message"]) == (422, "Reference already exists")
