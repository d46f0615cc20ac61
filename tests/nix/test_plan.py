"""`gitops-bot plan` against a real git repo of the state-repo layout in tmp_path."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from nix_helpers import REPO, write_tenant

from gitops_bot.cli import plan as plan_cli
from gitops_bot.nix import nixeval, plan

if TYPE_CHECKING:
    from pathlib import Path

IDENTITY = ("-c", "user.name=plan test", "-c", "user.email=plan@test.invalid")


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *IDENTITY, *args], capture_output=True, text=True, check=True
    ).stdout


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def state_repo(tmp_path: Path) -> Path:
    """A state repo with this repository's nix/ and two tenants on web-1, one on web-2."""
    repo = tmp_path / "state"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(REPO / "nix", repo / "nix")
    write_tenant(repo / "tenants", "alpha")
    write_tenant(repo / "tenants", "bravo", domains=("shop.bravo.example",))
    write_tenant(repo / "tenants", "carol", host="web-2", plan="free")
    shutil.copy(REPO / "tenants" / "tenant.schema.json", repo / "tenants")
    commit(repo, "base")
    return repo


def set_releases(repo: Path, *, default: str, known: list[str]) -> None:
    path = repo / "nix" / "inventory.json"
    inventory = json.loads(path.read_text())
    inventory["releases"] = {"default": default, "known": known}
    path.write_text(json.dumps(inventory, indent=2, sort_keys=True) + "\n")


def run_plan(repo: Path, *args: str) -> int:
    """The exit code of `gitops-bot plan --repo REPO ARGS`; output goes to capsys."""
    parser = argparse.ArgumentParser()
    plan_cli.add_parser(parser.add_subparsers())
    namespace = parser.parse_args(["plan", "--repo", str(repo), *args])
    return int(namespace.func(namespace))


def plan_json(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = run_plan(repo, "--base", "HEAD~1", "--format", "json", *args)
    out = capsys.readouterr().out
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    return data


def host(report: dict[str, Any], name: str) -> dict[str, Any]:
    hosts: dict[str, dict[str, Any]] = {h["host"]: h for h in report["hosts"]}
    return hosts[name]


@pytest.mark.nix
@pytest.mark.skipif(nixeval.nix_instantiate() is None, reason="nix-instantiate is not installed")
class TestWithNix:
    def test_a_new_subdomain_tenant_starts_its_units_and_nothing_else(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        write_tenant(state_repo / "tenants", "delta")
        commit(state_repo, "add delta")
        report = plan_json(state_repo, capsys)
        assert report["source"] == "nix"
        web1 = host(report, "web-1")
        assert web1["added"] == ["delta"]
        assert web1["start"] == [
            "tenant-app@delta.service",
            "tenant-app@delta.socket",
            "tenant-db@delta.service",
            "tenant-route@delta.service",
        ]
        assert web1["restart"] == web1["stop"] == []
        assert web1["nginx_reload"] is False
        assert host(report, "web-2") == {**host(report, "web-2"), "added": [], "start": []}

    def test_a_custom_domain_costs_an_nginx_reload_only(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        write_tenant(state_repo / "tenants", "alpha", domains=("www.alpha.example",))
        commit(state_repo, "alpha gets a domain")
        web1 = host(plan_json(state_repo, capsys), "web-1")
        assert web1["changed"] == ["alpha"]
        assert web1["start"] == web1["restart"] == web1["stop"] == []
        assert web1["nginx_reload"] is True
        assert web1["nginx_changes"] == ["+www.alpha.example"]

    def test_suspending_stops_the_app_and_flips_the_route(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        write_tenant(
            state_repo / "tenants", "bravo", state="suspended", domains=("shop.bravo.example",)
        )
        commit(state_repo, "suspend bravo")
        web1 = host(plan_json(state_repo, capsys), "web-1")
        assert web1["suspended"] == ["bravo"]
        assert web1["stop"] == ["tenant-app@bravo.service", "tenant-app@bravo.socket"]
        assert web1["restart"] == ["tenant-route@bravo.service"]
        assert web1["nginx_reload"] is False

    def test_removing_a_tenant_stops_its_units(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (state_repo / "tenants" / "carol.json").unlink()
        commit(state_repo, "remove carol")
        web2 = host(plan_json(state_repo, capsys), "web-2")
        assert web2["removed"] == ["carol"]
        assert web2["stop"] == [
            "tenant-app@carol.service",
            "tenant-app@carol.socket",
            "tenant-db@carol.service",
            "tenant-route@carol.service",
        ]
        assert host(plan_json(state_repo, capsys), "web-1")["stop"] == []

    def test_a_plan_change_restarts_that_tenant_only(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        write_tenant(state_repo / "tenants", "carol", host="web-2", plan="pro")
        commit(state_repo, "carol upgrades")
        report = plan_json(state_repo, capsys)
        assert host(report, "web-2")["changed"] == ["carol"]
        assert host(report, "web-2")["restart"] == ["tenant-app@carol.service"]
        assert host(report, "web-1")["restart"] == []

    def test_a_release_change_restarts_that_tenants_app_only(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        set_releases(state_repo, default="2026.11", known=["2026.11", "2026.12"])
        write_tenant(state_repo / "tenants", "alpha", release="2026.11")
        write_tenant(state_repo / "tenants", "carol", host="web-2", plan="free", release="2026.11")
        commit(state_repo, "2026.12 is known; alpha and carol name 2026.11")
        write_tenant(state_repo / "tenants", "alpha", release="2026.12")
        commit(state_repo, "alpha moves to 2026.12")
        report = plan_json(state_repo, capsys)
        web1 = host(report, "web-1")
        assert web1["changed"] == ["alpha"]
        assert web1["restart"] == ["tenant-app@alpha.service"]
        assert web1["start"] == web1["stop"] == web1["nginx_changes"] == []
        assert host(report, "web-2")["restart"] == host(report, "web-2")["changed"] == []
        assert report["notes"] == []

    def test_moving_the_default_release_restarts_nobody(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        set_releases(state_repo, default="2026.11", known=["2026.11", "2026.12"])
        write_tenant(state_repo / "tenants", "alpha", release="2026.11")
        commit(state_repo, "alpha names 2026.11")
        set_releases(state_repo, default="2026.12", known=["2026.11", "2026.12"])
        commit(state_repo, "new tenants get 2026.12")
        for plan_of_host in plan_json(state_repo, capsys)["hosts"]:
            assert plan_of_host["changed"] == plan_of_host["restart"] == [], plan_of_host

    def test_a_new_naming_scheme_is_announced_as_a_one_time_migration(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        names = state_repo / "nix" / "lib" / "names.nix"
        text = names.read_text()
        names.write_text(text.replace("naming = 2;", "naming = 1;"))
        commit(state_repo, "as a host deployed before naming 2")
        names.write_text(text)
        commit(state_repo, "naming 2")
        report = plan_json(state_repo, capsys)
        (migration,) = [n for n in report["notes"] if n.startswith("ONE-TIME MIGRATION")]
        assert "naming scheme 2" in migration
        assert "each running tenant is stopped and started once" in migration

    def test_text_and_markdown_say_what_happens(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        write_tenant(state_repo / "tenants", "delta")
        commit(state_repo, "add delta")
        assert run_plan(state_repo, "--base", "HEAD~1") == 0
        text = capsys.readouterr().out
        assert "evaluated nix/ at both revisions" in text
        assert "added:     delta" in text
        assert "host web-2: no change" in text
        assert "Nothing else restarts" in text
        assert run_plan(state_repo, "--base", "HEAD~1", "--format", "markdown") == 0
        markdown = capsys.readouterr().out
        assert "| start | `tenant-app@delta.service`, `tenant-app@delta.socket`" in markdown

    def test_a_hostile_tenant_fails_the_plan_naming_the_file(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write_tenant(state_repo / "tenants", "evil")
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "slug": 'evil";rm'}))
        commit(state_repo, "hostile")
        assert run_plan(state_repo, "--base", "HEAD~1") == 1
        assert "tenants/evil.json: slug" in capsys.readouterr().err

    def test_a_tenant_file_that_is_not_json_is_named(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (state_repo / "tenants" / "broken.json").write_text('{"slug": ')
        commit(state_repo, "broken")
        assert run_plan(state_repo, "--base", "HEAD~1") == 1
        assert "while loading tenants/broken.json" in capsys.readouterr().err

    def test_changes_to_the_module_are_flagged(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        module = state_repo / "nix" / "module.nix"
        module.write_text(module.read_text() + "\n# tweak\n")
        commit(state_repo, "touch the module")
        report = plan_json(state_repo, capsys)
        assert any("nix/module.nix changed" in note for note in report["notes"])

    def test_a_base_without_the_nix_core_is_read_with_heads_rules(
        self, state_repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (state_repo / "nix" / "summary.nix").unlink()
        commit(state_repo, "an old layout")
        shutil.copy(REPO / "nix" / "summary.nix", state_repo / "nix" / "summary.nix")
        write_tenant(state_repo / "tenants", "delta")
        commit(state_repo, "back to the new layout")
        report = plan_json(state_repo, capsys)
        assert host(report, "web-1")["added"] == ["delta"]
        assert any("has no nix/summary.nix" in note for note in report["notes"])


def test_fork_point_plans_a_review_branch_without_what_main_gained_since(
    state_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(state_repo, "checkout", "-q", "-b", "tenant/delta")
    write_tenant(state_repo / "tenants", "delta")
    commit(state_repo, "add delta for review")
    git(state_repo, "checkout", "-q", "main")
    write_tenant(state_repo / "tenants", "echo")
    commit(state_repo, "echo lands on main meanwhile")
    args = ("--base", "main", "--head", "tenant/delta", "--format", "json")
    assert run_plan(state_repo, *args) == 0
    plain = json.loads(capsys.readouterr().out)
    assert host(plain, "web-1")["removed"] == ["echo"]  # comparing trees, echo is "gone"
    assert run_plan(state_repo, *args, "--fork-point") == 0
    forked = json.loads(capsys.readouterr().out)
    assert (host(forked, "web-1")["added"], host(forked, "web-1")["removed"]) == (["delta"], [])
    assert forked["base"] == git(state_repo, "rev-parse", "main~1").strip()
    git(state_repo, "checkout", "-q", "--orphan", "unrelated")
    commit(state_repo, "no common history with main")
    assert run_plan(state_repo, "--base", "main", "--head", "unrelated", "--fork-point") == 1
    assert "have no common history" in capsys.readouterr().err


def _rules() -> dict[str, bytes]:
    return {
        path.relative_to(REPO).as_posix(): path.read_bytes()
        for path in (REPO / "nix").rglob("*")
        if path.is_file()
    }


@pytest.mark.nix
@pytest.mark.skipif(nixeval.nix_instantiate() is None, reason="nix-instantiate is not installed")
@pytest.mark.parametrize(
    ("slug", "edit"),
    [
        ("delta", {"state": "active"}),
        ("alpha", {"domains": ("www.alpha.example",)}),
        ("bravo", {"state": "suspended", "domains": ("shop.bravo.example",)}),
        ("carol", None),
    ],
    ids=["added", "custom-domain", "suspended", "removed"],
)
def test_a_change_given_as_files_plans_as_the_whole_repo_does(
    state_repo: Path, slug: str, edit: dict[str, Any] | None
) -> None:
    # A review's plan leaves the other tenants out; it must still say what the full
    # revision-to-revision plan says.
    path = state_repo / "tenants" / f"{slug}.json"
    before = {f"tenants/{slug}.json": path.read_bytes()} if path.exists() else {}
    if edit is None:
        path.unlink()
    else:
        host_of = {"carol": "web-2"}.get(slug, "web-1")
        write_tenant(state_repo / "tenants", slug, host=host_of, **edit)
    after = {f"tenants/{slug}.json": path.read_bytes()} if path.exists() else {}
    head = commit(state_repo, f"change {slug}")
    whole = plan.build_report(repo=state_repo, base="HEAD~1", head="HEAD")
    alone = plan.plan_change(_rules(), before, after, base=whole.base, head=head)
    assert alone.source == "nix"
    assert alone.hosts == whole.hosts
    assert any(h.tenants_changed for h in alone.hosts)


def test_a_change_given_as_files_refuses_paths_outside_the_repository() -> None:
    with pytest.raises(plan.PlanError, match=r"\.\./evil.nix: not a path inside"):
        plan.plan_change({"../evil.nix": b"{}"}, {}, {}, base="a", head="b")


@pytest.mark.nix
@pytest.mark.skipif(nixeval.nix_instantiate() is None, reason="nix-instantiate is not installed")
def test_a_change_whose_rules_do_not_evaluate_is_a_plan_error() -> None:
    rules = {**_rules(), "nix/summary.nix": b'{ repo }: throw "broken on purpose"'}
    with pytest.raises(plan.PlanError, match="broken on purpose"):
        plan.plan_change(rules, {}, {}, base="a", head="b")


def test_without_nix_it_falls_back_to_a_labelled_file_diff(
    state_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nixeval, "nix_instantiate", lambda: None)
    write_tenant(state_repo / "tenants", "delta")
    write_tenant(state_repo / "tenants", "alpha", state="suspended")
    commit(state_repo, "add delta, suspend alpha")
    report = plan_json(state_repo, capsys)
    assert report["source"] == "files"
    assert "FILE-LEVEL DIFF" in report["notes"][0]
    web1 = host(report, "web-1")
    assert web1["added"] == ["delta"]
    assert web1["suspended"] == ["alpha"]
    assert web1["start"] == web1["restart"] == web1["stop"] == []
    assert run_plan(state_repo, "--base", "HEAD~1") == 0
    text = capsys.readouterr().out
    assert "FILE-LEVEL DIFF" in text
    assert "Nothing else restarts" not in text


@pytest.mark.parametrize("revision", ["no-such-branch", "--output=/tmp/x", "HEAD~9"])
def test_a_bad_revision_is_an_error(
    state_repo: Path, capsys: pytest.CaptureFixture[str], revision: str
) -> None:
    assert run_plan(state_repo, f"--base={revision}") == 1
    assert "gitops-bot plan:" in capsys.readouterr().err


def test_a_folder_that_is_not_a_repo_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_plan(tmp_path, "--base", "HEAD") == 1
    assert "gitops-bot plan:" in capsys.readouterr().err
