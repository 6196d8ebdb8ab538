"""The rules of the hand-offs area: passing an enquiry the hotline cannot solve to the department of the caller's
kommune that owns the topic, its status as the kommune reports it, the citizen's e-mails, escalation of overdue
hand-offs, and retention.

No HTTP and no SQL here (queries are in :mod:`hotline.handoffs.repository`).

**Due time.** A hand-off is due when the owning department can first act on it, on its own calendar (Copenhagen
wall time, the kommune's closures and public holidays, DST-correct through :class:`OpeningCalendar`):

- department closed now (the normal case: the hotline runs evenings and weekends): due at its next opening;
- department open now (a daytime hand-off): due at the end of the current opening, or, when that is less than
  :data:`GRACE` away, at the end of its next opening, so a hand-off made at 14:55 is not overdue at 15:00;
- a department that never opens within a year (a configuration mistake): due :data:`FALLBACK` after ``now``.

"Overdue" means still ``open`` (not acknowledged by the kommune) after the due time; acknowledging stops the
escalation clock. An overdue hand-off is escalated once (:func:`escalation_sweep`): marked, announced to the
kommune's systems, and told by e-mail to the owning department and the federation's coordinator (the notices of
:mod:`hotline.handoffs.notices`, through the letters outbox, never counted as letters).

**Retention.** A hand-off holds personal data: the citizen's e-mail and phone, the agent's description of the
enquiry (CPR-masked, but it may name the citizen or an address) and the kommune's notes (on the hand-off and in
its history). It keeps them while it is open or acknowledged, however old: the kommune still needs to reach the
citizen, and an overdue one is escalated, not forgotten. Once it is **closed**, they are erased when
``closed_at`` is older than the kommune's ``retention_days`` (:func:`retention_sweep`); the row itself stays for
the figures. Who made it (``created_by``, an agent) is not the citizen's data and stays.

**Transactions.** :func:`create_handoff` writes the hand-off, its first history row and its outbox row in one
transaction, and joins the caller's transaction when there is one (Piccolo's ``transaction()`` nests as a no-op
on both SQLite and PostgreSQL), so the calls area can write it inside the call's wrap-up. Every check runs before
the first write, so a refused hand-off writes nothing even inside an enclosing transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from hotline.handoffs import events, notices, repository
from hotline.handoffs.schemas import STATUSES, HandOffOut, HandOffUpdateOut, Open311Request, Open311Service
from hotline.letters import service as letters
from hotline.letters.rendering import Renderer
from hotline.letters.schemas import LetterDraft
from hotline.lib.cpr import contains_cpr, mask_cpr
from hotline.tenancy import repository as tenancy_repository
from hotline.tenancy import service as tenancy
from hotline.tenancy.service import DepartmentInfo

log = logging.getLogger(__name__)

MAX_DESCRIPTION: Final = 4000
MAX_NOTE: Final = 2000
GRACE: Final = dt.timedelta(hours=2)
FALLBACK: Final = dt.timedelta(days=3)
RETENTION_BATCH: Final = 500
"""Hand-offs anonymised per transaction, so a first sweep over a long history holds the lock in short steps."""
RECEIVED_TEMPLATE: Final = "handoff_received"
DONE_TEMPLATE: Final = "handoff_done"

_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,18}[0-9]$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z]{2})?$")
_HANDOFF_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
# Control characters other than line breaks and tabs: PostgreSQL refuses NUL in text, and none belongs in a note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


# Allowed status changes. A closed hand-off is final: the kommune opens a new case for a new enquiry.
_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "open": frozenset({"open", "acknowledged", "closed"}),
    "acknowledged": frozenset({"acknowledged", "closed"}),
    "closed": frozenset(),
}


class HandOffError(ValueError):
    """A hand-off or status change the service refuses. ``str()`` names the field (shown to the agent or
    returned by the API); ``problem`` is ``invalid``, ``not_found`` or ``conflict``."""

    def __init__(self, field: str, message: str, *, problem: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.problem = problem


# -- due time ---------------------------------------------------------------------------------------------


def due_at_for(department: DepartmentInfo, now: dt.datetime) -> dt.datetime:
    """When ``department`` must have picked up a hand-off made at ``now`` (see the module docstring)."""
    calendar = department.calendar
    if calendar.is_open(now):
        closing = calendar.next_closing(now)
        if closing is not None and closing - now >= GRACE:
            return closing
        opening = calendar.next_opening(now)
        if opening is not None:
            return calendar.next_closing(opening) or opening
        return closing or now + FALLBACK
    return calendar.next_opening(now) or now + FALLBACK


# -- creating ---------------------------------------------------------------------------------------------


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise HandOffError("now", "must be timezone-aware")
    return now


def _check_contact(citizen_email: str, citizen_phone: str) -> tuple[str, str]:
    email, phone = citizen_email.strip(), citizen_phone.strip()
    if _CONTROL.search(email):
        raise HandOffError("citizen_email", "is not an e-mail address")
    if contains_cpr(email):
        raise HandOffError("citizen_email", "contains a CPR number; CPR numbers must not be stored here")
    if contains_cpr(phone):
        raise HandOffError("citizen_phone", "contains a CPR number; CPR numbers must not be stored here")
    if email and (len(email) > 254 or not _EMAIL.match(email)):
        raise HandOffError("citizen_email", "is not an e-mail address")
    if phone and not _PHONE.match(phone):
        raise HandOffError("citizen_phone", "is not a phone number (digits, spaces and a leading +, at most 20)")
    return email, phone


async def _member_tenant(kommune_code: str) -> tenancy.Tenant:
    tenant = await tenancy.get_tenant(kommune_code) if kommune_code else None
    if tenant is None:
        raise HandOffError("kommune_code", f"no kommune with code {kommune_code!r}", problem="not_found")
    if not tenant.definition.member:
        raise HandOffError("kommune_code", f"{tenant.name} is not a member of the hotline and takes no hand-offs")
    return tenant


async def create_handoff(
    *,
    call_id: str,
    kommune_code: str,
    topic: str,
    description: str,
    citizen_email: str = "",
    citizen_phone: str = "",
    language: str = "da",
    created_by: str,
    now: dt.datetime,
) -> HandOffOut:
    """Pass an enquiry to the department of ``kommune_code`` that owns ``topic``; see the module docstring for
    the due time and the transaction. Raises :class:`HandOffError` naming the field."""
    now = _aware(now)
    text = _clean(description).strip()
    call_id, created_by = _clean(call_id), _clean(created_by)
    if not text:
        raise HandOffError("description", "is empty: write what the citizen needs")
    if len(text) > MAX_DESCRIPTION:
        raise HandOffError("description", f"is longer than {MAX_DESCRIPTION} characters")
    email, phone = _check_contact(citizen_email, citizen_phone)
    if not _LANGUAGE.match(language):
        raise HandOffError("language", f"{language!r} is not a language code such as 'da' or 'en'")
    if len(call_id) > 64:
        raise HandOffError("call_id", "is longer than 64 characters")
    tenant = await _member_tenant(kommune_code)
    if topic not in await tenancy.known_topic_codes():
        raise HandOffError("topic", f"{topic!r} is not a known topic")
    department = tenant.department_for_topic(topic)
    if department is None:
        raise HandOffError("topic", f"no department of {tenant.name} handles {topic!r}; transfer the call instead")
    due = due_at_for(department, now)
    values: dict[str, Any] = {
        "handoff_id": str(uuid.uuid4()),
        "call_id": call_id,
        "kommune_code": tenant.code,
        "department": department.key,
        "department_name": department.name[:200],
        "topic": topic,
        "description": mask_cpr(text),
        "citizen_email": email,
        "citizen_phone": phone,
        "language": language,
        "created_by": created_by[:200],
        "created_at": repository.utc(now),
        "due_at": repository.utc(due),
        "status": "open",
        "status_notes": "",
        "updated_at": repository.utc(now),
    }
    async with repository.transaction():
        await repository.insert_handoff(values)
        await repository.insert_update(
            {
                "handoff_id": values["handoff_id"],
                "status": "open",
                "note": "",
                "source": "hotline",
                "actor": created_by[:200],
                "at": repository.utc(now),
            }
        )
        await _queue_event("created", values)
    return _out(values, now)


async def _queue_event(kind: events.EventKind, row: dict[str, Any], note: str = "") -> None:
    event = events.HandOffEvent(
        event=kind,
        service_request_id=row["handoff_id"],
        jurisdiction_id=row["kommune_code"],
        service_code=row["topic"],
        department=row["department"],
        department_name=row["department_name"],
        status=row["status"],
        description=row["description"],
        created_at=repository.aware(row["created_at"]),
        due_at=repository.aware(row["due_at"]),
        updated_at=repository.aware(row["updated_at"]),
        call_id=row["call_id"],
        language=row["language"],
        citizen_email=row["citizen_email"],
        citizen_phone=row["citizen_phone"],
        note=note,
        escalated_at=repository.maybe_aware(row.get("escalated_at")),
    )
    await repository.insert_outbox(
        {
            "handoff_id": row["handoff_id"],
            "subject": events.event_subject(row["kommune_code"], kind),
            "payload": events.encoder.encode(event).decode(),
            "created_at": repository.utc(event.updated_at),
        }
    )


# -- reading ----------------------------------------------------------------------------------------------


def _not_found(kommune_code: str, handoff_id: str) -> HandOffError:
    return HandOffError(
        "service_request_id", f"no hand-off {handoff_id!r} for kommune {kommune_code}", problem="not_found"
    )


def _out(row: dict[str, Any], now: dt.datetime) -> HandOffOut:
    due = repository.aware(row["due_at"])
    return HandOffOut(
        handoff_id=row["handoff_id"],
        call_id=row["call_id"],
        kommune_code=row["kommune_code"],
        department=row["department"],
        department_name=row["department_name"],
        topic=row["topic"],
        status=row["status"],
        description=row["description"],
        language=row["language"],
        created_by=row["created_by"],
        created_at=repository.aware(row["created_at"]),
        due_at=due,
        updated_at=repository.aware(row["updated_at"]),
        citizen_email=row["citizen_email"],
        citizen_phone=row["citizen_phone"],
        status_notes=row.get("status_notes", ""),
        acknowledged_at=repository.maybe_aware(row.get("acknowledged_at")),
        closed_at=repository.maybe_aware(row.get("closed_at")),
        citizen_informed_at=repository.maybe_aware(row.get("citizen_informed_at")),
        escalated_at=repository.maybe_aware(row.get("escalated_at")),
        overdue=row["status"] == "open" and due < now,
    )


async def get_handoff(kommune_code: str, handoff_id: str, now: dt.datetime) -> HandOffOut:
    row = await repository.handoff(handoff_id, kommune_code) if _HANDOFF_ID.match(handoff_id) else None
    if row is None:
        raise _not_found(kommune_code, handoff_id)
    return _out(row, now)


async def history(handoff_id: str) -> list[HandOffUpdateOut]:
    return [
        HandOffUpdateOut(
            status=row["status"],
            note=row["note"],
            source=row["source"],
            actor=row["actor"],
            at=repository.aware(row["at"]),
        )
        for row in await repository.updates_of(handoff_id)
    ]


def _statuses(status: str) -> list[str]:
    wanted = [part.strip() for part in status.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in STATUSES]
    if unknown:
        raise HandOffError("status", f"unknown status {unknown[0]!r}; use {', '.join(STATUSES)}")
    return wanted


async def list_handoffs(
    kommune_code: str | None,
    now: dt.datetime,
    *,
    status: str = "",
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    ids: list[str] | None = None,
    overdue_only: bool = False,
    department: str = "",
    limit: int = 1000,
) -> list[HandOffOut]:
    """Hand-offs of one kommune (or, for the coordinator, all with ``kommune_code=None``), newest first."""
    bad = next((i for i in ids or () if not _HANDOFF_ID.match(i)), None)
    if bad is not None:
        raise HandOffError("service_request_id", f"{bad!r} is not a hand-off id")
    if department and not _SLUG.match(department):
        raise HandOffError("department", f"{department!r} is not a department key")
    rows = await repository.handoffs(
        kommune_code=kommune_code,
        statuses=_statuses(status),
        created_from=created_from,
        created_to=created_to,
        ids=ids or (),
        overdue_at=now if overdue_only else None,
        department=department,
        limit=limit,
    )
    return [_out(row, now) for row in rows]


@dataclass(frozen=True)
class HandOffCounts:
    open: int
    acknowledged: int
    overdue: int
    """Still open after the due time (escalated or about to be)."""


async def counts(kommune_code: str | None, now: dt.datetime) -> HandOffCounts:
    """The hand-offs waiting at one kommune (or, with None, across the federation): counted, not listed."""
    found = await repository.counts(kommune_code, now)
    return HandOffCounts(open=found["open"], acknowledged=found["acknowledged"], overdue=found["overdue"])


# -- status updates ---------------------------------------------------------------------------------------

Notify = Callable[[], None]


async def _citizen_letter(
    row: dict[str, Any], template: str, renderer: Renderer, now: dt.datetime
) -> letters.PreparedLetter | None:
    """The short status e-mail under the kommune's letterhead, rendered before the transaction; None when the
    kommune cannot send letters (no letterhead or sender configured)."""
    try:
        composed = await letters.compose(row["kommune_code"], template, topic=row["topic"], language="da")
        language: Literal["da", "en"] = "en" if row["language"] == "en" else "da"
        draft = LetterDraft(
            recipient=row["citizen_email"],
            template=template,
            subject=composed.subject,
            text=composed.text,
            topic=row["topic"],
            language=language,
        )
        return await letters.prepare(row["kommune_code"], draft, renderer, now=now, created_by="hotline:handoffs")
    except (letters.LetterError, msgspec.ValidationError) as exc:
        log.warning("hand-off %s: citizen e-mail not queued (%s)", row["handoff_id"], type(exc).__name__)
        return None


async def update_status(
    *,
    kommune_code: str,
    handoff_id: str,
    status: str,
    note: str,
    source: str,
    actor: str,
    now: dt.datetime,
    renderer: Renderer | None = None,
    jurisdiction_id: str = "",
) -> tuple[HandOffOut, bool]:
    """Record a status change reported by the kommune (admin console, Open311 or NATS). Returns the hand-off and
    whether a citizen e-mail was queued (then notify the letters worker).

    The e-mail ("we have passed on your enquiry" on acknowledged, "it is done" on closed) is queued exactly once
    per transition: only when the status actually changes, and the change is a compare-and-set on the old status
    in the same transaction as the letter, so two concurrent reports cannot both send it."""
    now = _aware(now)
    if jurisdiction_id and jurisdiction_id != kommune_code:
        raise HandOffError("jurisdiction_id", f"{jurisdiction_id!r} does not match kommune {kommune_code}")
    if status not in STATUSES:
        raise HandOffError("status", f"unknown status {status!r}; use {', '.join(STATUSES)}")
    text = _clean(note).strip()
    if len(text) > MAX_NOTE:
        raise HandOffError("status_notes", f"is longer than {MAX_NOTE} characters")
    text = mask_cpr(text)
    row = await repository.handoff(handoff_id, kommune_code) if _HANDOFF_ID.match(handoff_id) else None
    if row is None:
        raise _not_found(kommune_code, handoff_id)
    old = row["status"]
    if status not in _TRANSITIONS[old]:
        raise HandOffError("status", f"a hand-off that is {old} cannot become {status}", problem="conflict")
    changed = status != old
    template = {"acknowledged": RECEIVED_TEMPLATE, "closed": DONE_TEMPLATE}.get(status) if changed else None
    prepared = None
    if template and row["citizen_email"] and renderer is not None:
        prepared = await _citizen_letter(row, template, renderer, now)
    values: dict[str, Any] = {"status": status, "updated_at": repository.utc(now)}
    if text:
        values["status_notes"] = text
    if changed and status == "acknowledged":
        values["acknowledged_at"] = repository.utc(now)
    if changed and status == "closed":
        values["closed_at"] = repository.utc(now)
        if row["acknowledged_at"] is None:
            values["acknowledged_at"] = repository.utc(now)
    if prepared is not None:
        values["citizen_informed_at"] = repository.utc(now)
    async with repository.transaction():
        if not await repository.set_status_if(handoff_id, old, values):
            raise HandOffError("status", "the hand-off changed meanwhile; reload and try again", problem="conflict")
        await repository.insert_update(
            {
                "handoff_id": handoff_id,
                "status": status,
                "note": text,
                "source": source[:32],
                "actor": actor[:200],
                "at": repository.utc(now),
            }
        )
        updated = {**row, **values}
        await _queue_event("updated", updated, note=text)
        if prepared is not None:
            await letters.enqueue(prepared)
    return _out(updated, now), prepared is not None


# -- escalation -------------------------------------------------------------------------------------------

ESCALATION_BATCH: Final = 500
"""Overdue hand-offs escalated per sweep pass (one transaction); any beyond wait for the next minute's pass."""
ESCALATION_NOTICE: Final = "handoff_overdue"
"""The notice kind of the escalation e-mails in the letters outbox (``letters.NOTICE_PREFIX`` + this): never
counted as a letter."""
FALLBACK_SENDER_NAME: Final = "Aftenhotlinen"


@dataclass(frozen=True)
class _NoticeContext:
    """What the notices need besides the hand-offs, read before the sweep's transaction takes the write lock."""

    tenants: dict[str, tenancy.Tenant]
    topics: dict[str, str]
    federation: tenancy.FederationInfo | None
    base_url: str

    @property
    def sender_name(self) -> str:
        return self.federation.name if self.federation is not None else FALLBACK_SENDER_NAME

    @property
    def coordinator(self) -> str:
        return self.federation.coordinator_email if self.federation is not None else ""


@dataclass
class _NoticeCounts:
    departments: int = 0
    digests: int = 0
    unsent: int = 0
    """Departments (or the digest) whose notice could not be addressed: see the warning logged with it."""


async def _notice_context(rows: list[dict[str, Any]], base_url: str) -> _NoticeContext:
    tenants: dict[str, tenancy.Tenant] = {}
    for code in sorted({row["kommune_code"] for row in rows}):
        tenant = await tenancy.get_tenant(code)
        if tenant is not None:
            tenants[code] = tenant
    return _NoticeContext(
        tenants=tenants, topics=await topic_names("da"), federation=await tenancy.federation(), base_url=base_url
    )


def _overdue_item(row: dict[str, Any], context: _NoticeContext) -> notices.OverdueItem:
    """Only what a notice may show: nothing of the citizen's contact, the description or the notes."""
    tenant = context.tenants.get(row["kommune_code"])
    return notices.OverdueItem(
        handoff_id=row["handoff_id"],
        kommune_code=row["kommune_code"],
        kommune_name=tenant.name if tenant is not None else f"Kommune {row['kommune_code']}",
        department=row["department"],
        department_name=row["department_name"] or row["department"],
        topic_name=context.topics.get(row["topic"], row["topic"]),
        created_at=repository.aware(row["created_at"]),
        due_at=repository.aware(row["due_at"]),
    )


def _department_sender(tenant: tenancy.Tenant, context: _NoticeContext) -> tuple[str, str]:
    """(From, Reply-To) of a department's notice: the coordinator's address, so that an answer reaches the
    federation; without one, the kommune's own sender identity (its domain is set up for the relay and DKIM)."""
    if context.coordinator:
        return context.coordinator, context.coordinator
    sender = tenant.definition.sender
    return (sender.from_address, sender.reply_to) if sender is not None else ("", "")


async def _queue_notice(notice: letters.Notice, now: dt.datetime, what: str) -> bool:
    try:
        prepared = letters.prepare_notice(notice, now=now, created_by="hotline:handoffs")
    except letters.LetterError as exc:  # the field only: never an address in the log
        log.warning("escalation notice to %s not queued (%s: %s)", what, exc.field, exc.problem)
        return False
    await letters.enqueue(prepared)
    return True


async def _queue_notices(items: list[notices.OverdueItem], context: _NoticeContext, now: dt.datetime) -> _NoticeCounts:
    """One notice per department with newly escalated hand-offs, and one digest to the coordinator (if the
    federation names one). Written into the caller's transaction, after the marks that decided them."""
    counts = _NoticeCounts()
    by_department: dict[tuple[str, str], list[notices.OverdueItem]] = {}
    for item in items:
        by_department.setdefault((item.kommune_code, item.department), []).append(item)
    for (code, key), group in by_department.items():
        tenant = context.tenants.get(code)
        department = next((d for d in tenant.departments if d.key == key), None) if tenant is not None else None
        from_address, reply_to = _department_sender(tenant, context) if tenant is not None else ("", "")
        if tenant is None or department is None or not from_address:
            # A kommune or department removed from the definitions since the hand-off, or no address to send
            # from: the coordinator's digest and overdue page still show these hand-offs.
            log.warning(
                "escalation notice for %s hand-off(s) of kommune %s not queued: no department or sender",
                len(group),
                code,
            )
            counts.unsent += 1
            continue
        composed = notices.department_notice(
            group,
            kommune_name=tenant.name,
            department_name=department.name,
            sender=context.sender_name,
            base_url=context.base_url,
            now=now,
        )
        notice = letters.Notice(
            kind=ESCALATION_NOTICE,
            kommune_code=code,
            recipient=department.email,
            from_name=context.sender_name,
            from_address=from_address,
            reply_to=reply_to,
            subject=composed.subject,
            text=composed.text,
            html=composed.html,
        )
        if await _queue_notice(notice, now, f"a department of kommune {code}"):
            counts.departments += 1
        else:
            counts.unsent += 1
    if context.coordinator:
        composed = notices.coordinator_digest(items, sender=context.sender_name, base_url=context.base_url, now=now)
        digest = letters.Notice(
            kind=ESCALATION_NOTICE,
            kommune_code="",  # spans the federation
            recipient=context.coordinator,
            from_name=context.sender_name,
            from_address=context.coordinator,
            reply_to=context.coordinator,
            subject=composed.subject,
            text=composed.text,
            html=composed.html,
        )
        if await _queue_notice(digest, now, "the coordinator"):
            counts.digests += 1
        else:
            counts.unsent += 1
    return counts


async def escalation_sweep(now: dt.datetime, *, base_url: str = "", limit: int = ESCALATION_BATCH) -> list[HandOffOut]:
    """Escalate every hand-off still open after its due time (once, at most ``limit`` per pass): mark it, queue its
    ``escalated`` event for the kommune's systems, and tell people by e-mail through the letters outbox: one notice
    per department with newly escalated hand-offs and one digest to the federation's coordinator (see
    :mod:`hotline.handoffs.notices`; ``base_url`` is the hotline's public address, for the inbox links). The
    kommune admin's inbox highlights the hand-offs and the coordinator's overdue page lists them.

    Exactly once across processes: the marks, events and notices of a pass are one transaction, and each mark is a
    compare-and-set that only one process wins; a process queues events and notices only for the hand-offs it won.
    The marks go in hand-off id order, so two processes on PostgreSQL wait for each other rather than deadlock.
    Call the letters worker's ``notify()`` when hand-offs were escalated."""
    now = _aware(now)
    candidates = await repository.due_for_escalation(now, limit)
    if not candidates:
        return []
    context = await _notice_context(candidates, base_url)
    won: list[dict[str, Any]] = []
    async with repository.transaction():
        for candidate in sorted(candidates, key=lambda row: row["handoff_id"]):
            row = await repository.mark_escalated(candidate["handoff_id"], now)
            if row is not None:
                won.append(row)
        won.sort(key=lambda row: (repository.aware(row["due_at"]), row["handoff_id"]))
        for row in won:
            await _queue_event("escalated", row)
        counts = await _queue_notices([_overdue_item(row, context) for row in won], context, now) if won else None
    if counts is not None:
        log.info(
            "escalated %d overdue hand-off(s); queued %d department notice(s) and %d coordinator digest(s)%s",
            len(won),
            counts.departments,
            counts.digests,
            f", {counts.unsent} not addressable" if counts.unsent else "",
        )
    return [_out(row, now) for row in won]


# -- retention --------------------------------------------------------------------------------------------


async def retention_sweep(now: dt.datetime, *, batch: int = RETENTION_BATCH) -> dict[str, int]:
    """Anonymise every hand-off closed longer ago than its kommune's ``retention_days``: the citizen's e-mail and
    phone, the agent's description of the enquiry, the kommune's status notes and the notes of its history are
    erased (see the module docstring); the row stays, with what the figures count.

    Each batch of at most ``batch`` hand-offs is its own transaction (or joins the caller's). Nothing is written
    when nothing is due, and a hand-off already anonymised is never written again, so the sweep can run every
    minute in every process. Returns the hand-offs anonymised per kommune."""
    cutoffs = (await tenancy.retention()).cutoffs(_aware(now))
    # Look before writing: on SQLite even an UPDATE that changes nothing takes the write lock, every minute.
    if not await repository.personal_data_past(cutoffs):
        return {}
    anonymised: dict[str, int] = {}
    while True:
        ids = await repository.ids_past_retention(cutoffs, batch)  # read outside: the lock is for the updates only
        async with repository.transaction():
            rows = await repository.anonymise(ids)
        for row in rows:
            anonymised[row["kommune_code"]] = anonymised.get(row["kommune_code"], 0) + 1
        if len(ids) < batch or not rows:
            return anonymised


# -- Open311 ----------------------------------------------------------------------------------------------


async def open311_services(kommune_code: str, language: str = "da") -> list[Open311Service]:
    """The kommune's topics that one of its departments owns, as Open311 services."""
    tenant = await _member_tenant(kommune_code)
    names = {row["code"]: row for row in await tenancy_repository.topics()}
    services: list[Open311Service] = []
    for department in tenant.departments:
        for topic in department.topics:
            named = names.get(topic)
            name = (named["name_en"] if language == "en" else named["name_da"]) if named else topic
            services.append(
                Open311Service(
                    service_code=topic,
                    service_name=name,
                    description=f"{department.name} ({tenant.name})",
                    group=department.name,
                    keywords=department.key,
                )
            )
    return services


def open311_request(handoff: HandOffOut, service_name: str = "") -> Open311Request:
    return Open311Request(
        service_request_id=handoff.handoff_id,
        status="closed" if handoff.status == "closed" else "open",
        detailed_status=handoff.status,
        service_code=handoff.topic,
        service_name=service_name or handoff.topic,
        description=handoff.description,
        agency_responsible=handoff.department_name,
        requested_datetime=handoff.created_at,
        updated_datetime=handoff.updated_at,
        expected_datetime=handoff.due_at,
        status_notes=handoff.status_notes,
        jurisdiction_id=handoff.kommune_code,
        citizen_email=handoff.citizen_email,
        citizen_phone=handoff.citizen_phone,
        escalated=handoff.escalated_at is not None,
    )


async def departments_of(kommune_code: str) -> list[tuple[str, str]]:
    """(key, name) of the kommune's departments, for the inbox's filter."""
    tenant = await tenancy.get_tenant(kommune_code)
    return [(d.key, d.name) for d in tenant.departments] if tenant is not None else []


async def kommune_name(kommune_code: str) -> str:
    """The kommune's name for a page's heading ("Horsens Kommune"), its code if it is not configured."""
    tenant = await tenancy.get_tenant(kommune_code)
    return tenant.name if tenant is not None else kommune_code


async def kommune_names() -> dict[str, str]:
    """Code → name of every kommune, for pages that list hand-offs across the federation."""
    return {row["code"]: row["name"] for row in await tenancy_repository.kommuner()}


async def topic_names(language: str = "da") -> dict[str, str]:
    return {row["code"]: row["name_en" if language == "en" else "name_da"] for row in await tenancy_repository.topics()}
