"""Every query of the figures area. The figures are SQL aggregates that run unchanged on SQLite and PostgreSQL:
the only dialect-specific pieces are the seconds between two timestamps and the UTC hour a call fell in, both
produced by :class:`Dialect`. Thresholds are validated integers written into the SQL as literals; everything a
request supplies (kommune code, instants, dates) is a bound parameter.

Hours are grouped in UTC and folded into Copenhagen days and weekday × hour in Python (``service``), so the DST
change and the database's lack of time zones (SQLite) never meet in SQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from hotline.calls.tables import Call
from hotline.db.dialect import Dialect, dialect
from hotline.db.engine import aware as aware  # shared by every area: naive SQLite timestamps are UTC
from hotline.db.engine import transaction as transaction  # one write-transaction rule for every area
from hotline.db.engine import utc as utc
from hotline.figures.tables import BestTimesPublication, FigureTarget, SurveyAnswer, SurveyLink
from hotline.letters import service as letters


def in_transaction() -> bool:
    return bool(Call._meta.db.transaction_exists())


@dataclass(frozen=True)
class Limits:
    """Thresholds in whole seconds (validated by the service before they reach SQL)."""

    short_abandon: int
    first: int
    second: int
    callback: int
    handoff_week: int


def _kommune_filter(column: str, kommune: str | None, args: list[Any]) -> str:
    if kommune is None:
        return ""
    args.append(kommune)
    return f" AND {column} = {{}}"


async def _rows(sql: str, args: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Call.raw(sql, *args).run()
    return rows


def _call_measures(d: Dialect, limits: Limits) -> str:
    answer_wait = d.seconds("offered_at", "answered_at")
    abandon_wait = d.seconds("offered_at", "abandoned_at")
    answered = "answered_at IS NOT NULL"
    abandoned = "answered_at IS NULL AND abandoned_at IS NOT NULL"
    return f"""
        COUNT(*) AS offered,
        SUM(CASE WHEN {answered} THEN 1 ELSE 0 END) AS answered,
        SUM(CASE WHEN {abandoned} THEN 1 ELSE 0 END) AS abandoned,
        SUM(CASE WHEN {abandoned} AND {abandon_wait} < {limits.short_abandon} THEN 1 ELSE 0 END) AS short_abandoned,
        SUM(CASE WHEN {answered} THEN {answer_wait} ELSE 0 END) AS wait_sum,
        SUM(CASE WHEN {answered} AND {answer_wait} <= {limits.first} THEN 1 ELSE 0 END) AS within_first,
        SUM(CASE WHEN {answered} AND {answer_wait} <= {limits.second} THEN 1 ELSE 0 END) AS within_second"""


async def call_totals(
    start: dt.datetime, end: dt.datetime, kommune: str | None, limits: Limits, *, by_kommune: bool
) -> list[dict[str, Any]]:
    """The call figures of the period, one row (or one per kommune)."""
    d = dialect()
    args: list[Any] = [utc(start), utc(end)]
    where = _kommune_filter("kommune_code", kommune, args)
    group = "kommune_code" if by_kommune else "'all'"
    sql = f"""
        SELECT {group} AS kommune_code, {_call_measures(d, limits)},
        SUM(CASE WHEN answered_at IS NOT NULL AND outcome <> '' THEN 1 ELSE 0 END) AS with_outcome,
        SUM(CASE WHEN answered_at IS NOT NULL AND outcome = 'solved' THEN 1 ELSE 0 END) AS solved,
        SUM(CASE WHEN transferred_at IS NOT NULL THEN 1 ELSE 0 END) AS transferred,
        SUM(CASE WHEN misrouted THEN 1 ELSE 0 END) AS misrouted,
        SUM(CASE WHEN mode <> 'member' THEN 1 ELSE 0 END) AS non_member,
        SUM(CASE WHEN callback_requested_at IS NOT NULL THEN 1 ELSE 0 END) AS callback_requested
        FROM call WHERE offered_at >= {{}} AND offered_at < {{}}{where}
        {"GROUP BY kommune_code" if by_kommune else ""}"""  # noqa: S608 - thresholds are validated ints, names are ours; values are bound
    return await _rows(sql, args)


async def calls_by_hour(
    start: dt.datetime, end: dt.datetime, kommune: str | None, limits: Limits
) -> list[dict[str, Any]]:
    """Offered, answered, waits and service-level counts per UTC hour (for days, lines and the heatmap)."""
    d = dialect()
    args: list[Any] = [utc(start), utc(end)]
    where = _kommune_filter("kommune_code", kommune, args)
    hour = d.utc_hour("offered_at")
    sql = f"""
        SELECT {hour} AS hour, {_call_measures(d, limits)}
        FROM call WHERE offered_at >= {{}} AND offered_at < {{}}{where}
        GROUP BY {hour}"""  # noqa: S608 - thresholds are validated ints, names are ours; values are bound
    return await _rows(sql, args)


async def calls_by_topic(
    start: dt.datetime, end: dt.datetime, kommune: str | None, limits: Limits
) -> list[dict[str, Any]]:
    d = dialect()
    args: list[Any] = [utc(start), utc(end)]
    where = _kommune_filter("kommune_code", kommune, args)
    sql = f"""
        SELECT topic, {_call_measures(d, limits)},
        SUM(CASE WHEN answered_at IS NOT NULL AND outcome <> '' THEN 1 ELSE 0 END) AS with_outcome,
        SUM(CASE WHEN answered_at IS NOT NULL AND outcome = 'solved' THEN 1 ELSE 0 END) AS solved
        FROM call WHERE offered_at >= {{}} AND offered_at < {{}}{where}
        GROUP BY topic"""  # noqa: S608 - thresholds are validated ints, names are ours; values are bound
    return await _rows(sql, args)


async def callback_totals(
    start: dt.datetime, end: dt.datetime, kommune: str | None, limits: Limits
) -> list[dict[str, Any]]:
    d = dialect()
    args: list[Any] = [utc(start), utc(end)]
    where = _kommune_filter("kommune_code", kommune, args)
    sql = f"""
        SELECT kommune_code, COUNT(*) AS callbacks,
        SUM(CASE WHEN status = 'done' AND done_at IS NOT NULL
                 AND {d.seconds("requested_at", "done_at")} <= {limits.callback} THEN 1 ELSE 0 END) AS callbacks_in_time
        FROM call_callback WHERE requested_at >= {{}} AND requested_at < {{}}{where}
        GROUP BY kommune_code"""  # noqa: S608 - thresholds are validated ints, names are ours; values are bound
    return await _rows(sql, args)


def _replies_only(args: list[Any]) -> str:
    """Letters to citizens only: the notices to staff that share the letters' outbox (their ``template`` begins
    with ``letters.NOTICE_PREFIX``, e.g. the hand-offs' escalation notices) are no replies and count nowhere."""
    args.append(f"{letters.NOTICE_PREFIX}%")
    return " AND template NOT LIKE {}"


async def letter_totals(start: dt.datetime, end: dt.datetime, kommune: str | None) -> list[dict[str, Any]]:
    """Letters written in the period, and those sent within 48 hours (certainly within 2 working days)."""
    d = dialect()
    args: list[Any] = [utc(start), utc(end)]
    where = _kommune_filter("kommune_code", kommune, args) + _replies_only(args)
    sql = f"""
        SELECT kommune_code, COUNT(*) AS letters,
        SUM(CASE WHEN sent_at IS NOT NULL AND {d.seconds("created_at", "sent_at")} <= 172800 THEN 1 ELSE 0 END)
            AS letters_fast
        FROM letter WHERE created_at >= {{}} AND created_at < {{}}{where}
        GROUP BY kommune_code"""  # noqa: S608 - thresholds are validated ints, names are ours; values are bound
    return await _rows(sql, args)


async def slow_letters(start: dt.datetime, end: dt.datetime, kommune: str | None) -> list[dict[str, Any]]:
    """Letters not sent within 48 hours: whether they made 2 working days is decided with the holiday calendar."""
    d = dialect()
    args: list[Any] = [utc(start), utc(end)]
    where = _kommune_filter("kommune_code", kommune, args) + _replies_only(args)
    sql = f"""
        SELECT kommune_code, created_at, sent_at FROM letter
        WHERE created_at >= {{}} AND created_at < {{}}{where}
        AND sent_at IS NOT NULL AND {d.seconds("created_at", "sent_at")} > 172800"""  # noqa: S608 - thresholds are validated ints, names are ours; values are bound
    return await _rows(sql, args)


async def handoff_totals(
    start: dt.datetime, end: dt.datetime, kommune: str | None, limits: Limits, now: dt.datetime
) -> list[dict[str, Any]]:
    d = dialect()
    args: list[Any] = [utc(now), utc(start), utc(end)]
    where = _kommune_filter("kommune_code", kommune, args)
    sql = f"""
        SELECT kommune_code, COUNT(*) AS handoffs,
        SUM(CASE WHEN closed_at IS NOT NULL AND citizen_informed_at IS NOT NULL
                 AND {d.seconds("created_at", "closed_at")} <= {limits.handoff_week}
                 AND {d.seconds("created_at", "citizen_informed_at")} <= {limits.handoff_week}
            THEN 1 ELSE 0 END) AS handoffs_in_week,
        SUM(CASE WHEN status <> 'closed' AND due_at < {{}} THEN 1 ELSE 0 END) AS handoffs_overdue
        FROM handoff WHERE created_at >= {{}} AND created_at < {{}}{where}
        GROUP BY kommune_code"""  # noqa: S608 - thresholds are validated ints, names are ours; values are bound
    return await _rows(sql, args)


_SURVEY_MEASURES = """COUNT(*) AS surveys,
        SUM(CASE WHEN satisfaction >= 4 THEN 1 ELSE 0 END) AS satisfied,
        SUM(CASE WHEN treated_well THEN 1 ELSE 0 END) AS treated_well,
        SUM(CASE WHEN treated_well IS NOT NULL THEN 1 ELSE 0 END) AS treated_answers,
        SUM(CASE WHEN nps IS NOT NULL THEN 1 ELSE 0 END) AS nps_answers,
        SUM(CASE WHEN nps >= 9 THEN 1 ELSE 0 END) AS promoters,
        SUM(CASE WHEN nps <= 6 THEN 1 ELSE 0 END) AS detractors"""


async def survey_totals(start: dt.date, end: dt.date, kommune: str | None, *, by: str) -> list[dict[str, Any]]:
    """Answers by ``by`` ("kommune_code" or "topic") for contacts on days in [start, end)."""
    if by not in {"kommune_code", "topic"}:
        raise ValueError(by)
    args: list[Any] = [start, end]
    where = _kommune_filter("kommune_code", kommune, args)
    sql = f"""
        SELECT {by} AS grp, {_SURVEY_MEASURES}
        FROM survey_answer WHERE contact_date >= {{}} AND contact_date < {{}}{where}
        GROUP BY {by}"""  # noqa: S608 - thresholds are validated ints, names are ours; values are bound
    return await _rows(sql, args)


# -- targets ------------------------------------------------------------------------------------------------


async def targets_of(kommune: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await FigureTarget.select().where(FigureTarget.kommune_code == kommune).run()
    return rows


async def all_targets() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await FigureTarget.select().run()
    return rows


async def replace_targets(kommune: str, rows: list[dict[str, Any]]) -> None:
    """Replace a kommune's targets (the caller owns the transaction)."""
    await FigureTarget.delete().where(FigureTarget.kommune_code == kommune).run()
    if rows:
        await FigureTarget.insert(*[FigureTarget(**row) for row in rows]).run()


# -- survey -------------------------------------------------------------------------------------------------


async def insert_survey_link(values: dict[str, Any]) -> None:
    await SurveyLink.insert(SurveyLink(**values)).run()


async def survey_link(token_hash: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await SurveyLink.select().where(SurveyLink.token_hash == token_hash).first().run()
    return row


async def use_survey_link(token_hash: str, now: dt.datetime) -> bool:
    """Mark the link used if it is still unused and unexpired: one conditional UPDATE, so two submissions of the
    same link cannot both count."""
    rows = await SurveyLink.raw(
        "UPDATE survey_link SET used_at = {} WHERE token_hash = {} AND used_at IS NULL AND expires_at > {} "
        "RETURNING id",
        utc(now),
        token_hash,
        utc(now),
    ).run()
    return bool(rows)


async def insert_survey_answer(values: dict[str, Any]) -> None:
    await SurveyAnswer.insert(SurveyAnswer(**values)).run()


async def followup_until(followup_hash: str) -> dt.datetime | None:
    """Until when the follow-up of the answer with this token can be given (``None``: no such open follow-up)."""
    row = (
        await SurveyAnswer.select(SurveyAnswer.followup_until)
        .where(SurveyAnswer.followup_hash == followup_hash)
        .first()
        .run()
    )
    return aware(row["followup_until"]) if row and row["followup_until"] is not None else None


async def answer_followup(followup_hash: str, now: dt.datetime, values: dict[str, Any]) -> bool:
    """Add the optional follow-up to its answer and close it, in one conditional UPDATE: a token works once and
    only until it expires. ``values`` None-valued fields stay unanswered."""
    rows = await SurveyAnswer.raw(
        "UPDATE survey_answer SET treated_well = {}, nps = {}, comment = {}, followup_hash = NULL, "
        "followup_until = NULL WHERE followup_hash = {} AND followup_until > {} RETURNING id",
        values["treated_well"],
        values["nps"],
        values["comment"],
        followup_hash,
        utc(now),
    ).run()
    return bool(rows)


# -- best times ---------------------------------------------------------------------------------------------


async def best_times_published(kommune: str) -> bool:
    row = (
        await BestTimesPublication.select(BestTimesPublication.published)
        .where(BestTimesPublication.kommune_code == kommune)
        .first()
        .run()
    )
    return bool(row and row["published"])


async def set_best_times_published(kommune: str, published: bool, by: str, now: dt.datetime) -> None:
    await BestTimesPublication.delete().where(BestTimesPublication.kommune_code == kommune).run()
    await BestTimesPublication.insert(
        BestTimesPublication(kommune_code=kommune, published=published, updated_by=by, updated_at=utc(now))
    ).run()
