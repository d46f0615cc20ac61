"""Incoming events: the Standard Webhooks envelope and the data each event type carries."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from gitops_bot.contract.tenant import (
    PRINTABLE_PATTERN,
    Hostname,
    Identifier,
    OpaqueId,
    PrintableText,
    ReleaseName,
    slug_problem,
)

# Only A-Z: str.lower() would turn the Kelvin sign into a plain "k", letting a
# confusable through as if it were ASCII.
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(value: object) -> object:
    return value.translate(_ASCII_LOWER) if isinstance(value, str) else value


def _slug_shape(value: str) -> str:
    # Reserved names are well-formed: intake answers them with a 409, like a taken slug.
    if problem := slug_problem(value, allow_reserved=True):
        raise ValueError(problem)
    return value


# What senders may write, for the OpenAPI document: A-Z is lowered before the rules apply,
# and reserved slugs are well-formed (they get a 409, not a 422).
RequestedSlug = Annotated[
    str,
    BeforeValidator(_ascii_lower),
    AfterValidator(_slug_shape),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 3,
            "maxLength": 40,
            "pattern": r"^(?!.{2}--)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$",
        }
    ),
]
RequestedDomain = Annotated[
    Hostname,
    BeforeValidator(_ascii_lower),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 253,
            "pattern": r"^(?:(?!.{2}--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]+$",
        }
    ),
]


_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    # pydantic alone would also take Unix numbers, bare dates and times without an offset,
    # none of which the document's "date-time" allows.
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-01T00:00:00Z")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def _one_of_required(*names: str) -> JsonDict:
    """JSON Schema for 'at least one of `names` is set (not null)', which a model validator
    enforces and pydantic cannot describe by itself."""
    return {
        "anyOf": [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in names
        ]
    }


# An '@' before a dotted name, or one spelled out: "alice at gmail dot com", "a(at)b(dot)io".
# ASCII classes and no flags, so that the OpenAPI document's copy means the same.
_AT: Final = r"(?:\s+[Aa][Tt]\s+|\s*[(\[][Aa][Tt][)\]]\s*)"
_DOT: Final = r"(?:\s+[Dd][Oo][Tt]\s+|\s*[(\[][Dd][Oo][Tt][)\]]\s*)"
EMAIL_PATTERN: Final = (
    rf"@\s*[^\s@]+\.[^\s@]+|[A-Za-z0-9._%+-]+{_AT}[A-Za-z0-9-]+{_DOT}[A-Za-z]{{2,}}"
)
_EMAIL: Final = re.compile(EMAIL_PATTERN)


def _no_email(value: str) -> str:
    # What a sender writes lands in git (a reason in the commit message, an organization in
    # the slug derived from it), which keeps it forever.
    if _EMAIL.search(value):
        raise ValueError("must not contain an email address")
    return value


# Free text that reaches git: printable, and without an email address.
FreeText = Annotated[
    PrintableText,
    Field(min_length=1, max_length=200),
    AfterValidator(_no_email),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": PRINTABLE_PATTERN,
            "not": {"pattern": EMAIL_PATTERN},
        }
    ),
]
Reason = FreeText


class SignupData(BaseModel):
    """What the landing page knows about a new customer, minus anything personal."""

    # Only the documented (camelCase) names: `customer_ref` is an unknown field, not an alias.
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=_one_of_required("slug", "organization")
    )

    slug: RequestedSlug | None = Field(
        default=None, description="Requested subdomain; derived from organization when absent"
    )
    organization: FreeText | None = Field(
        default=None,
        description="Used only to derive the slug, which is stored; the name itself is not",
    )
    plan: Identifier
    domain: RequestedDomain | None = Field(default=None, description="Optional custom domain")
    customer_ref: OpaqueId | None = Field(
        default=None, alias="customerRef", description="Opaque id in the landing page's records"
    )

    @model_validator(mode="after")
    def _slug_or_organization(self) -> SignupData:
        if self.slug is None and self.organization is None:
            raise ValueError("either slug or organization is required")
        return self


class Envelope(BaseModel):
    """What every event has around its data (the Standard Webhooks payload shape)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp: Timestamp


class SignupEvent(Envelope):
    """`tenant.signup`: a customer signed up on the landing page."""

    type: Literal["tenant.signup"]
    data: SignupData


class LifecycleData(BaseModel):
    """Which tenant, and why: shared by every event after the signup.

    The fields of a tenant file that name or place it are declared only to be refused
    by name (a 422 saying "data.host cannot be changed"), rather than as unknown extras.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: RequestedSlug
    reason: Reason | None = Field(default=None, description="Recorded in the commit message")
    host: SkipJsonSchema[None] = Field(default=None, exclude=True)
    created_at: SkipJsonSchema[None] = Field(default=None, alias="createdAt", exclude=True)
    origin: SkipJsonSchema[None] = Field(default=None, exclude=True)
    state: SkipJsonSchema[None] = Field(default=None, exclude=True)
    new_slug: SkipJsonSchema[None] = Field(default=None, alias="newSlug", exclude=True)

    @field_validator("host", "created_at", "origin", "state", "new_slug", mode="before")
    @classmethod
    def _immutable(cls, _value: object, info: ValidationInfo) -> None:
        if info.field_name == "state":
            raise ValueError("cannot be set directly; send tenant.suspend or tenant.resume")
        raise ValueError("cannot be changed once the tenant exists")


class UpdateData(LifecycleData):
    """A plan change, a new list of custom domains, or another app release."""

    model_config = ConfigDict(json_schema_extra=_one_of_required("plan", "domains", "release"))

    plan: Identifier | None = None
    domains: list[RequestedDomain] | None = Field(default=None, max_length=20)
    release: ReleaseName | None = Field(
        default=None, description="One of the releases nix/inventory.json lists"
    )

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateData:
        if self.plan is None and self.domains is None and self.release is None:
            raise ValueError("an update needs plan, domains or release")
        return self


class SuspendEvent(Envelope):
    """`tenant.suspend`: stop the tenant's service; its route answers 503; data is kept."""

    type: Literal["tenant.suspend"]
    data: LifecycleData


class ResumeEvent(Envelope):
    """`tenant.resume`: run a suspended tenant again."""

    type: Literal["tenant.resume"]
    data: LifecycleData


class UpdateEvent(Envelope):
    """`tenant.update`: change the plan, the custom domains or the app release."""

    type: Literal["tenant.update"]
    data: UpdateData


class DeleteEvent(Envelope):
    """`tenant.delete`: remove the tenant file, always through review; hosts keep the data."""

    type: Literal["tenant.delete"]
    data: LifecycleData


LifecycleEvent = SuspendEvent | ResumeEvent | UpdateEvent | DeleteEvent
Event = SignupEvent | LifecycleEvent
EVENT_MODELS: Final[dict[str, type[Event]]] = {
    "tenant.signup": SignupEvent,
    "tenant.suspend": SuspendEvent,
    "tenant.resume": ResumeEvent,
    "tenant.update": UpdateEvent,
    "tenant.delete": DeleteEvent,
}


def derive_slug(organization: str) -> str:
    """A slug spelled like the organization's name: 'Café Müller GmbH' -> 'cafe-muller-gmbh'."""
    ascii_name = unicodedata.normalize("NFKD", organization).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:40].rstrip("-")
