"""The audit log: the one way every area records sign-ins, refusals, configuration changes and each view of a
citizen's personal data, and the kommune's view of it (filter, CSV export).

Entries are append-only. Details must never carry personal data of citizens: :func:`record` refuses values that
look like a CPR number, a phone number or an e-mail address, so a mistake in a caller cannot leak one here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from hotline.identity import repository
from hotline.identity.schemas import AuditOut

# What is recorded. Later areas add their own actions (e.g. "citizen.viewed", "letter.viewed").
SIGN_IN: Final = "sign_in"
SIGN_IN_FAILED: Final = "sign_in_failed"
SIGN_OUT: Final = "sign_out"
SIGN_OUT_EVERYWHERE: Final = "sign_out_everywhere"
PERMISSION_DENIED: Final = "permission_denied"
CONFIG_CHANGED: Final = "config_changed"
PERSONAL_DATA_VIEWED: Final = "personal_data_viewed"
AUDIT_VIEWED: Final = "audit_viewed"

_CPR = re.compile(r"\b\d{6}-?\d{4}\b")
_PHONE = re.compile(r"(?:\+|\b00)\d[\d ]{6,}\d|\b\d{2} ?\d{2} ?\d{2} ?\d{2}\b")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}")
# Ids are what callers are told to record; a random UUID whose first group is all digits ("95405874-…") would
# otherwise pass for an 8-digit phone number. UUIDs are taken out before the checks.
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_MAX_DETAIL_TEXT = 200


class PersonalDataInAudit(ValueError):
    """A caller tried to put something that looks like personal data into an audit entry's details."""


@dataclass(frozen=True)
class Actor:
    """Who did it: ``id`` is ``issuer|subject`` for a person, ``token:<id>`` for a kommune system."""

    id: str
    name: str = ""
    role: str = ""


ANONYMOUS: Final = Actor(id="")


def _looks_personal(text: str) -> bool:
    text = _UUID.sub("", text)
    return bool(_CPR.search(text) or _PHONE.search(text) or _EMAIL.search(text))


def _check_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, bool | int | float) or value is None:
            clean[key] = value
            continue
        values = [str(item) for item in value] if isinstance(value, list | tuple) else [str(value)]
        for text in values:
            if _looks_personal(text):
                raise PersonalDataInAudit(f"audit detail {key!r} looks like personal data; record an id instead")
        clean[key] = values if isinstance(value, list | tuple) else values[0][:_MAX_DETAIL_TEXT]
    return clean


async def record(
    action: str,
    *,
    actor: Actor,
    kommune_code: str,
    now: dt.datetime,
    ip: str = "",
    target: str = "",
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry. ``kommune_code`` is whose data or configuration it concerns; ``target`` names what (an
    id, a route), never a citizen's name or number. Runs in the caller's transaction."""
    if _looks_personal(target):
        raise PersonalDataInAudit("audit target looks like personal data; record an id instead")
    await repository.insert_audit(
        {
            "at": now.astimezone(dt.UTC),
            "action": action[:64],
            "outcome": outcome[:16],
            "actor": actor.id[:300],
            "actor_name": actor.name[:200],
            "actor_role": actor.role[:32],
            "kommune_code": kommune_code[:4],
            "target": target[:200],
            "detail": msgspec.json.encode(_check_detail(detail or {})).decode(),
            "ip": ip[:64],
        }
    )


def _out(row: dict[str, Any]) -> AuditOut:
    detail = row["detail"]
    if isinstance(detail, str | bytes):
        detail = msgspec.json.decode(detail)
    at = row["at"]
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return AuditOut(
        id=row["id"],
        at=at,
        action=row["action"],
        outcome=row["outcome"],
        actor=row["actor"],
        actor_name=row["actor_name"],
        actor_role=row["actor_role"],
        kommune_code=row["kommune_code"],
        target=row["target"],
        detail=detail,
        ip=row["ip"],
    )


async def entries(
    kommune_code: str,
    *,
    action: str = "",
    actor: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: int = 500,
) -> list[AuditOut]:
    """The kommune's entries, newest first; ``since``/``until`` are whole days (UTC), both included."""
    start = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC) if since else None
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC) if until else None
    rows = await repository.audit_entries(kommune_code, action=action, actor=actor, since=start, until=end, limit=limit)
    return [_out(row) for row in rows]


CSV_COLUMNS: Final = ("at", "action", "outcome", "actor", "actor_name", "actor_role", "kommune_code", "target", "ip")


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheets: neutralise it.
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


def as_csv(rows: list[AuditOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "detail"])
    for row in rows:
        values = [row.at.isoformat()] + [str(getattr(row, column)) for column in CSV_COLUMNS[1:]]
        writer.writerow([_safe_cell(v) for v in values] + [_safe_cell(msgspec.json.encode(row.detail).decode())])
    return out.getvalue()
