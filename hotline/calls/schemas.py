"""What crosses the wire in the calls area: the ingest answer of the telephony webhook and the agent console's
JSON API (the simulator drives the same routes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final, Literal

import msgspec

from hotline.calls.telephony import E164

Outcome = Literal["solved", "handed_off", "callback", "misrouted", "not_municipal"]
SettableState = Literal["available", "pause", "offline"]
PRESENCE_STATES = ("available", "ringing", "on_call", "wrap_up", "pause", "offline")
Topic = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[a-z0-9_\-]*$")]


class IngestResult(msgspec.Struct, frozen=True):
    """How a batch was taken: ``accepted`` events are stored (durably, before this answer); ``duplicates`` were
    already stored and are ignored."""

    accepted: int
    duplicates: int


class PresenceIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    state: SettableState
    languages: (
        Annotated[list[Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}$")]], msgspec.Meta(max_length=10)] | None
    ) = None
    """Languages the agent takes calls in (kept from last time when omitted; Danish at first)."""
    skills: Annotated[list[Topic], msgspec.Meta(max_length=50)] | None = None
    """Topics the agent is trained for: calls whose caller chose such a topic go to them first."""


class PresenceOut(msgspec.Struct, frozen=True):
    state: str
    since: dt.datetime
    current_call_id: str = ""


class TransferIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    to_number: E164


# Text an agent types: PostgreSQL cannot store a NUL character, so one is refused here by name, not at the insert.
NO_NUL: Final = "^[^\x00]*$"


class HandoffIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=NO_NUL)]
    citizen_email: Annotated[str, msgspec.Meta(max_length=254, pattern=NO_NUL)] = ""


class WrapUpIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    outcome: Outcome
    topic: Topic = ""
    notes: Annotated[str, msgspec.Meta(max_length=4000, pattern=NO_NUL)] = ""
    handoff: HandoffIn | None = None


class CallOut(msgspec.Struct, frozen=True):
    call_id: str
    status: str
    kommune_code: str
    mode: str
    misrouted: bool
    outcome: str = ""
    topic: str = ""
    notes: str = ""
    notes_masked: bool = False
    """True when CPR numbers were found in the notes and masked before they were stored."""
    transferred_to: str = ""
    handoff_id: str = ""
