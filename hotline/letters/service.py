"""The rules of the letters area: reply templates filled in with the caller's kommune facts, the checks a letter
must pass (no CPR number: that goes by Digital Post), the preview exactly as the citizen will receive it, putting
a letter in the outbox, and the retention sweep.

No HTTP and no SQL here. The caller owns the transaction: :func:`enqueue` writes the letter (and with it its
outbox entry) in the caller's transaction, so a later caller (the calls area) can write its case in the same one.
Rendering is slow, so it happens in :func:`prepare`, before the caller opens its transaction.

The agent console's thin call is::

    prepared = await letters.prepare(kommune_code, draft, renderer, now=now, created_by=agent)
    async with letters_repository.transaction():
        letter = await letters.enqueue(prepared)   # + the case, in the same transaction
    worker.notify()
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec
import phonenumbers

from hotline.letters import mail, repository, tables
from hotline.letters.rendering import (
    TEMPLATES,
    LetterContent,
    LetterheadData,
    LetterheadError,
    Logo,
    RenderedLetter,
    Renderer,
)
from hotline.letters.schemas import LetterDraft, LetterOut, ReplyTemplateOut
from hotline.lib.cpr import find_cpr
from hotline.tenancy import service as tenancy
from hotline.tenancy.opening_hours import WEEKDAYS

PLACEHOLDERS: Final = frozenset(
    {"kommune", "kommune_phone", "kommune_web", "opening_hours", "department", "department_phone", "department_email"}
)
_DAY_NAMES: Final = {
    "da": ("Mandag", "Tirsdag", "Onsdag", "Torsdag", "Fredag", "Lørdag", "Søndag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_CLOSED: Final = {"da": "Lukket", "en": "Closed"}
CALL_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")  # used with fullmatch: "$" would let a newline through
CPR_REFUSAL: Final = (
    "The text contains a CPR number. CPR numbers must not be sent by e-mail: remove it, and send anything that "
    "needs the citizen's CPR number through Digital Post instead."
)


class LetterError(Exception):
    """A letter the service refuses, with the field it concerns and a message for the agent."""

    def __init__(self, field: str, message: str, *, problem: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.problem = problem  # "invalid", "not_found" or "cpr"


# -- reply templates ------------------------------------------------------------------------------------


class ReplyTemplate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``letterhead_templates/topics/<key>.toml``: a starting text for a kind of reply (data, not code)."""

    key: str
    name_da: str
    name_en: str
    subject: str
    body: str
    topic: str = ""


def _check_placeholders(source: Path, text: str) -> None:
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"{source}: unknown placeholder {{{name}}} (allowed: {', '.join(sorted(PLACEHOLDERS))})")


def load_reply_templates(directory: Path) -> dict[str, ReplyTemplate]:
    found: dict[str, ReplyTemplate] = {}
    for path in sorted(directory.glob("*.toml")):
        template = msgspec.toml.decode(path.read_bytes(), type=ReplyTemplate)
        _check_placeholders(path, template.subject)
        _check_placeholders(path, template.body)
        if template.key != path.stem:
            raise ValueError(f"{path}: key {template.key!r} must match the file name")
        found[template.key] = template
    return found


@functools.cache
def reply_templates() -> dict[str, ReplyTemplate]:
    return load_reply_templates(TEMPLATES / "topics")


def opening_hours_lines(tenant: tenancy.Tenant, language: str) -> tuple[tuple[str, str], ...]:
    week = tenant.calendar.week_texts()
    names = _DAY_NAMES.get(language, _DAY_NAMES["da"])
    closed = _CLOSED.get(language, _CLOSED["da"])
    return tuple(
        (names[index], ", ".join(period.replace("-", "–") for period in week.get(day, [])) or closed)
        for index, day in enumerate(WEEKDAYS)
    )


def _phone(number: str) -> str:
    """E.164 as people read it: +4570751101 -> +45 70 75 11 01."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(number, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return number


def kommune_facts(tenant: tenancy.Tenant, topic: str, language: str) -> dict[str, str]:
    letterhead = tenant.definition.letterhead
    department = tenant.department_for_topic(topic) if topic else None
    department = department or (tenant.departments[0] if tenant.departments else None)
    return {
        "kommune": tenant.name,
        "kommune_phone": letterhead.phone if letterhead else "",
        "kommune_web": letterhead.web if letterhead else "",
        "opening_hours": "\n".join(f"{day}: {hours}" for day, hours in opening_hours_lines(tenant, language)),
        "department": department.name if department else tenant.name,
        "department_phone": _phone(department.phone) if department else "",
        "department_email": department.email if department else "",
    }


async def _tenant(kommune_code: str) -> tenancy.Tenant:
    try:
        tenant = await tenancy.get_tenant(kommune_code)
    except msgspec.ValidationError:
        raise LetterError("kommune_code", f"The configuration of kommune {kommune_code} cannot be read") from None
    if tenant is None:
        raise LetterError("kommune_code", f"No kommune with code {kommune_code!r}", problem="not_found")
    if tenant.definition.letterhead is None or tenant.definition.sender is None:
        raise LetterError("kommune_code", f"{tenant.name} has no letterhead or sender configured yet")
    return tenant


def fill(template: ReplyTemplate, tenant: tenancy.Tenant, *, topic: str = "", language: str = "da") -> ReplyTemplateOut:
    facts = kommune_facts(tenant, topic or template.topic, language)
    return ReplyTemplateOut(
        key=template.key,
        topic=topic or template.topic,
        name=template.name_en if language == "en" else template.name_da,
        subject=template.subject.format_map(facts),
        text=template.body.strip().format_map(facts),
    )


async def compose(kommune_code: str, template_key: str, *, topic: str = "", language: str = "da") -> ReplyTemplateOut:
    """The starting text of a reply: the template filled in with the caller's kommune facts."""
    template = reply_templates().get(template_key)
    if template is None:
        raise LetterError("template", f"No reply template {template_key!r}", problem="not_found")
    return fill(template, await _tenant(kommune_code), topic=topic, language=language)


def template_for_topic(topic: str, default: str = "svar") -> str:
    """The reply template written for ``topic`` (a call's topic), or the general reply when there is none."""
    for template in reply_templates().values():
        if topic and template.topic == topic:
            return template.key
    return default


async def templates_for(kommune_code: str, language: str = "da") -> list[ReplyTemplateOut]:
    tenant = await _tenant(kommune_code)
    return [fill(template, tenant, language=language) for template in reply_templates().values()]


# -- checks and rendering -------------------------------------------------------------------------------


def check_draft(draft: LetterDraft) -> None:
    """Refuse what must not be sent: a CPR number anywhere, a bad address, a template that does not exist."""
    for field, value in (("text", draft.text), ("subject", draft.subject), ("recipient", draft.recipient)):
        if find_cpr(value):
            raise LetterError(field, CPR_REFUSAL, problem="cpr")
    try:
        mail.address("recipient", draft.recipient.strip())
    except mail.HeaderRefused:
        raise LetterError("recipient", "Not an e-mail address") from None
    if "\r" in draft.subject or "\n" in draft.subject:
        raise LetterError("subject", "The subject must be one line")
    if draft.template not in reply_templates():
        raise LetterError("template", f"No reply template {draft.template!r}", problem="not_found")
    if draft.call_id and not CALL_ID.fullmatch(draft.call_id):
        raise LetterError("call", "A call id is letters, digits, '-' and '_' (at most 64)")


def letterhead_data(tenant: tenancy.Tenant) -> LetterheadData:
    letterhead = tenant.definition.letterhead
    if letterhead is None:
        raise LetterError("kommune_code", f"{tenant.name} has no letterhead configured yet")
    return LetterheadData(
        address=tuple(letterhead.address),
        phone=letterhead.phone,
        web=letterhead.web,
        primary_colour=letterhead.primary_colour,
        accent_colour=letterhead.accent_colour,
        signature=letterhead.signature,
        legal_footer=letterhead.legal_footer,
    )


async def _logo(kommune_code: str) -> Logo | None:
    found = await tenancy.logo(kommune_code)
    return Logo(content=found[0], media_type=found[1]) if found else None


def _content(
    tenant: tenancy.Tenant, draft: LetterDraft, logo: Logo | None, today: dt.date, survey_url: str = ""
) -> LetterContent:
    return LetterContent(
        language=draft.language,
        kommune=tenant.name,
        letterhead=letterhead_data(tenant),
        subject=draft.subject.strip(),
        body=draft.text,
        date=today,
        logo=logo,
        survey_url=survey_url,
    )


async def _render(
    tenant: tenancy.Tenant, draft: LetterDraft, renderer: Renderer, now: dt.datetime, survey_url: str = ""
) -> RenderedLetter:
    check_draft(draft)
    today = tenant.calendar.local(now).date()
    try:
        return await renderer.render(_content(tenant, draft, await _logo(tenant.code), today, survey_url))
    except LetterheadError as exc:
        raise LetterError("letterhead", f"The kommune's letterhead cannot be used: {exc}") from None


async def render(kommune_code: str, draft: LetterDraft, renderer: Renderer, *, now: dt.datetime) -> RenderedLetter:
    """The letter exactly as the citizen will receive it: HTML e-mail, text alternative and PDF."""
    check_draft(draft)
    return await _render(await _tenant(kommune_code), draft, renderer, now)


preview = render


# -- the outbox -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedLetter:
    """A checked, rendered letter ready to be written (with its outbox entry) in the caller's transaction."""

    values: dict[str, Any]

    @property
    def letter_id(self) -> str:
        return str(self.values["letter_id"])


async def prepare(
    kommune_code: str,
    draft: LetterDraft,
    renderer: Renderer,
    *,
    now: dt.datetime,
    created_by: str,
    survey_base_url: str | None = None,
) -> PreparedLetter:
    """Check, render and address a letter. With ``survey_base_url``, the e-mail carries a fresh one-use
    satisfaction survey link (hotline.figures.survey); the link row holds no personal data, so one left over by a
    letter that is then refused is harmless (it expires unused)."""
    check_draft(draft)
    tenant = await _tenant(kommune_code)
    survey_url = ""
    if survey_base_url is not None:
        from hotline.figures.survey import create_survey_link  # figures builds on letters, not the reverse

        survey_url = await create_survey_link(
            tenant.code, draft.topic, draft.call_id, now, base_url=survey_base_url.rstrip("/")
        )
    rendered = await _render(tenant, draft, renderer, now, survey_url)
    sender = tenant.definition.sender
    if sender is None:
        raise LetterError("kommune_code", f"{tenant.name} has no sender configured yet")
    letter_id = uuid.uuid4().hex
    envelope = mail.Envelope(sender.from_name, sender.from_address, sender.reply_to, draft.recipient.strip())
    message_id = mail.message_id(letter_id, sender.from_address)
    try:  # check now, so bad sender data is refused to the agent rather than failing in the worker
        mail.check_headers(
            envelope=envelope, subject=draft.subject.strip(), message_id_value=message_id, language=draft.language
        )
    except mail.HeaderRefused as exc:
        raise LetterError("sender", f"The kommune's sender identity cannot be used: {exc}") from None
    return PreparedLetter(
        values={
            "letter_id": letter_id,
            "kommune_code": tenant.code,
            "template": draft.template,
            "topic": draft.topic,
            "call_id": draft.call_id,
            "language": draft.language,
            "subject": draft.subject.strip(),
            "recipient": envelope.recipient,
            "sender_name": envelope.from_name,
            "sender_address": envelope.from_address,
            "reply_to": envelope.reply_to,
            "body": draft.text,
            "created_by": created_by[:200],
            "created_at": repository.utc(now),
            "message_id": message_id,
            "html": rendered.html,
            "text": rendered.text,
            "pdf": rendered.pdf,
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": repository.utc(now),
        }
    )


async def enqueue(prepared: PreparedLetter) -> LetterOut:
    """Write the letter and its outbox entry. Call inside the caller's transaction; the worker sends it after
    the commit (call the worker's ``notify()`` then)."""
    await repository.insert_letter(prepared.values)
    return _out(prepared.values)


async def send(
    kommune_code: str, draft: LetterDraft, renderer: Renderer, *, now: dt.datetime, created_by: str
) -> LetterOut:
    """Prepare and enqueue in a transaction of its own (for callers with nothing else to write)."""
    prepared = await prepare(kommune_code, draft, renderer, now=now, created_by=created_by)
    async with repository.transaction():
        return await enqueue(prepared)


# -- notices --------------------------------------------------------------------------------------------

# A notice is an e-mail the hotline sends to kommune or federation staff (e.g. the hand-offs' escalation notices),
# not a reply to a citizen: it goes through the same outbox and worker (exactly once, DKIM, retries) but is never
# counted as a letter. Its ``template`` begins with NOTICE_PREFIX; the figures, an agent's recent letters and the
# letter status API leave those out.
NOTICE_PREFIX: Final = tables.NOTICE_PREFIX


def is_notice(template: str) -> bool:
    return template.startswith(NOTICE_PREFIX)


@dataclass(frozen=True)
class Notice:
    """A notice as its area composed it: plain text and simple HTML (no letterhead, no PDF). ``kommune_code`` is
    the kommune it concerns, ``""`` for one that spans the federation. The caller composes it by code from what is
    not personal data. It is not searched for CPR numbers as an agent's reply is: its references (hand-off ids are
    UUIDs) can look like one, and refusing it would lose the notice."""

    kind: str
    kommune_code: str
    recipient: str
    from_name: str
    from_address: str
    reply_to: str
    subject: str
    text: str
    html: str
    language: str = "da"


def prepare_notice(notice: Notice, *, now: dt.datetime, created_by: str) -> PreparedLetter:
    """Check and address a notice for :func:`enqueue`. Nothing is rendered or read, so it can be called inside the
    caller's transaction, once it knows what to say. Raises :class:`LetterError` for a bad address or header."""
    template = f"{NOTICE_PREFIX}{notice.kind}"
    if len(template) > 64:
        raise LetterError("template", "A notice kind is at most 57 characters")
    subject = notice.subject.strip()
    if not subject or len(subject) > 300:
        raise LetterError("subject", "The subject must be 1 to 300 characters")
    letter_id = uuid.uuid4().hex
    envelope = mail.Envelope(
        notice.from_name[:200], notice.from_address.strip(), notice.reply_to.strip(), notice.recipient.strip()
    )
    message_id = mail.message_id(letter_id, envelope.from_address)
    try:
        mail.check_headers(envelope=envelope, subject=subject, message_id_value=message_id, language=notice.language)
    except mail.HeaderRefused as exc:
        header = str(exc).split(":", 1)[0]
        field = {"To": "recipient", "From": "sender", "Reply-To": "sender"}.get(header, "subject")
        raise LetterError(field, f"The notice cannot be addressed: {exc}") from None
    return PreparedLetter(
        values={
            "letter_id": letter_id,
            "kommune_code": notice.kommune_code,
            "template": template,
            "topic": "",
            "call_id": "",
            "language": notice.language[:2],
            "subject": subject,
            "recipient": envelope.recipient,
            "sender_name": envelope.from_name,
            "sender_address": envelope.from_address,
            "reply_to": envelope.reply_to,
            "body": notice.text,
            "created_by": created_by[:200],
            "created_at": repository.utc(now),
            "message_id": message_id,
            "html": notice.html,
            "text": notice.text,
            "pdf": None,  # the worker sends the e-mail without an attachment
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": repository.utc(now),
        }
    )


def _out(row: dict[str, Any]) -> LetterOut:
    created_at = repository.aware(row["created_at"])
    sent_at = row.get("sent_at")
    return LetterOut(
        letter_id=row["letter_id"],
        kommune_code=row["kommune_code"],
        template=row["template"],
        subject=row["subject"],
        status=row["status"],
        attempts=row.get("attempts", 0),
        last_error=row.get("last_error", ""),
        created_at=created_at,
        sent_at=repository.aware(sent_at) if sent_at is not None else None,
        message_id=row["message_id"],
        call_id=row.get("call_id") or "",
    )


async def letter_status(kommune_code: str, letter_id: str) -> LetterOut:
    row = await repository.letter(letter_id, kommune_code)
    if row is None or is_notice(row["template"]):
        raise LetterError("letter_id", "No such letter", problem="not_found")
    return _out(row)


async def recent_letters(kommune_code: str) -> list[LetterOut]:
    return [_out(row) for row in await repository.letters_of(kommune_code)]


# -- retention and samples ------------------------------------------------------------------------------


RETENTION_BATCH: Final = 500
"""Letters anonymised per transaction: a first sweep over a long history holds the write lock in short steps."""
GIVEN_UP: Final = "not sent within the kommune's retention period: the address was erased"


async def retention_sweep(now: dt.datetime, *, batch: int = RETENTION_BATCH) -> dict[str, int]:
    """Anonymise every letter written longer ago than its kommune's ``retention_days``, whatever its state:
    the address, the subject (the agent may have written it), the agent's text and the rendered e-mail are
    erased; the row stays with what the figures count (kommune, topic, call, template, language, written, sent,
    status), so "replies within 2 working days" keeps counting it. A letter of a code that is not (or no longer)
    a configured kommune is kept :data:`~hotline.tenancy.service.NO_KOMMUNE_RETENTION_DAYS`. A letter still
    waiting to be sent is marked failed first (:data:`GIVEN_UP`): there is no address left to send it to. One a
    worker holds right now (``sending``, lease not run out) is left to the next pass.

    Each batch of at most ``batch`` letters is its own transaction (or joins the caller's, if there is one).
    Nothing is written when nothing is due, and a letter already anonymised is never written again. Returns the
    letters anonymised per kommune."""
    cutoffs = (await tenancy.retention()).cutoffs(now)
    # Look before writing: on SQLite even an UPDATE that changes nothing takes the write lock.
    if not await repository.personal_data_past(cutoffs, now):
        return {}
    anonymised: dict[str, int] = {}
    while True:
        # Read outside the transaction, so that the write lock (SQLite) is held for the updates only; they re-check
        # each row.
        ids = await repository.ids_past_retention(cutoffs, now, batch)
        async with repository.transaction():
            await repository.give_up_unsent(ids, now, GIVEN_UP)
            codes = await repository.anonymise(ids, now)
        for code in codes:
            anonymised[code] = anonymised.get(code, 0) + 1
        if len(ids) < batch or not codes:
            return anonymised


SAMPLE_TEXT: Final = (
    "Tak for din henvendelse til {kommune}s aftenhotline.\n\n"
    "Dette er et prøvebrev, der viser kommunens brevpapir: logo, farver, adresse, underskrift og "
    "juridisk fodnote. Links vises sådan her: https://www.borger.dk\n\n"
    "Et brev kan fylde flere sider. Sidehoved og sidefod gentages på hver side."
)


async def sample_pdf(kommune_code: str, renderer: Renderer, *, now: dt.datetime) -> bytes:
    """A sample letter under the kommune's letterhead, for its admins to check."""
    tenant = await _tenant(kommune_code)
    draft = LetterDraft(
        recipient="borger@example.org",
        template="svar",
        subject=f"Prøvebrev – {tenant.name}",
        text=SAMPLE_TEXT.format(kommune=tenant.name),
    )
    return (await render(kommune_code, draft, renderer, now=now)).pdf
