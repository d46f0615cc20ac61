"""Incoming events: the Standard Webhooks envelope and the data each event type carries."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gitops_bot.tenant import Hostname, Identifier, OpaqueId, slug_problem

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


RequestedSlug = Annotated[str, BeforeValidator(_ascii_lower), AfterValidator(_slug_shape)]
RequestedDomain = Annotated[Hostname, BeforeValidator(_ascii_lower)]


class SignupData(BaseModel):
    """What the landing page knows about a new customer, minus anything personal."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    slug: RequestedSlug | None = Field(
        default=None, description="Requested subdomain; derived from organization when absent"
    )
    organization: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Used only to derive a slug; never stored",
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


class SignupEvent(BaseModel):
    """`tenant.signup`: a customer signed up on the landing page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["tenant.signup"]
    timestamp: datetime
    data: SignupData


EVENT_MODELS: Final[dict[str, type[SignupEvent]]] = {"tenant.signup": SignupEvent}


def derive_slug(organization: str) -> str:
    """A slug spelled like the organization's name: 'Café Müller GmbH' -> 'cafe-muller-gmbh'."""
    ascii_name = unicodedata.normalize("NFKD", organization).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:40].rstrip("-")
