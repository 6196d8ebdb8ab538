"""Every NATS subject and stream of the hand-offs area, with its payload type: the one place they are documented.

Stream ``HANDOFFS`` (file storage, limits retention, messages kept :data:`STREAM_MAX_AGE`), written only by the
app's outbox publisher (:mod:`hotline.handoffs.publisher`) from the ``handoff_outbox`` table:

    subject  ``handoffs.<kommune code>.<event>``, event one of ``created`` (a new hand-off), ``updated`` (its
             status changed) and ``escalated`` (it passed its due time while still open).
    payload  :class:`HandOffEvent` (msgspec JSON). It carries the citizen's contact, because the kommune's own
             system must be able to call or write back; a kommune's NATS user may read only its own subjects
             (deploy/nats/accounts.conf).
    header   ``Nats-Msg-Id`` = ``<handoff id>:<outbox row id>``: JetStream drops the duplicate when two app
             processes (or a retry after a lost acknowledgement) publish the same outbox row.

Request/reply (core NATS, queue group ``handoffs``), for kommune systems that report back over NATS instead of
Open311:

    subject  ``handoffs.<kommune code>.status``; a kommune's NATS user may publish only its own, so the subject is a
             trustworthy statement of who sent it.
    request  :class:`StatusRequest` (the same fields as the Open311 status POST, plus ``service_request_id``)
    reply    :class:`StatusReply`: ``ok`` and the hand-off's new status, or ``ok=false`` with the field and message.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

import msgspec

STREAM: Final = "HANDOFFS"
STREAM_SUBJECTS: Final = ("handoffs.*.created", "handoffs.*.updated", "handoffs.*.escalated")
STREAM_MAX_AGE: Final = dt.timedelta(days=30)
STATUS_QUEUE: Final = "handoffs"
STATUS_SUBJECT_WILDCARD: Final = "handoffs.*.status"

EventKind = Literal["created", "updated", "escalated"]


class HandOffEvent(msgspec.Struct, frozen=True):
    """What a kommune system receives about one hand-off."""

    event: EventKind
    service_request_id: str
    jurisdiction_id: str
    service_code: str
    department: str
    department_name: str
    status: str
    description: str
    created_at: dt.datetime
    due_at: dt.datetime
    updated_at: dt.datetime
    call_id: str = ""
    language: str = "da"
    citizen_email: str = ""
    citizen_phone: str = ""
    note: str = ""
    escalated_at: dt.datetime | None = None


class StatusRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    service_request_id: str
    status: str
    status_notes: str = ""


class StatusReply(msgspec.Struct, frozen=True):
    ok: bool
    service_request_id: str = ""
    status: str = ""
    field: str = ""
    message: str = ""


def event_subject(kommune_code: str, event: EventKind) -> str:
    return f"handoffs.{kommune_code}.{event}"


def status_subject(kommune_code: str) -> str:
    return f"handoffs.{kommune_code}.status"


encoder = msgspec.json.Encoder()
event_decoder = msgspec.json.Decoder(HandOffEvent)
status_request_decoder = msgspec.json.Decoder(StatusRequest)
