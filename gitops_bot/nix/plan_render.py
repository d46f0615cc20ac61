"""How a plan reads: plain text for terminals, markdown for pull-request comments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from gitops_bot.nix.plan_report import HostPlan, Report

_TENANT_ROWS: Final = ("added", "changed", "suspended", "resumed", "removed")
_UNIT_ROWS: Final = ("start", "restart", "stop")
NOTHING_ELSE: Final = (
    "Nothing else restarts: tenants not listed, postgresql.service and nginx.service keep "
    "running (nginx is at most reloaded). Removed tenants' data is kept."
)


def _headline(report: Report) -> str:
    source = (
        "evaluated nix/ at both revisions"
        if report.source == "nix"
        else "FILE-LEVEL DIFF, nix/ not evaluated"
    )
    return f"Plan {report.base[:12]}..{report.head[:12]} ({source})"


def _nginx(host: HostPlan) -> str:
    if not host.nginx_reload:
        return "unchanged"
    return f"reload ({', '.join(host.nginx_changes)})"


def text(report: Report) -> str:
    lines = [_headline(report)]
    lines += [f"note: {note}" for note in report.notes]
    for host in report.hosts:
        if not (host.tenants_changed or host.acts):
            lines.append(f"host {host.host}: no change")
            continue
        lines.append(f"host {host.host}")
        lines += [
            f"  {row + ':':<10} {', '.join(getattr(host, row))}"
            for row in _TENANT_ROWS
            if getattr(host, row)
        ]
        if report.source == "nix":
            lines += [
                f"  {row + ':':<10} {', '.join(getattr(host, row)) or '-'}" for row in _UNIT_ROWS
            ]
            lines.append(f"  {'nginx:':<10} {_nginx(host)}")
    if report.source == "nix":
        lines.append(NOTHING_ELSE)
    return "\n".join(lines) + "\n"


def _cell(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values) or "-"


def markdown(report: Report) -> str:
    lines = [f"### {_headline(report)}", ""]
    lines += [f"> **Note:** {note}" for note in report.notes]
    if report.notes:
        lines.append("")
    for host in report.hosts:
        if not (host.tenants_changed or host.acts):
            lines += [f"**{host.host}**: no change", ""]
            continue
        rows = [(row, _cell(getattr(host, row))) for row in _TENANT_ROWS if getattr(host, row)]
        if report.source == "nix":
            rows += [(row, _cell(getattr(host, row))) for row in _UNIT_ROWS]
            rows.append(("nginx", _nginx(host)))
        lines += [f"**{host.host}**", "", "| | |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in rows]
        lines.append("")
    if report.source == "nix":
        lines.append(NOTHING_ELSE)
    return "\n".join(lines) + "\n"
