"""The citizen satisfaction survey: a one-use, expiring link and the answer it collects.

Other areas invite a citizen with :func:`create_survey_link` and put the URL in the letter (or read it out / send it
after the call's wrap-up). The token is 32 random bytes, URL-safe; only its SHA-256 is stored. The answer keeps the
kommune, the topic, the channel and the contact date — no call id, no number, no address — and has no reference to
the link, so it cannot be traced back to a person.

One question first: answering the satisfaction question uses the link and stores the answer at once, so a citizen
who stops there still counts. The optional follow-up (treated well, NPS, a comment) is then allowed by a fresh
random token given with the follow-up page, stored as a hash on the answer (not on the link), working once and for
:data:`FOLLOWUP_LIFETIME`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final

from hotline.figures import repository
from hotline.figures.service import CPH
from hotline.lib.cpr import mask_cpr

LINK_LIFETIME: Final = dt.timedelta(days=14)
FOLLOWUP_LIFETIME: Final = dt.timedelta(hours=2)
MAX_COMMENT: Final = 1000
CHANNELS: Final = ("phone", "letter", "email")


class SurveyError(Exception):
    """``status`` is the HTTP status to answer with; ``field`` names the bad input (empty for the link itself)."""

    def __init__(self, status: int, problem: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem
        self.message = message
        self.field = field


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_survey_link(
    kommune_code: str,
    topic: str,
    call_id: str,
    now: dt.datetime,
    *,
    base_url: str = "",
    channel: str = "",
) -> str:
    """A fresh survey link for a contact with a citizen of ``kommune_code`` about ``topic``: ``<base_url>/survey/
    <token>``, valid once for 14 days. ``call_id`` is used only to tell the channel (a call → "phone", none →
    "letter"); it is not stored. Runs in the caller's transaction when there is one (one INSERT)."""
    if len(kommune_code) != 4 or not kommune_code.isdigit():
        raise ValueError("kommune_code must be a 4-digit kommune code")
    channel = channel or ("phone" if call_id else "letter")
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}")
    token = secrets.token_urlsafe(32)
    await repository.insert_survey_link(
        {
            "token_hash": _hash(token),
            "kommune_code": kommune_code,
            "topic": topic[:64],
            "channel": channel,
            "contact_date": now.astimezone(CPH).date(),
            "created_at": repository.utc(now),
            "expires_at": repository.utc(now + LINK_LIFETIME),
        }
    )
    return f"{base_url.rstrip('/')}/survey/{token}"


@dataclass(frozen=True)
class OpenSurvey:
    kommune_code: str
    topic: str
    channel: str
    contact_date: dt.date


async def open_survey(token: str, now: dt.datetime) -> OpenSurvey:
    """The survey behind a token, if it can still be answered (unknown → 404; used or expired → 410)."""
    if not token or len(token) > 100:
        raise SurveyError(404, "unknown", "This survey link is not known. Check that the whole link was copied.")
    row = await repository.survey_link(_hash(token))
    if row is None:
        raise SurveyError(404, "unknown", "This survey link is not known. Check that the whole link was copied.")
    if row["used_at"] is not None:
        raise SurveyError(410, "used", "This survey has already been answered. Thank you!")
    if repository.aware(row["expires_at"]) <= now:
        raise SurveyError(410, "expired", "This survey link has expired (links work for 14 days).")
    contact_date = row["contact_date"]
    if isinstance(contact_date, str):
        contact_date = dt.date.fromisoformat(contact_date)
    return OpenSurvey(row["kommune_code"], row["topic"], row["channel"], contact_date)


def _field(form: dict[str, Any], name: str) -> str:
    raw = form.get(name, "")
    return str(raw[0] if isinstance(raw, list) else raw).strip()


@dataclass(frozen=True)
class FollowUp:
    treated_well: bool | None
    nps: int | None
    comment: str


def parse_satisfaction(form: dict[str, Any]) -> int:
    """The one question: satisfaction 1–5 (required)."""
    text = _field(form, "satisfaction")
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise SurveyError(422, "invalid", "satisfaction: choose a number from 1 to 5", "satisfaction")
    return int(text)


def parse_followup(form: dict[str, Any]) -> FollowUp:
    """The optional follow-up: treated well yes/no, NPS 0–10 and a comment, each may be left empty. A comment
    keeps no CPR number (masked before it is stored)."""
    treated = _field(form, "treated_well")
    if treated not in {"", "yes", "no"}:
        raise SurveyError(422, "invalid", "treated_well: answer yes or no, or leave it empty", "treated_well")
    nps_text = _field(form, "nps")
    nps: int | None = None
    if nps_text:
        if not nps_text.isdigit() or not 0 <= int(nps_text) <= 10:
            raise SurveyError(422, "invalid", "nps: choose a number from 0 to 10, or leave it empty", "nps")
        nps = int(nps_text)
    comment = _field(form, "comment")
    if len(comment) > MAX_COMMENT:
        raise SurveyError(422, "invalid", f"comment: at most {MAX_COMMENT} characters", "comment")
    return FollowUp(None if not treated else treated == "yes", nps, mask_cpr(comment))


async def submit(token: str, form: dict[str, Any], now: dt.datetime) -> tuple[OpenSurvey, str]:
    """Check the satisfaction answer, then use the link and store the answer in one transaction: a bad answer
    stores nothing and leaves the link usable; a second submission of the same link stores nothing. Follow-up
    fields sent along (an older form) are stored too. Returns the survey and the follow-up token."""
    survey = await open_survey(token, now)
    satisfaction = parse_satisfaction(form)
    extra = parse_followup(form)
    followup = secrets.token_urlsafe(32)
    async with repository.transaction():
        if not await repository.use_survey_link(_hash(token), now):
            raise SurveyError(410, "used", "This survey has already been answered. Thank you!")
        await repository.insert_survey_answer(
            {
                "kommune_code": survey.kommune_code,
                "topic": survey.topic,
                "channel": survey.channel,
                "contact_date": survey.contact_date,
                "satisfaction": satisfaction,
                "treated_well": extra.treated_well,
                "nps": extra.nps,
                "comment": extra.comment,
                "followup_hash": _hash(followup),
                "followup_until": repository.utc(now + FOLLOWUP_LIFETIME),
            }
        )
    return survey, followup


async def check_followup(followup: str, now: dt.datetime) -> None:
    """Refuse a follow-up token that is unknown, already used (410 "used") or past its time (410 "expired")."""
    until = await repository.followup_until(_hash(followup)) if followup and len(followup) <= 100 else None
    if until is None:
        raise SurveyError(410, "followup_used", "These questions have already been answered. Thank you!")
    if until <= now:
        raise SurveyError(
            410, "followup_expired", "The time for these questions has run out; your first answer counts."
        )


async def submit_followup(followup: str, form: dict[str, Any], now: dt.datetime) -> None:
    """Add the optional follow-up to its answer, once. A bad value stores nothing and the token still works;
    ``skip`` closes the follow-up with nothing added."""
    await check_followup(followup, now)
    answer = FollowUp(None, None, "") if _field(form, "skip") else parse_followup(form)
    values = {"treated_well": answer.treated_well, "nps": answer.nps, "comment": answer.comment}
    async with repository.transaction():
        if not await repository.answer_followup(_hash(followup), now, values):
            raise SurveyError(410, "followup_used", "These questions have already been answered. Thank you!")
