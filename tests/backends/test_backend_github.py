"""The GitHub backend against the fake: snapshots, commits, refs, blobs and what they cost."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from fakegithub import FakeGitHub
from gitops_bot.backends.base import BackendError
from gitops_bot.backends.factory import open_state_repo
from gitops_bot.backends.github import ARCHIVE_THRESHOLD, TRUST_OWN_WRITE, GitHubRepo
from gitops_bot.backends.github_files import blob_id
from gitops_bot.config import Settings
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import FakeGitHubClock


@pytest.fixture
def backend(github_settings: Settings, github_clock: FakeGitHubClock) -> GitHubRepo:
    return GitHubRepo.from_settings(github_settings, clock=github_clock)


def calls(gh: FakeGitHub) -> list[tuple[str, str]]:
    """(method, path below the repository) of each request since the last reset_log()."""
    prefix = f"/api/v3/repos/{gh.full_name}"
    return [(r.method, r.path.removeprefix(prefix)) for r in gh.requests]


def test_missing_branch_is_none(backend: GitHubRepo) -> None:
    assert backend.snapshot("nowhere") is None


def test_snapshot_lists_only_watched_files_and_costs_two_requests(
    backend: GitHubRepo, fleet: FakeGitHub
) -> None:
    fleet.push_foreign_commit("main", {"README.md": b"hello\n", "tenants/x/deep.json": b"{}\n"})
    fleet.reset_log()
    snapshot = backend.snapshot("main")
    assert snapshot is not None
    assert snapshot.sha == fleet.branch_sha("main")
    assert "README.md" not in snapshot.files
    assert {"tenants/acme.json", "tenants/x/deep.json", "nix/inventory.json"} <= set(snapshot.files)
    assert [m for m, _ in calls(fleet)] == ["GET", "GET"]  # the ref, one recursive tree
    fleet.reset_log()
    assert backend.snapshot("main") == snapshot
    assert calls(fleet) == [("GET", "/git/ref/heads/main")]  # a known commit's files are kept


def test_commit_and_advance_round_trip_with_a_deletion(
    backend: GitHubRepo, fleet: FakeGitHub
) -> None:
    fleet.push_foreign_commit("main", {"README.md": b"not ours\n"})
    head = backend.snapshot("main")
    assert head is not None
    sha = backend.commit(
        [head.sha], {"tenants/new.json": b'{"n": 1}\n', "tenants/globex.json": None}, "Swap\n"
    )
    assert fleet.branch_sha("main") == head.sha  # a commit is on no branch until advanced
    assert backend.advance("main", sha)
    files = fleet.files()
    assert files["tenants/new.json"] == b'{"n": 1}\n'
    assert "tenants/globex.json" not in files
    assert files["README.md"] == b"not ours\n"  # carried over from the base tree
    assert fleet.commit_messages()[0] == "Swap"


def test_what_the_bot_wrote_is_never_read_back(backend: GitHubRepo, fleet: FakeGitHub) -> None:
    head = backend.snapshot("main")
    assert head is not None
    content = b'{"mine": true}\n'
    assert backend.advance("main", backend.commit([head.sha], {"tenants/m.json": content}, "M\n"))
    fleet.reset_log()
    after = backend.snapshot("main")
    assert after is not None
    assert after.files["tenants/m.json"] == blob_id(content)
    assert backend.read_blobs([blob_id(content)]) == {blob_id(content): content}
    assert calls(fleet) == []  # right after our own write, not even the ref is read


def test_an_old_write_is_read_again(
    backend: GitHubRepo, fleet: FakeGitHub, github_clock: FakeGitHubClock
) -> None:
    head = backend.snapshot("main")
    assert head is not None
    assert backend.advance("main", backend.commit([head.sha], {"tenants/o.json": b"{}\n"}, "O\n"))
    github_clock.advance(TRUST_OWN_WRITE + 1)
    fleet.reset_log()
    assert backend.snapshot("main") is not None
    assert calls(fleet) == [("GET", "/git/ref/heads/main")]


def test_a_new_branch_is_created_and_deleted(backend: GitHubRepo, fleet: FakeGitHub) -> None:
    head = backend.snapshot("main")
    assert head is not None
    assert backend.snapshot("tenant/newco") is None
    sha = backend.commit([head.sha], {"tenants/newco.json": b"{}\n"}, "Add newco\n")
    assert backend.advance("tenant/newco", sha)
    assert fleet.branch_sha("tenant/newco") == sha
    backend.delete_branch("tenant/newco")
    backend.delete_branch("tenant/newco")  # already gone: nothing to do
    assert fleet.branch_sha("tenant/newco") is None


def test_advance_refuses_what_is_not_a_fast_forward(backend: GitHubRepo, fleet: FakeGitHub) -> None:
    head = backend.snapshot("main")
    assert head is not None
    ours = backend.commit([head.sha], {"tenants/late.json": b"{}\n"}, "Late\n")
    theirs = fleet.push_foreign_commit("main", {"tenants/early.json": b"{}\n"})
    assert not backend.advance("main", ours)
    assert fleet.branch_sha("main") == theirs  # nothing forced


def test_first_read_of_a_large_repo_is_one_tarball(backend: GitHubRepo, fleet: FakeGitHub) -> None:
    many = {f"tenants/t{n:04d}.json": json.dumps({"n": n}).encode() + b"\n" for n in range(500)}
    fleet.push_foreign_commit("main", many)
    snapshot = backend.snapshot("main")
    assert snapshot is not None
    fleet.reset_log()
    blobs = backend.read_blobs(list(snapshot.files.values()))
    assert blobs[snapshot.files["tenants/t0042.json"]] == b'{"n": 42}\n'
    assert len(blobs) == len(set(snapshot.files.values()))
    assert len(fleet.requests) <= 3  # the archive link, its download: no request per file


def test_blobs_outside_the_archive_are_read_one_by_one(
    backend: GitHubRepo, fleet: FakeGitHub
) -> None:
    fleet.push_foreign_commit("main", {"tenants/gone.json": b'{"old": 1}\n'})
    old_blob = blob_id(b'{"old": 1}\n')
    many = {f"tenants/t{n:03d}.json": b"%d\n" % n for n in range(ARCHIVE_THRESHOLD + 5)}
    fleet.push_foreign_commit("main", {**many, "tenants/gone.json": None})
    snapshot = backend.snapshot("main")
    assert snapshot is not None
    fleet.reset_log()
    wanted = [*snapshot.files.values(), old_blob]
    assert backend.read_blobs(wanted)[old_blob] == b'{"old": 1}\n'
    assert [m for m, p in calls(fleet) if "/git/blobs/" in p] == ["GET"]


def test_truncated_tree_is_read_folder_by_folder(backend: GitHubRepo, fleet: FakeGitHub) -> None:
    nix_entries = len({p for p in fleet.files() if p.startswith("nix/")}) * 2  # files and dirs
    # The whole tree is over the limit, each watched folder under it.
    fleet.settings.tree_truncate_limit = max(15, nix_entries)
    fleet.push_foreign_commit(
        "main",
        {f"docs/{n}.md": b"x\n" for n in range(10)}
        | {f"tenants/many-{n}.json": b"{}\n" for n in range(8)},
    )
    snapshot = backend.snapshot("main")
    assert snapshot is not None
    tenants = [p for p in snapshot.files if p.startswith("tenants/many-")]
    assert len(tenants) == 8
    assert "nix/inventory.json" in snapshot.files
    assert not any(p.startswith("docs/") for p in snapshot.files)
    fleet.settings.tree_truncate_limit = 5  # a watched folder alone is over it now
    fleet.push_foreign_commit("main", {"tenants/one-more.json": b"{}\n"})
    fleet.reset_log()
    # Trees have no pages: the listing comes from the commit's tarball, its contents with it.
    listed = backend.snapshot("main")
    assert listed is not None
    assert set(listed.files) == set(snapshot.files) | {"tenants/one-more.json"}
    assert listed.files["tenants/one-more.json"] == blob_id(b"{}\n")
    assert backend.read_blobs([listed.files["tenants/many-3.json"]]) == {blob_id(b"{}\n"): b"{}\n"}
    assert len([p for _, p in calls(fleet) if "tarball" in p]) == 1


@pytest.mark.slow
def test_a_100000_file_tenants_folder_is_listed_past_the_7_mb_bound(
    backend: GitHubRepo, fleet: FakeGitHub
) -> None:
    # The issue-17 fleet size: far over GitHub's 7 MB for a recursive listing (about 190 bytes
    # an entry), so both the root's and tenants/' recursive listings truncate, and then
    # tenants/ is read without recursion: under the 100,000-entry bound, it lists whole.
    size = 100_000 - len([p for p in fleet.files() if p.startswith("tenants/")])
    fleet.push_foreign_commit("main", {f"tenants/t{n:06d}.json": b"{}\n" for n in range(size)})
    fleet.reset_log()
    snapshot = backend.snapshot("main")
    assert snapshot is not None
    assert len([p for p in snapshot.files if p.startswith("tenants/")]) == 100_000
    assert "nix/inventory.json" in snapshot.files
    trees = [path for method, path in calls(fleet) if "/git/trees/" in path]
    assert len(trees) == 5  # the root twice, tenants/ twice, nix/ once
    # One more and tenants/ is over that bound too: the listing comes from the tarball.
    fleet.push_foreign_commit("main", {"tenants/one-more.json": b"{}\n"})
    fleet.reset_log()
    bigger = backend.snapshot("main")
    assert bigger is not None
    assert len([p for p in bigger.files if p.startswith("tenants/")]) == 100_001
    assert len([p for _, p in calls(fleet) if "tarball" in p]) == 1


def test_a_lagging_read_of_our_own_write_is_ignored(
    backend: GitHubRepo, fleet: FakeGitHub, github_clock: FakeGitHubClock
) -> None:
    head = backend.snapshot("main")
    assert head is not None
    ours = backend.commit([head.sha], {"tenants/lag.json": b"{}\n"}, "Lag\n")
    assert backend.advance("main", ours)
    github_clock.advance(TRUST_OWN_WRITE + 1)  # so that the ref is really read
    rule = fleet.faults.stale_read_next(1)
    snapshot = backend.snapshot("main")
    assert rule.fired == 1
    assert snapshot is not None
    assert snapshot.sha == ours  # GitHub showed the parent; we know better


def test_a_newer_foreign_head_is_trusted(backend: GitHubRepo, fleet: FakeGitHub) -> None:
    head = backend.snapshot("main")
    assert head is not None
    ours = backend.commit([head.sha], {"tenants/a1.json": b"{}\n"}, "A1\n")
    assert backend.advance("main", ours)
    theirs = fleet.push_foreign_commit("main", {"tenants/b1.json": b"{}\n"})
    # Building on our own write, unaware of theirs: GitHub refuses the update...
    assumed = backend.snapshot("main")
    assert assumed is not None
    assert assumed.sha == ours
    assert not backend.advance("main", backend.commit([ours], {"tenants/a2.json": b"{}\n"}, "A2\n"))
    # ...and the next read is a real one.
    snapshot = backend.snapshot("main")
    assert snapshot is not None
    assert snapshot.sha == theirs


def test_contains_knows_its_own_history_and_asks_about_the_rest(
    backend: GitHubRepo, fleet: FakeGitHub
) -> None:
    seeded = fleet.branch_sha("main")
    foreign = fleet.push_foreign_commit("main", {"tenants/f.json": b"{}\n"})
    head = backend.snapshot("main")
    assert head is not None
    ours = backend.commit([head.sha], {"tenants/o.json": b"{}\n"}, "O\n")
    assert backend.advance("main", ours)
    fleet.reset_log()
    assert backend.contains("main", foreign)
    assert calls(fleet) == []  # the parent of our own commit
    assert backend.contains("main", seeded)
    assert [p.split("/")[1] for _, p in calls(fleet)] == ["compare"]
    assert not backend.contains("main", "0" * 40)
    assert not backend.contains("elsewhere", ours)


def test_binary_content_goes_through_a_blob(backend: GitHubRepo, fleet: FakeGitHub) -> None:
    head = backend.snapshot("main")
    assert head is not None
    sha = backend.commit([head.sha], {"nix/logo.bin": b"\xff\x00\xfe"}, "Binary\n")
    assert backend.advance("main", sha)
    assert fleet.read_file("nix/logo.bin") == b"\xff\x00\xfe"


def test_unexpected_refusal_is_a_backend_error_naming_the_step(
    backend: GitHubRepo, fleet: FakeGitHub
) -> None:
    head = backend.snapshot("main")
    assert head is not None
    with pytest.raises(BackendError, match=r"^read commit: GitHub answered 404: Not Found$"):
        backend.commit(["0" * 40], {"tenants/x.json": b"{}\n"}, "Orphan\n")


def test_writer_seeds_a_repository_without_the_branch(
    github_settings: Settings, tmp_path: Path
) -> None:
    with FakeGitHub(tmp_path / "bare-github") as gh:
        gh.seed({"README.md": b"fleet state\n"}, branch="elsewhere")
        settings = github_settings.model_copy(
            update={
                "github_api_url": gh.base_url,
                "github_token": SecretStr(gh.token),
                "state_dir": tmp_path / "bare-var",
            }
        )
        repo = GitHubRepo.from_settings(settings, clock=FakeGitHubClock(gh))
        with Store(settings.database_path) as store:
            store.migrate()
            Writer(store=store, repo=repo, settings=settings).head()
            assert store.inventory() is not None
        files = gh.files("main")
        assert {"nix/inventory.json", "tenants/acme.json"} <= set(files)
        assert gh.commit_messages("main") == ["Seed the state repo with tenants/ and nix/"]


def test_settings_choose_the_backend(github_settings: Settings, settings: Settings) -> None:
    assert isinstance(open_state_repo(github_settings), GitHubRepo)
    assert not isinstance(open_state_repo(settings), GitHubRepo)


@pytest.mark.parametrize("unlistable", [False, True], ids=["tree listing", "from the archive"])
def test_symlinks_are_listed_apart_from_files(
    backend: GitHubRepo, fleet: FakeGitHub, tmp_path: Path, *, unlistable: bool
) -> None:
    work = tmp_path / "by-hand"
    identity = ["-c", "user.name=someone", "-c", "user.email=someone@example.invalid"]
    subprocess.run(["git", "clone", "-q", str(fleet.repo_path), str(work)], check=True)
    (work / "tenants" / "linked.json").symlink_to("acme.json")
    (work / "nix" / "evil.nix").symlink_to("/etc/passwd")
    for args in (["add", "-A"], ["commit", "-qm", "Links"], ["push", "-q", "origin", "HEAD"]):
        subprocess.run(["git", "-C", str(work), *identity, *args], check=True)
    links = {"tenants/linked.json", "nix/evil.nix"}
    if unlistable:  # every folder over the bound: the listing comes from the tarball
        fleet.settings.tree_truncate_limit = 2
    snapshot = backend.snapshot("main")
    assert snapshot is not None
    assert snapshot.links == links
    assert not links & set(snapshot.files)
    # Our own commit on top is not read back, and still knows the links it did not touch.
    sha = backend.commit([snapshot.sha], {"tenants/new.json": b"{}\n"}, "New\n")
    assert backend.advance("main", sha)
    after = backend.snapshot("main")
    assert after is not None
    assert after.links == links
    assert "tenants/new.json" in after.files


def test_descends_asks_compare_with_the_ancestor_as_base(
    backend: GitHubRepo, fleet: FakeGitHub
) -> None:
    seeded = fleet.branch_sha("main")
    foreign = fleet.push_foreign_commit("main", {"tenants/f.json": b"{}\n"})
    fleet.reset_log()
    assert backend.descends(foreign, seeded) is True
    assert [p.split("/")[1] for _, p in calls(fleet)] == ["compare"]
    assert backend.descends(foreign, foreign) is True
    assert backend.descends(seeded, foreign) is False
    # No such commit on GitHub: unknown, not "no", so a caller asks again later.
    assert backend.descends("0" * 40, seeded) is None
