"""The telephony contract: the events a contact-centre platform posts to ``POST /api/telephony/events`` and how it
signs them. ``docs/TELEPHONY.md`` explains it for integrators; this module is the single definition.

Signing: the platform holds a webhook secret issued by a kommune admin (``/admin/<code>/credentials``) and sends

    X-Hotline-Kommune: <code of the kommune that issued the secret>
    X-Hotline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

A request whose timestamp is more than :data:`REPLAY_WINDOW` away from the server's clock is refused, so a
captured request cannot be replayed later; within the window, events are idempotent per (call id, kind).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Annotated, Final

import msgspec

REPLAY_WINDOW: Final = dt.timedelta(minutes=5)
MAX_EVENTS: Final = 500
KOMMUNE_HEADER: Final = "x-hotline-kommune"
SIGNATURE_HEADER: Final = "x-hotline-signature"

CallId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
E164 = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{6,14}$")]
Language = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}$")]


class _Event(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind"):
    call_id: CallId
    at: dt.datetime
    """When it happened at the platform (time-zone aware)."""


class Offered(_Event, frozen=True, tag="offered"):
    dialled_number: E164
    caller_number: E164 | None = None
    """``None`` when the caller withheld the number."""
    language: Language = "da"
    priority: Annotated[int, msgspec.Meta(ge=0, le=9)] = 0
    topic: Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[a-z0-9_\-]*$")] = ""
    """The topic the caller chose in the voice menu, if any (agents with that skill are preferred)."""


class Answered(_Event, frozen=True, tag="answered"):
    agent_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    """The hotline user id of the agent the call was offered to (the platform learns it from the routing)."""


class Transferred(_Event, frozen=True, tag="transferred"):
    to_number: E164


class Ended(_Event, frozen=True, tag="ended"):
    pass


class Abandoned(_Event, frozen=True, tag="abandoned"):
    pass


class CallbackRequested(_Event, frozen=True, tag="callback_requested"):
    number: E164 | None = None
    """The number to call back; the caller's own when ``None``."""


TelephonyEvent = Offered | Answered | Transferred | Ended | Abandoned | CallbackRequested
EVENT_KINDS: Final = ("offered", "answered", "transferred", "ended", "abandoned", "callback_requested")


class EventBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    events: Annotated[list[TelephonyEvent], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


class SignatureError(ValueError):
    """The request's signature headers are missing, malformed, too old or do not match (the message says which)."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Hotline-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def parse_signature(header: str, now: dt.datetime) -> tuple[int, list[str]]:
    """The timestamp and the candidate digests of a signature header; raises :class:`SignatureError`."""
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            digests.append(value)
    if timestamp is None or not digests:
        raise SignatureError(f"{SIGNATURE_HEADER} must look like t=<unix seconds>,v1=<hex HMAC-SHA256>")
    age = abs(now.timestamp() - timestamp)
    if age > REPLAY_WINDOW.total_seconds():
        raise SignatureError(
            f"{SIGNATURE_HEADER} timestamp is {int(age)} s away from the server's clock "
            f"(at most {int(REPLAY_WINDOW.total_seconds())} s): check the sender's clock, or this is a replay"
        )
    return timestamp, digests


def matches(secret: bytes, body: bytes, timestamp: int, digests: list[str]) -> bool:
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, digest) for digest in digests)


def encode_batch(events: list[TelephonyEvent]) -> bytes:
    return msgspec.json.encode(EventBatch(events=events))
