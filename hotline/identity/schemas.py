"""Records of the identity area: roles and grants, and what the admin pages and the API return."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final, Literal, get_args

import msgspec

from hotline.tenancy.schemas import HotlineRole

Role = HotlineRole
ROLES: Final[tuple[str, ...]] = get_args(HotlineRole)
EVERY_KOMMUNE: Final = "*"

# Named permissions an API token can carry. A token is also bound to one kommune.
Permission = Literal["audit:read", "handoffs"]  # "handoffs": the Open311 API of hotline/handoffs
PERMISSIONS: Final[tuple[str, ...]] = get_args(Permission)


class Grant(msgspec.Struct, frozen=True):
    """A role held for one kommune (``kommune`` = its code) or federation-wide (``"*"``)."""

    role: Role
    kommune: str


class AuditOut(msgspec.Struct, frozen=True):
    id: int
    at: dt.datetime
    action: str
    outcome: str
    actor: str
    actor_name: str
    actor_role: str
    kommune_code: str
    target: str
    detail: dict[str, Any]
    ip: str


class ApiTokenOut(msgspec.Struct, frozen=True):
    id: int
    kommune_code: str
    name: str
    permissions: list[str]
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class WebhookSecretOut(msgspec.Struct, frozen=True):
    id: int
    kommune_code: str
    name: str
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class MeOut(msgspec.Struct, frozen=True):
    name: str
    home_kommune: str
    grants: list[Grant]
