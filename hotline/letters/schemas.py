"""Records of the letters area that cross the wire: what an agent sends, and what the API answers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

LetterStatus = Literal["queued", "sending", "sent", "failed"]


class LetterDraft(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A reply as the agent wrote it: plain text (paragraphs separated by a blank line; web addresses become
    links). No HTML: whatever is typed is shown as text."""

    recipient: Annotated[str, msgspec.Meta(max_length=254, description="The citizen's e-mail address")]
    template: Annotated[str, msgspec.Meta(max_length=64, description="Reply template key, e.g. 'flytning'")]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000, description="The agent's final text")]
    topic: Annotated[str, msgspec.Meta(max_length=64)] = ""
    language: Literal["da", "en"] = "da"
    call_id: Annotated[str, msgspec.Meta(max_length=64, description="The call this letter answers, if any")] = ""


class ReplyTemplateOut(msgspec.Struct, frozen=True):
    key: str
    topic: str
    name: str
    subject: str
    text: str


class PreviewOut(msgspec.Struct, frozen=True):
    subject: str
    html: str
    text: str


class LetterOut(msgspec.Struct, frozen=True):
    """A letter's delivery as the agent sees it (never the text or the address: those are shown where needed)."""

    letter_id: str
    kommune_code: str
    template: str
    subject: str
    status: LetterStatus
    attempts: int
    last_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    message_id: str
    call_id: str = ""
