"""The tenant file: the schema of tenants/<slug>.json, its naming rules and its canonical form."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

SCHEMA_VERSION: Final = 1
SCHEMA_FILE: Final = "tenant.schema.json"
SCHEMA_REF: Final = "./tenant.schema.json"

# Names the fleet itself uses, or that a customer could use to impersonate the operator.
RESERVED_SLUGS: Final = frozenset(
    {
        "admin", "api", "app", "assets", "auth", "autoconfig", "autodiscover", "billing",
        "blog", "cdn", "console", "dashboard", "dev", "dns", "docs", "ftp", "git", "help",
        "imap", "internal", "localhost", "login", "mail", "metrics", "mx", "ns1", "ns2",
        "pop", "root", "smtp", "sso", "staging", "static", "status", "support", "test",
        "webhooks", "webmail", "www",
    }
)  # fmt: skip

# Tenant uids (and gids, equal to them): pinned in each file at signup, never changed, never
# handed out twice. Kept equal to uidRange in nix/lib/checks.nix, which says why this block.
UID_RANGE: Final = range(0x70000000, 0x71000000)

_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
SLUG_PATTERN: Final = re.compile(rf"{_LABEL}")
_HOSTNAME_LABEL: Final = re.compile(rf"{_LABEL}")


def slug_problem(value: str, *, allow_reserved: bool = False) -> str | None:
    """Why `value` is not an acceptable tenant slug, or None when it is one."""
    if not 3 <= len(value) <= 40:  # noqa: PLR2004 - the documented slug length
        return "must be 3 to 40 characters long"
    if not SLUG_PATTERN.fullmatch(value):
        return "must be lowercase letters, digits and inner hyphens only"
    # RFC 5891 reserves "--" in the third and fourth positions (xn-- is punycode).
    if value[2:4] == "--":
        return "must not have '--' in the third and fourth positions (punycode)"
    if value in RESERVED_SLUGS and not allow_reserved:
        return f"'{value}' is reserved"
    return None


def hostname_problem(value: str) -> str | None:
    """Why `value` is not a plain lowercase DNS hostname, or None when it is one."""
    if len(value) > 253:  # noqa: PLR2004 - RFC 1035 limit
        return "must be at most 253 characters long"
    labels = value.split(".")
    if len(labels) < 2:  # noqa: PLR2004 - a name and a top-level domain
        return "must have at least two labels"
    for label in labels:
        if not 1 <= len(label) <= 63 or not _HOSTNAME_LABEL.fullmatch(label):  # noqa: PLR2004
            return f"label '{label[:63]}' is not a lowercase DNS label"
        if label[2:4] == "--":
            return f"label '{label}' is punycode or reserved ('--' in positions 3-4)"
    if not labels[-1].isalpha():
        return "top-level domain must be letters"
    return None


def _check_slug(value: str) -> str:
    if problem := slug_problem(value):
        raise ValueError(problem)
    return value


def _check_hostname(value: str) -> str:
    if problem := hostname_problem(value):
        raise ValueError(problem)
    return value


def _utc(value: datetime) -> datetime:
    if value.utcoffset() != timedelta(0):
        raise ValueError("must be in UTC (end with Z)")
    return value.astimezone(UTC).replace(microsecond=0)


# The Python validators give the precise reason; the JSON Schema lets editors flag the same
# mistakes while a reviewer edits a file by hand.
Slug = Annotated[
    str,
    AfterValidator(_check_slug),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 3,
            "maxLength": 40,
            "pattern": r"^(?!.{2}--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
            "not": {"enum": sorted(RESERVED_SLUGS)},
        }
    ),
]
Hostname = Annotated[
    str,
    AfterValidator(_check_hostname),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 253,
            "pattern": r"^(?:(?!.{2}--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]+$",
        }
    ),
]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
# A release is a key of services.saasTenants.app.releases, such as "2026.12": it reaches Nix
# attribute names, commit messages and metric labels, so a small alphabet keeps it inert.
ReleaseName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,62}$")]
# Event ids and customer references are opaque, but they reach git trailers and Nix strings:
# a conservative alphabet keeps them inert there, and '@' is excluded so no email fits.
OpaqueId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:=-]{1,128}$")]
# Characters that print nothing yet change what a reader sees: controls (C0, DEL, and C1 with
# NEL), format characters (bidi overrides, zero-width) and the line and paragraph separators,
# at which str.splitlines() and many viewers start a new line (a forged commit trailer).
_UNPRINTABLE: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


def printable_problem(value: str) -> str | None:
    """Why `value` is not printable text (naming its first bad character), or None."""
    for char in value:
        if unicodedata.category(char) in _UNPRINTABLE:
            name = unicodedata.name(char, "a control character")
            return f"must be printable text: U+{ord(char):04X} ({name}) is not allowed"
    return None


def _check_printable(value: str) -> str:
    if problem := printable_problem(value):
        raise ValueError(problem)
    return value


# The same rule for the JSON Schema documents, as an ECMA-262 pattern (Unicode mode).
PRINTABLE_PATTERN: Final = r"^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]*$"
# Free text: what a sender writes in words, for commit messages and slugs.
PrintableText = Annotated[
    str,
    AfterValidator(_check_printable),
    WithJsonSchema({"type": "string", "pattern": PRINTABLE_PATTERN}),
]
UtcTime = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(lambda v: v.strftime("%Y-%m-%dT%H:%M:%SZ"), return_type=str),
]


class Tenant(BaseModel):
    """One customer environment, as committed to the state repo."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="Tenant",
        field_title_generator=lambda name, info: info.alias or name,
        json_schema_extra={"description": "A tenant of the fleet: tenants/<slug>.json"},
    )

    # Fields in the sorted order of their JSON names: pydantic then writes the canonical
    # form itself, in Rust, about a hundred times faster than json.dumps(indent=2) does.
    schema_ref: Literal["./tenant.schema.json"] = Field(default=SCHEMA_REF, alias="$schema")
    created_at: UtcTime = Field(
        alias="createdAt", description="UTC, ISO 8601, e.g. 2026-01-01T00:00:00Z"
    )
    customer_ref: OpaqueId | None = Field(
        default=None,
        alias="customerRef",
        description="Opaque reference into the landing page's records",
    )
    domains: tuple[Hostname, ...] = Field(default=(), description="Custom domains, sorted")
    host: Identifier = Field(description="The inventory host that runs this tenant")
    origin: OpaqueId = Field(description="Id of the event that created the tenant")
    # Absent (not empty) when none wait, so files written before this field stay canonical.
    pending_domains: tuple[Hostname, ...] | None = Field(
        default=None,
        alias="pendingDomains",
        description="Custom domains awaiting DNS proof of ownership, sorted: no vhost, "
        "no certificate until the bot moves them to domains",
    )
    plan: Identifier = Field(description="One of the plans in nix/inventory.json")
    # Absent in files written before releases existed: those run app.package, the legacy
    # single package, so adding this field restarts nobody.
    release: ReleaseName | None = Field(
        default=None,
        description="The app release this tenant runs: a key of app.releases",
    )
    schema_version: Literal[1] = Field(alias="schemaVersion")
    slug: Slug = Field(description="DNS label; also the file name and the subdomain")
    state: Literal["active", "suspended"]
    uid: int = Field(
        ge=UID_RANGE.start,
        le=UID_RANGE.stop - 1,
        description="The tenant's uid and gid on its host: pinned at signup, never reused",
    )

    @field_validator("schema_version", "uid", mode="before")
    @classmethod
    def _not_a_bool(cls, value: object) -> object:
        # JSON true would otherwise pass as 1, since True == 1 in Python.
        if isinstance(value, bool):
            raise ValueError("must be an integer, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
        return value

    @field_validator("domains", "pending_domains")
    @classmethod
    def _sorted_unique(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and list(value) != sorted(set(value)):
            raise ValueError("must be sorted and without duplicates")
        return value

    @field_validator("pending_domains")
    @classmethod
    def _none_when_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        # One spelling of "nothing pending", so the canonical file has no empty list.
        return value or None

    @property
    def claimed_domains(self) -> tuple[str, ...]:
        """Every custom domain this tenant holds, verified or not: none may go to another."""
        return tuple(sorted({*self.domains, *(self.pending_domains or ())}))

    def to_json(self) -> str:
        """The canonical text of the tenant file (the same text canonical_json would give)."""
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=2) + "\n"

    def path(self) -> str:
        return tenant_path(self.slug)


# Not a secret: the tenant file is public, and the record only has to show who asked.
VERIFICATION_PREFIX: Final = "_gitops-bot."


def verification_txt(slug: str) -> str:
    """The value of the TXT record at VERIFICATION_PREFIX + domain that proves control."""
    return f"gitops-bot-verification={slug}"


def tenant_path(slug: str) -> str:
    return f"tenants/{slug}.json"


# Reviewed changes wait on a branch per tenant, and a review's head names its tenant.
REVIEW_PREFIX: Final = "tenant/"


def review_branch(slug: str) -> str:
    return f"{REVIEW_PREFIX}{slug}"


def canonical_json(data: Any) -> str:
    """Sorted keys, two-space indent, ASCII only, trailing newline: one spelling per content."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def json_schema() -> dict[str, Any]:
    """The JSON Schema committed as tenants/tenant.schema.json."""
    schema = Tenant.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_REF,
        **schema,
    }


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
