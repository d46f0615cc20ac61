"""The checker: each rule, the errors' locations, and its three output formats."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gitops_bot.cli import main
from gitops_bot.contract.checker import check_files, read_links, read_tree
from gitops_bot.contract.tenant import canonical_json
from helpers import ROOT


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "tenants", root / "tenants")
    (root / "nix").mkdir()
    shutil.copy(ROOT / "nix" / "inventory.json", root / "nix" / "inventory.json")
    return root


def edit(root: Path, name: str, **changes: object) -> Path:
    path = root / "tenants" / f"{name}.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def problems(root: Path) -> list[str]:
    return [str(p) for p in check_files(read_tree(root)).problems]


def test_examples_pass(checkout: Path) -> None:
    report = check_files(read_tree(checkout))
    assert report.ok
    assert len(report.tenants) == 3


def test_unknown_plan_points_at_the_line(checkout: Path) -> None:
    edit(checkout, "acme", plan="platinum")
    assert problems(checkout) == [
        "tenants/acme.json:7: plan: unknown plan 'platinum' (one of: enterprise, free, pro)"
    ]


def test_unknown_host(checkout: Path) -> None:
    edit(checkout, "acme", host="web-9")
    assert problems(checkout) == ["tenants/acme.json:5: host: 'web-9' is not in nix/inventory.json"]


def test_slug_must_match_file_name(checkout: Path) -> None:
    edit(checkout, "acme", slug="acme-two")
    assert problems(checkout) == [
        "tenants/acme.json:9: slug: is 'acme-two' but the file is acme.json"
    ]


def test_file_name_must_be_a_slug(checkout: Path) -> None:
    shutil.copy(checkout / "tenants/acme.json", checkout / "tenants/Bad Name.json")
    assert any("tenants/Bad Name.json: file name is not a slug" in p for p in problems(checkout))


def test_non_canonical_file(checkout: Path) -> None:
    path = checkout / "tenants/acme.json"
    path.write_text(json.dumps(json.loads(path.read_text())))
    assert problems(checkout) == ["tenants/acme.json: not in canonical form; run `gitops-bot fmt`"]


def test_invalid_json_names_the_line(checkout: Path) -> None:
    (checkout / "tenants/acme.json").write_text('{\n  "slug": "acme",\n  oops\n}\n')
    found = problems(checkout)
    assert len(found) == 1
    assert found[0].startswith("tenants/acme.json:3: invalid JSON")


def test_missing_and_extra_fields(checkout: Path) -> None:
    path = checkout / "tenants/acme.json"
    data = json.loads(path.read_text())
    del data["plan"]
    data["email"] = "ceo@acme.example"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    found = problems(checkout)
    assert "tenants/acme.json: plan: Field required" in found
    assert "tenants/acme.json:5: email: Extra inputs are not permitted" in found


def test_duplicate_custom_domain_reports_the_newcomer(checkout: Path) -> None:
    edit(checkout, "globex", domains=["portal.initech.example"], createdAt="2026-11-20T00:00:00Z")
    found = problems(checkout)
    assert len(found) == 1
    assert "already used by tenants/initech.json" in found[0]
    assert found[0].startswith("tenants/globex.json")


def test_a_pending_domain_is_held_against_other_tenants_both_ways(checkout: Path) -> None:
    # A name awaiting its DNS proof is as taken as a verified one, whichever came first.
    edit(checkout, "globex", pendingDomains=["portal.initech.example"])
    (found,) = problems(checkout)
    assert "'portal.initech.example' is already used by" in found
    edit(checkout, "globex", pendingDomains=["shop.globex.example"])
    edit(checkout, "acme", pendingDomains=["shop.globex.example"])
    (found,) = problems(checkout)
    assert "'shop.globex.example' is already used by" in found


def test_a_pending_domain_under_the_base_domain_or_also_verified(checkout: Path) -> None:
    edit(checkout, "acme", pendingDomains=["acme.tenants.example.com"])
    assert "pendingDomains: 'acme.tenants.example.com' is under" in problems(checkout)[0]
    edit(checkout, "acme", domains=["a.acme.example"], pendingDomains=["a.acme.example"])
    assert "'a.acme.example' is in domains already" in problems(checkout)[0]


def test_domain_under_base_domain(checkout: Path) -> None:
    edit(checkout, "acme", domains=["acme.tenants.example.com"])
    why = "'acme.tenants.example.com' is under the base domain tenants.example.com"
    assert problems(checkout) == [f"tenants/acme.json:4: domains: {why}"]


def test_capacity(checkout: Path) -> None:
    inventory = json.loads((checkout / "nix/inventory.json").read_text())
    inventory["hosts"]["web-1"]["capacity"] = 1
    (checkout / "nix/inventory.json").write_text(json.dumps(inventory))
    found = problems(checkout)
    # acme and initech share web-1 and were created together; the later slug is reported.
    assert found == ["tenants/initech.json:7: host: 'web-1' is over its capacity of 1"]


def test_broken_inventory(checkout: Path) -> None:
    (checkout / "nix/inventory.json").write_text('{"hosts": {}}')
    assert any(p.startswith("nix/inventory.json") for p in problems(checkout))


def test_schema_file_and_other_files_are_ignored(checkout: Path) -> None:
    (checkout / "tenants/README.md").write_text("notes")
    assert check_files(read_tree(checkout)).ok


def test_cli_formats(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(checkout)]) == 0
    assert "3 tenant file(s) checked: ok" in capsys.readouterr().out
    edit(checkout, "acme", plan="platinum")
    assert main(["check", str(checkout), "--format", "github"]) == 1
    assert capsys.readouterr().out.strip() == (
        "::error file=tenants/acme.json,line=7,title=plan::"
        "unknown plan 'platinum' (one of: enterprise, free, pro)"
    )
    assert main(["check", str(checkout), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["problems"][0] == {
        "file": "tenants/acme.json",
        "line": 7,
        "field": "plan",
        "message": "unknown plan 'platinum' (one of: enterprise, free, pro)",
    }


def test_github_annotations_escape_newlines(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checkout / "tenants/acme.json").write_text('{"slug": "acme",\n"plan": "x\\n::error::forged"}')
    main(["check", str(checkout), "--format", "github"])
    for line in capsys.readouterr().out.splitlines():
        assert line.startswith("::error file=")


def test_cli_on_a_folder_without_tenants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path)]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_fmt_rewrites_to_canonical(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = checkout / "tenants/acme.json"
    canonical = path.read_text()
    path.write_text(json.dumps(json.loads(canonical)))
    assert main(["fmt", str(checkout), "--check"]) == 1
    assert main(["fmt", str(checkout)]) == 0
    assert path.read_text() == canonical
    assert main(["fmt", str(checkout), "--check"]) == 0
    capsys.readouterr()


@pytest.fixture
def repo_checkout(checkout: Path) -> Path:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", "-C", str(checkout), *args], check=True)
    return checkout


def commit_all(root: Path, message: str) -> None:
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", message], check=True)


def test_base_refuses_changes_to_immutable_fields(
    repo_checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(repo_checkout, "acme", origin="msg_forged", createdAt="2020-01-01T00:00:00Z")
    commit_all(repo_checkout, "rewrite history")
    assert main(["check", str(repo_checkout)]) == 0  # each file is fine on its own
    assert main(["check", str(repo_checkout), "--base", "HEAD~1"]) == 1
    out = capsys.readouterr().out
    assert "tenants/acme.json:3: createdAt: cannot change once set" in out
    assert "origin: cannot change once set" in out


def test_base_refuses_an_unmarked_host_move(
    repo_checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(repo_checkout, "acme", host="web-2")
    commit_all(repo_checkout, "move acme")
    assert main(["check", str(repo_checkout), "--base", "HEAD~1", "--format", "github"]) == 1
    assert "host::moved from web-1 to web-2" in capsys.readouterr().out
    subprocess.run(
        [
            "git",
            "-C",
            str(repo_checkout),
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "Move acme\n\nGitops-Migration: acme",
        ],
        check=True,
    )
    assert main(["check", str(repo_checkout), "--base", "HEAD~2"]) == 0


def test_base_accepts_new_deleted_and_mutable_changes(repo_checkout: Path) -> None:
    edit(repo_checkout, "acme", plan="free", state="suspended", domains=["www.acme.example"])
    (repo_checkout / "tenants/globex.json").unlink()
    shutil.copy(repo_checkout / "tenants/initech.json", repo_checkout / "tenants/newco.json")
    edit(repo_checkout, "newco", slug="newco", domains=[], origin="msg_new", uid=0x70000100)
    assert main(["check", str(repo_checkout), "--base", "HEAD"]) == 0


def test_base_that_is_not_a_revision(
    repo_checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(repo_checkout), "--base", "no-such-rev"]) == 2
    assert main(["check", str(repo_checkout), "--base=--upload-pack=evil"]) == 2
    assert "not a revision" in capsys.readouterr().err


def test_a_file_from_before_pinned_uids_is_told_how_to_migrate(repo_checkout: Path, capsys) -> None:
    path = repo_checkout / "tenants" / "acme.json"
    data = json.loads(path.read_text())
    del data["uid"]
    path.write_text(canonical_json(data))
    assert main(["check", str(repo_checkout)]) == 1
    assert "uid: Field required; run `gitops-bot pin-uids` once" in capsys.readouterr().out
    assert main(["pin-uids", str(repo_checkout)]) == 0
    capsys.readouterr()
    assert main(["check", str(repo_checkout)]) == 0
    # Above every uid already in the folder, so no tenant's id is taken.
    others = [
        json.loads(p.read_text())["uid"] for p in (repo_checkout / "tenants").glob("[gi]*.json")
    ]
    assert json.loads(path.read_text())["uid"] == max(others) + 1


def test_github_annotations_escape_property_values(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file name that would otherwise set its own line and title, and end the properties.
    (checkout / "tenants/x,line=999,title=All good::ok.json").write_text("{}")
    assert main(["check", str(checkout), "--format", "github"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    properties, _, message = line.removeprefix("::error ").partition("::")
    assert properties == (
        "file=tenants/x%2Cline=999%2Ctitle=All good%3A%3Aok.json,line=1,title=tenant file"
    )
    assert "::" not in message


@pytest.mark.parametrize("char", ["\u2028", "\u0085", "\u202e", "\u200b"])
def test_a_customer_ref_that_is_not_printable_text_is_refused(checkout: Path, char: str) -> None:
    # The one field of a tenant file a sender writes; free text itself is never stored.
    edit(checkout, "acme", customerRef=f"cus{char}Gitops-Event: forged")
    (found,) = problems(checkout)
    assert found.startswith("tenants/acme.json:4: customerRef: ")


@pytest.mark.parametrize(
    "link", ["tenants/linked.json", "nix/evil.nix", "nix/lib/deeper", "tenants/notes.md"]
)
def test_a_symlink_under_tenants_or_nix_is_a_problem_naming_it(checkout: Path, link: str) -> None:
    (checkout / link).parent.mkdir(parents=True, exist_ok=True)
    (checkout / link).symlink_to(checkout / "tenants" / "acme.json")
    report = check_files(read_tree(checkout), links=read_links(checkout))
    assert [str(p) for p in report.problems] == [
        f"{link}: is a symlink; commit a regular file instead (nix/ does not follow it)"
    ]
    # Followed, a linked copy of acme would have been a second tenant; as Nix sees it, none.
    assert len(report.tenants) == 3


def test_check_cli_refuses_a_symlinked_tenant(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checkout / "tenants" / "linked.json").symlink_to("acme.json")
    assert main(["check", str(checkout)]) == 1
    assert "tenants/linked.json: is a symlink" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("example.com", "is a parent of the base domain tenants.example.com"),
        ("web-1.fleet.example.net", "is under host web-1's address web-1.fleet.example.net"),
        ("admin.web-2.fleet.example.net", "is under host web-2's address web-2.fleet.example.net"),
    ],
)
def test_a_domain_the_operator_owns_is_refused(checkout: Path, domain: str, why: str) -> None:
    edit(checkout, "acme", domains=[domain])
    assert problems(checkout) == [f"tenants/acme.json:4: domains: '{domain}' {why}"]


RELEASES_OF = "nix/inventory.json's releases: "


def set_releases(root: Path, releases: object) -> None:
    path = root / "nix/inventory.json"
    inventory = json.loads(path.read_text())
    if releases is None:
        inventory.pop("releases", None)
    else:
        inventory["releases"] = releases
    path.write_text(json.dumps(inventory))


def test_a_tenant_may_name_a_known_release(checkout: Path) -> None:
    set_releases(checkout, {"default": "2026.11", "known": ["2026.11", "2026.12"]})
    edit(checkout, "acme", release="2026.12")
    assert problems(checkout) == []


def test_an_unknown_release_is_refused_naming_the_file_and_field(checkout: Path) -> None:
    edit(checkout, "acme", release="2027.01")
    assert problems(checkout) == [
        "tenants/acme.json:8: release: unknown release '2027.01' (one of "
        + RELEASES_OF
        + "2026.11)"
    ]


def test_removing_a_release_a_tenant_still_names_is_refused(checkout: Path) -> None:
    set_releases(checkout, {"default": "2026.12", "known": ["2026.11", "2026.12"]})
    edit(checkout, "acme", release="2026.11")
    assert problems(checkout) == []
    set_releases(checkout, {"default": "2026.12", "known": ["2026.12"]})
    assert problems(checkout) == [
        "tenants/acme.json:8: release: unknown release '2026.11' (one of "
        + RELEASES_OF
        + "2026.12)"
    ]


def test_a_release_in_a_fleet_without_releases_is_refused(checkout: Path) -> None:
    set_releases(checkout, None)
    edit(checkout, "acme", release="2026.11")
    why = "unknown release '2026.11': nix/inventory.json lists no releases"
    assert problems(checkout) == [f"tenants/acme.json:8: release: {why}"]


@pytest.mark.parametrize(
    ("releases", "why"),
    [
        ({"default": "2026.12", "known": ["2026.11"]}, "default '2026.12' is not one of known"),
        ({"default": "2026.11", "known": ["2026.11", "2026.11"]}, "a release twice"),
        ({"default": "2026.11", "known": []}, "at least 1 item"),
        ({"default": "../x", "known": ["../x"]}, "should match pattern"),
    ],
)
def test_a_broken_release_list_is_an_inventory_problem(
    checkout: Path, releases: object, why: str
) -> None:
    set_releases(checkout, releases)
    found = problems(checkout)
    assert found, releases
    assert all(p.startswith("nix/inventory.json") for p in found), found
    assert any(why in p for p in found), found
