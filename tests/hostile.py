"""Hostile names: slugs and domains that try shell, Nix or nginx injection, path traversal,
confusables, punycode and the like. Shared by the hostile-input suite's corpus and its
property tests, which draw from it as well as from random text."""

from __future__ import annotations

from typing import Final

from gitops_bot.contract.tenant import RESERVED_SLUGS

INJECTIONS: Final = (
    # shell
    "a;rm -rf /", "$(reboot)", "`id`", "a|b", "a&&b", "a>b", "~root", "a b", "'quoted'",
    '"dq"', "a\\b", "*",
    # Nix: string interpolation, paths, comments, attribute and string escapes
    "${builtins.readFile /etc/passwd}", "${toString 1}", "''${x}", "./x", "<nixpkgs>",
    "a#b", "a/*b*/", "a=b", '";};', "rec{}",
    # nginx: directives, blocks, variables, regex server names
    "a; return 302 http://evil", "a{", "a}", "$host", "~^(.+)$", "a\nserver {",
    # path traversal
    "..", ".", "../etc", "../../etc/passwd", "a/b", "/etc", "a/../b", "%2e%2e", "..%2f",
    # control characters: NUL, newlines, header and trailer injection
    "ac\x00me", "acme\n", "acme\r\n", "acme\r\nX-Injected: 1", "acme\n\nGitops-Event: msg_x",
    "\tacme", "acme\x7f", "acme\x1b[31m",
    # unicode: confusables, fullwidth, zero-width, bidi override, accents, the Kelvin sign
    "\u0430cme", "ａｃｍｅ", "acme\u200b", "\u202eemca", "acm\u00e9", "\u212aelvin",
    "\u0131nfo", "acme\ufeff", "ac\u00adme", "\U0001f600",
    # punycode and the RFC 5891 reserved "--" in positions 3 and 4
    "xn--80ak6aa92e", "xn--acme", "ab--cd",
    # shape: empty, blank, too short, too long, hyphens at the ends
    "", " ", "ab", "a" * 41, "a" * 64, "a" * 10_000, "-acme", "acme-", "-", "---",
)  # fmt: skip

HOSTILE_SLUGS: Final = (*INJECTIONS, "a.b", "acme.example.com", "under_score")
# Reserved names are well-formed but refused: 409 at signup, 404 for lifecycle events.
RESERVED: Final = tuple(sorted(RESERVED_SLUGS))

HOSTILE_DOMAINS: Final = (
    *INJECTIONS,
    "example.com; return 302 http://evil", "example.com\nserver {", "example.com{",
    "${builtins.readFile /etc/passwd}.example.com", "$(reboot).example.com", "`id`.example.com",
    "*.example.com", "example.com:80", "example.com/x", "user@example.com", "http://example.com",
    "example.com.", ".example.com", "example..com", "-a.example.com", "a-.example.com",
    "ex\u0430mple.com", "ｅｘａｍｐｌｅ.com", "example\u200b.com", "exa\x00mple.com",
    "xn--80ak6aa92e.com", "ab--cd.example.com", "example.xn--p1ai",
    "127.0.0.1", "[::1]", "0x7f.1", "example.123", "localhost", "com",
    f"{'a' * 64}.example.com", ".".join(["a" * 63] * 4) + ".com",
    "tenants.example.com", "acme.tenants.example.com", "x.y.tenants.example.com",
)  # fmt: skip
