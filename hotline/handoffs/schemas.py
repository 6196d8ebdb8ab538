"""Records of the hand-offs area: what the service returns to the calls area and the pages, and the Open311
GeoReport v2 bodies of the kommune API."""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal, get_args

import msgspec

Status = Literal["open", "acknowledged", "closed"]
STATUSES: Final[tuple[str, ...]] = get_args(Status)


class HandOffOut(msgspec.Struct, frozen=True):
    """One hand-off. ``overdue`` is computed against the ``now`` of the read; the citizen's contact is included
    (callers that show it audit the view)."""

    handoff_id: str
    call_id: str
    kommune_code: str
    department: str
    department_name: str
    topic: str
    status: str
    description: str
    language: str
    created_by: str
    created_at: dt.datetime
    due_at: dt.datetime
    updated_at: dt.datetime
    citizen_email: str = ""
    citizen_phone: str = ""
    status_notes: str = ""
    acknowledged_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    citizen_informed_at: dt.datetime | None = None
    escalated_at: dt.datetime | None = None
    overdue: bool = False


class HandOffUpdateOut(msgspec.Struct, frozen=True):
    status: str
    note: str
    source: str
    actor: str
    at: dt.datetime


# -- Open311 GeoReport v2 -------------------------------------------------------------------------------------


class Open311Service(msgspec.Struct, frozen=True):
    """``services.json``: one of the kommune's topics, owned by one of its departments."""

    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: str = "realtime"
    keywords: str = ""
    group: str = ""


class Open311Request(msgspec.Struct, frozen=True):
    """``requests.json``: one hand-off as a GeoReport v2 service request (location fields are empty: an
    enquiry by phone has none). ``citizen_email``/``citizen_phone`` are an extension for the kommune's own
    system, which must be able to answer the citizen."""

    service_request_id: str
    status: str  # Open311: "open" or "closed"
    detailed_status: str  # extension: open, acknowledged or closed
    service_code: str
    service_name: str
    description: str
    agency_responsible: str
    requested_datetime: dt.datetime
    updated_datetime: dt.datetime
    expected_datetime: dt.datetime
    status_notes: str = ""
    service_notice: str = ""
    address: str = ""
    address_id: str = ""
    zipcode: str = ""
    lat: float | None = None
    long: float | None = None
    media_url: str = ""
    jurisdiction_id: str = ""
    citizen_email: str = ""
    citizen_phone: str = ""
    escalated: bool = False


class StatusUpdateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST requests/{id}/status``: the kommune's system reports progress. ``jurisdiction_id`` is optional
    when the path already names the kommune, but must match it when given."""

    status: str
    status_notes: str = ""
    jurisdiction_id: str = ""
