"""Records of the tenancy area: the kommune definition files under ``tenants/`` and the JSON the API returns.

The file records are strict (unknown keys are errors) because a typo in a tenant file must never be silently
ignored: ``opening_hour`` instead of ``opening_hours`` would otherwise mean "closed all week".
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

KommuneCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}$", description="4-digit kommune code, e.g. 0751")]
Colour = Annotated[str, msgspec.Meta(pattern=r"^#[0-9a-fA-F]{6}$", description="colour as #rrggbb")]
Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="lower-case slug")]
Language = Literal["da", "en", "sv", "de", "uk", "ar", "tr", "pl"]


class WeeklyHours(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Opening periods per weekday as ``"HH:MM-HH:MM"`` texts; a missing or empty day is closed."""

    monday: list[str] = []
    tuesday: list[str] = []
    wednesday: list[str] = []
    thursday: list[str] = []
    friday: list[str] = []
    saturday: list[str] = []
    sunday: list[str] = []

    def as_mapping(self) -> dict[str, list[str]]:
        return {field: list(getattr(self, field)) for field in self.__struct_fields__}


class ClosureEntry(msgspec.Struct, forbid_unknown_fields=True, frozen=True, rename={"from_": "from"}):
    """One closing date; with ``from``/``to`` only part of the day is closed."""

    date: dt.date
    reason: str
    from_: str | None = None
    to: str | None = None


class Closures(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    public_holidays: bool = True
    """Close on the country's public holidays and customary closing days (Christmas Eve, New Year's Eve,
    Constitution Day afternoon in Denmark)."""
    dates: list[ClosureEntry] = []


class DialledNumber(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    number: str
    """E.164, e.g. ``+4570075100``: a call to this number belongs to this kommune."""
    label: str = "Borgerservice"


class DepartmentFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    key: Slug
    name: str
    topics: list[str]
    phone: str
    email: str
    opening_hours: WeeklyHours | None = None
    """The department's own hours; without them it keeps the kommune's hours."""


class Letterhead(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    address: list[str]
    phone: str
    web: str
    primary_colour: Colour
    accent_colour: Colour
    signature: str
    legal_footer: str
    logo: str = "logo.svg"
    """File name of the logo inside the kommune's folder (SVG or PNG, at most 512 KiB)."""


class SenderIdentity(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    from_name: str
    from_address: str
    reply_to: str


HotlineRole = Literal["agent", "kommune_admin", "coordinator", "auditor"]


class IdentityConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``[identity]``: how the kommune's staff sign in (OpenID Connect; SAML-only kommuner through the broker,
    see ``deploy/keycloak/README.md``). Roles are granted for this kommune only, except ``coordinator``."""

    issuer: str
    """The provider's issuer exactly as its discovery document and ID tokens say it. ``https://`` outside the
    demo; demo files write ``{dev_idp}/<code>`` for the development provider."""
    client_id: str
    client_secret_env: str
    """Name of the environment variable that holds the client secret (never the secret itself)."""
    scopes: list[str] = msgspec.field(default_factory=lambda: ["openid", "profile", "email"])
    role_claim: str = "roles"
    """The ID-token claim holding the user's roles: a list of strings (or one string)."""
    role_map: dict[str, HotlineRole] = {}
    """Claim value -> hotline role, e.g. ``"Hotline-Agent" = "agent"``. Empty: the values are the role names."""
    kommune_claim: str = ""
    """If set, the ID token must carry this claim with this kommune's code (the broker's ``kommune_code``)."""
    grants_coordinator: bool = False
    """Whether this provider may grant the federation-wide ``coordinator`` role (the federation's own IdP only)."""
    idp_hint: str = ""
    """Sent as ``kc_idp_hint`` so a Keycloak broker goes straight to the kommune's SAML IdP."""


class KommuneFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``tenants/<code>-<slug>/kommune.toml``: everything the hotline knows about one kommune."""

    code: KommuneCode
    name: str
    slug: Slug
    region_code: str
    region_name: str
    country: Literal["DK", "SE"] = "DK"
    timezone: str = "Europe/Copenhagen"
    member: bool = False
    population: int = 0
    languages: list[Language] = msgspec.field(default_factory=lambda: ["da"])
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 90
    """Days before a citizen's contact data (name, e-mail, phone) is deleted."""
    demo: bool = False
    """Marks fictional demo data: the contact details are made up and reach no real kommune."""
    numbers: list[DialledNumber] = []
    opening_hours: WeeklyHours = WeeklyHours()
    closures: Closures = Closures()
    departments: list[DepartmentFile] = []
    letterhead: Letterhead | None = None
    sender: SenderIdentity | None = None
    identity: IdentityConfig | None = None


class TopicFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    code: Slug
    name_da: str
    name_en: str


class FederationFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``tenants/federation.toml``: the federation itself and the shared topic taxonomy."""

    name: str
    name_en: str
    topics: list[TopicFile]
    coordinator_email: str = ""


# -- API records ----------------------------------------------------------------------------------------


class TenantSummary(msgspec.Struct, frozen=True):
    code: str
    name: str
    region_name: str
    member: bool
    open_now: bool
    next_opening: dt.datetime | None
    closes_at: dt.datetime | None


class DepartmentOut(msgspec.Struct, frozen=True):
    key: str
    name: str
    topics: list[str]
    phone: str
    email: str
    open_now: bool
    next_opening: dt.datetime | None
    opening_hours: dict[str, list[str]]


class TenantDetail(msgspec.Struct, frozen=True):
    code: str
    name: str
    slug: str
    region_code: str
    region_name: str
    country: str
    member: bool
    population: int
    languages: list[str]
    retention_days: int
    numbers: list[DialledNumber]
    open_now: bool
    next_opening: dt.datetime | None
    closes_at: dt.datetime | None
    opening_hours: dict[str, list[str]]
    upcoming_closures: list[ClosureEntry]
    departments: list[DepartmentOut]
    letterhead: Letterhead | None
    sender: SenderIdentity | None
    logo_url: str
