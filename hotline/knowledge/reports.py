"""Agents' "this rule is wrong or missing" reports: filed from an article or a search, addressed to the kommune
that owns the rule, read and closed by that kommune's admins (the coordinator sees them all).

A report is free text an agent typed during a call, so it may hold a citizen's details by mistake: CPR numbers
are masked before it is stored, and the text is never logged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from hotline.knowledge.service import KnowledgeError
from hotline.knowledge.tables import KbReport
from hotline.lib.cpr import mask_cpr
from kb_sync.subjects import FEDERATION, GENERAL, ArticleRecord

MAX_MESSAGE = 2000
KINDS = ("wrong", "missing")
Status = Literal["open", "resolved", "dismissed"]
CLOSING: tuple[Status, ...] = ("resolved", "dismissed")


@dataclass(frozen=True)
class Report:
    id: int
    kommune: str
    article_id: str
    topic: str
    kind: str
    message: str
    reporter: str
    status: str
    created_at: dt.datetime
    closed_at: dt.datetime | None
    closed_by: str


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)  # noqa: S101 - a Timestamptz column
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _report(row: dict[str, Any]) -> Report:
    created_at = _utc(row["created_at"])
    assert created_at is not None  # noqa: S101 - not nullable
    return Report(
        id=row["id"],
        kommune=row["kommune"],
        article_id=row["article_id"],
        topic=row["topic"],
        kind=row["kind"],
        message=row["message"],
        reporter=row["reporter"],
        status=row["status"],
        created_at=created_at,
        closed_at=_utc(row["closed_at"]),
        closed_by=row["closed_by"],
    )


def addressee(article: ArticleRecord | None, kommune: str) -> str:
    """Whose admins get the report: the owner of a kommune article, else the kommune the agent was serving,
    else the coordinator (``general``)."""
    if article is not None and article.scope not in (GENERAL, FEDERATION):
        return article.scope
    return kommune or GENERAL


async def file_report(
    *,
    kommune: str,
    article: ArticleRecord | None,
    topic: str,
    kind: str,
    message: str,
    reporter: str,
    now: dt.datetime,
) -> Report:
    """Store a report (in the caller's transaction). Raises :class:`KnowledgeError` naming the bad field."""
    if kind not in KINDS:
        raise KnowledgeError("kind", f"must be one of {', '.join(KINDS)}")
    text = message.strip()
    if not text:
        raise KnowledgeError("message", "must not be empty: say what is wrong or missing")
    if len(text) > MAX_MESSAGE:
        raise KnowledgeError("message", f"at most {MAX_MESSAGE} characters (got {len(text)})")
    row = KbReport(
        kommune=addressee(article, kommune),
        article_id=article.id if article is not None else "",
        topic=(article.topic if article is not None else topic)[:64],
        kind=kind,
        message=mask_cpr(text),
        reporter=reporter[:200],
        status="open",
        created_at=now,
    )
    saved = await KbReport.insert(row).returning(KbReport._meta.primary_key).run()
    report_id = saved[0]["id"]
    stored = await KbReport.select().where(KbReport._meta.primary_key == report_id).first().run()
    assert stored is not None  # noqa: S101 - written just now in the same transaction
    return _report(stored)


async def reports(kommune: str | None, *, status: str | None = "open", limit: int = 200) -> list[Report]:
    """Reports addressed to ``kommune`` (every report when None), newest first."""
    query = KbReport.select()
    if kommune is not None:
        query = query.where(KbReport.kommune == kommune)
    if status is not None:
        query = query.where(KbReport.status == status)
    rows = await query.order_by(KbReport._meta.primary_key, ascending=False).limit(limit).run()
    return [_report(row) for row in rows]


async def open_count(kommune: str | None) -> int:
    query = KbReport.count().where(KbReport.status == "open")
    if kommune is not None:
        query = query.where(KbReport.kommune == kommune)
    return int(await query.run())


async def close_report(report_id: int, kommune: str | None, status: str, by: str, now: dt.datetime) -> Report:
    """Resolve or dismiss an open report of ``kommune`` (any kommune's when None: the coordinator)."""
    if status not in CLOSING:
        raise KnowledgeError("status", f"must be one of {', '.join(CLOSING)}")
    row = await KbReport.select().where(KbReport._meta.primary_key == report_id).first().run()
    if row is None or (kommune is not None and row["kommune"] != kommune):
        raise KnowledgeError("id", f"no report {report_id} for {kommune or 'the federation'}", "not_found")
    if row["status"] != "open":
        raise KnowledgeError("status", f"report {report_id} is already {row['status']}", "conflict")
    await (
        KbReport.update({KbReport.status: status, KbReport.closed_at: now, KbReport.closed_by: by[:200]})
        .where(KbReport._meta.primary_key == report_id)
        .run()
    )
    return _report({**row, "status": status, "closed_at": now, "closed_by": by[:200]})
