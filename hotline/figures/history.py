"""Synthetic history: realistic calls (with callbacks, agents' presence spans, hand-offs, letters and survey
answers) for the member kommuner, so that the dashboards, the heatmap and the staffing forecast have something to
show in the demo and the benchmark.

Shape: ~150,000 calls a year at ``scale`` 1, shared by the member kommuner by population; the hotline takes calls
on weekday evenings (15–22) and at weekends and public holidays (9–19), with an early-evening peak. Waits grow
with the hour's load; a few per cent abandon (a third of those within a few seconds), some choose a callback. No
row holds personal data: caller numbers are empty and withheld, letters go to a reserved ``.invalid`` address.

Rows are written in batches with one statement per batch (``COPY`` on PostgreSQL, ``executemany`` on SQLite).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import uuid
from collections.abc import Sequence
from typing import Any, Final

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from hotline.calls.tables import Call
from hotline.figures.service import CPH, is_working_day
from hotline.handoffs import service as handoffs_service
from hotline.tenancy import service as tenancy

CALLS_PER_YEAR: Final = 150_000
WEEKDAY_HOURS: Final = range(15, 22)
WEEKEND_HOURS: Final = range(9, 19)
# Relative call volume by hour of the evening (weekday) or day (weekend).
HOUR_WEIGHT: Final = {9: 0.7, 10: 1.0, 11: 1.0, 12: 0.9, 13: 0.8, 14: 0.8, 15: 1.3, 16: 1.4, 17: 1.1, 18: 0.9}
EVENING_WEIGHT: Final = {15: 1.5, 16: 1.4, 17: 1.0, 18: 0.9, 19: 1.0, 20: 0.7, 21: 0.4}
WEEKDAY_WEIGHT: Final = (1.3, 1.1, 1.0, 1.0, 0.8, 0.6, 0.7)
OUTCOMES: Final = (("solved", 0.70), ("handed_off", 0.15), ("not_municipal", 0.08), ("misrouted", 0.02), ("", 0.05))
BATCH: Final = 5000


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _weighted(rng: random.Random, choices: Sequence[tuple[str, float]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


async def _bulk(table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` in batches with one statement each."""
    if not rows:
        return
    engine = Call._meta.db
    if isinstance(engine, PostgresEngine):
        connection = await engine.get_new_connection()
        try:
            for i in range(0, len(rows), BATCH):
                await connection.copy_records_to_table(table, records=rows[i : i + BATCH], columns=list(columns))
        finally:
            await connection.close()
        return
    if not isinstance(engine, SQLiteEngine):
        raise TypeError(f"no bulk insert for {type(engine).__name__}")
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 - our own names
    connection = await engine.get_connection()
    try:
        # Piccolo's connections autocommit each statement; one explicit transaction makes it one write.
        await connection.execute("BEGIN IMMEDIATE")
        for i in range(0, len(rows), BATCH):
            await connection.executemany(sql, rows[i : i + BATCH])
        await connection.execute("COMMIT")
    finally:
        await connection.close()


CALL_COLUMNS: Final = (
    "call_id", "integration", "dialled_number", "kommune_code", "mode", "misrouted", "caller_number",
    "caller_withheld", "language", "priority", "status", "offered_at", "ring_agent_id", "ring_until",
    "ring_attempts", "answered_at", "agent_id", "agent_kommune", "transferred_to", "transferred_at", "ended_at",
    "abandoned_at", "callback_requested_at", "wrapped_up_at", "outcome", "topic", "notes", "updated_at",
)  # fmt: skip
CALLBACK_COLUMNS: Final = (
    "call_id", "kommune_code", "number", "language", "requested_at", "status", "agent_id", "attempts", "done_at",
    "outcome",
)  # fmt: skip
SPAN_COLUMNS: Final = ("user_id", "home_kommune", "state", "started_at", "ended_at")
HANDOFF_COLUMNS: Final = (
    "handoff_id", "call_id", "kommune_code", "department", "department_name", "topic", "description", "citizen_email",
    "citizen_phone", "language", "created_by", "created_at", "due_at", "status", "status_notes", "updated_at",
    "acknowledged_at", "closed_at", "citizen_informed_at", "escalated_at",
)  # fmt: skip
LETTER_COLUMNS: Final = (
    "letter_id", "kommune_code", "template", "topic", "language", "subject", "recipient", "sender_name",
    "sender_address", "reply_to", "body", "created_by", "created_at", "message_id", "status", "attempts",
    "next_attempt_at", "lease_owner", "last_error", "sent_at",
)  # fmt: skip
SURVEY_COLUMNS: Final = ("kommune_code", "topic", "channel", "contact_date", "satisfaction", "treated_well", "nps")


def _hours_of(day: dt.date) -> range:
    return WEEKDAY_HOURS if is_working_day(day) else WEEKEND_HOURS


async def generate_history(*, start: dt.date, end: dt.date, seed: int = 1, scale: float = 1.0) -> dict[str, int]:
    """Insert synthetic history for the Copenhagen days [start, end); returns the number of rows per table.

    Deterministic for a given seed, period, scale and set of member kommuner. Needs the tenants applied."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    tenants = [t for t in await tenancy.load_tenants() if t.definition.member]
    others = [t for t in await tenancy.load_tenants() if not t.definition.member]
    if not tenants:
        return {"calls": 0}
    topics = sorted(await tenancy.known_topic_codes()) or ["generelt"]
    topic_weights = [1.0 / (1 + i * 0.35) for i in range(len(topics))]
    population = [max(t.definition.population, 1000) for t in tenants]
    share = list(itertools.accumulate(p / sum(population) for p in population))
    topic_cumulative = list(itertools.accumulate(topic_weights))
    agents = {t.code: [100_000 + index * 10 + k for k in range(3)] for index, t in enumerate(tenants)}
    all_agents = [(code, agent) for code, ids in agents.items() for agent in ids]
    day_weight = sum(WEEKDAY_WEIGHT) / 7
    calls, callbacks, spans, handoffs, letters, surveys = [], [], [], [], [], []
    tag = f"hist{seed}"
    period_end = dt.datetime.combine(end, dt.time(), tzinfo=CPH)
    # The history hands everything to Borgerservice, named and due as the kommune's own Borgerservice.
    borgerservice = {
        t.code: department for t in tenants for department in t.departments if department.key == "borgerservice"
    }
    department_names = {code: department.name for code, department in borgerservice.items()}
    day, number = start, 0
    while day < end:
        hours = _hours_of(day)
        weights = EVENING_WEIGHT if hours is WEEKDAY_HOURS else HOUR_WEIGHT
        per_hour_mean = CALLS_PER_YEAR * scale / 365 * WEEKDAY_WEIGHT[day.weekday()] / day_weight
        per_hour_mean /= sum(weights[h] for h in hours)
        # Agents on duty this day: enough for the busiest hour, each one shift over the open hours.
        open_at = dt.datetime.combine(day, dt.time(hours.start), tzinfo=CPH)
        close_at = dt.datetime.combine(day, dt.time(hours.stop), tzinfo=CPH)
        on_duty = max(2, math.ceil(per_hour_mean * max(weights.values()) / 7))
        duty = rng.sample(all_agents, min(on_duty, len(all_agents)))
        for code, agent in duty:
            spans.append((agent, code, "available", open_at.astimezone(dt.UTC), close_at.astimezone(dt.UTC)))
        for hour in hours:
            mean = per_hour_mean * weights[hour]
            load = mean / max(len(duty) * 7, 1)
            hour_start = dt.datetime.combine(day, dt.time(hour), tzinfo=CPH).astimezone(dt.UTC)
            for _ in range(_poisson(rng, mean)):
                number += 1
                offered = hour_start + dt.timedelta(seconds=rng.uniform(0, 3599))
                non_member = bool(others) and rng.random() < 0.03
                tenant = rng.choice(others) if non_member else rng.choices(tenants, cum_weights=share)[0]
                code = tenant.code
                topic = rng.choices(topics, cum_weights=topic_cumulative)[0]
                call_id = f"{tag}-{number}"
                wait = rng.expovariate(1 / (8 + 30 * load))
                fate = rng.random()
                row: dict[str, Any] = {
                    "answered_at": None, "agent_id": None, "agent_kommune": "", "transferred_at": None,
                    "ended_at": None, "abandoned_at": None, "callback_requested_at": None, "wrapped_up_at": None,
                    "outcome": "", "status": "done", "transferred_to": "", "topic": topic,
                }  # fmt: skip
                if fate < 0.06:
                    short = rng.random() < 0.35
                    gone = offered + dt.timedelta(seconds=rng.uniform(1, 4.5) if short else wait + 5)
                    row.update(status="abandoned", abandoned_at=gone, ended_at=gone, topic="")
                elif fate < 0.09:
                    asked = offered + dt.timedelta(seconds=wait)
                    row.update(status="callback", callback_requested_at=asked, ended_at=asked, topic="")
                    done = rng.random() < 0.95
                    done_at = asked + dt.timedelta(minutes=rng.uniform(5, 150)) if done else None
                    callbacks.append(
                        (call_id, code, "", "da", asked, "done" if done else "failed", None, 1 if done else 3,
                         done_at, "solved" if done else "")
                    )  # fmt: skip
                else:
                    agent_code, agent = rng.choice(duty)
                    answered = offered + dt.timedelta(seconds=wait)
                    ended = answered + dt.timedelta(seconds=rng.uniform(90, 600))
                    outcome = _weighted(rng, OUTCOMES)
                    row.update(
                        answered_at=answered, agent_id=agent, agent_kommune=agent_code, ended_at=ended,
                        wrapped_up_at=ended + dt.timedelta(seconds=rng.uniform(10, 90)), outcome=outcome,
                    )  # fmt: skip
                    if rng.random() < 0.05:
                        row.update(transferred_at=ended, transferred_to="+4570000000")
                    if outcome == "handed_off":
                        department = borgerservice.get(code)
                        due = (
                            handoffs_service.due_at_for(department, ended)
                            if department is not None
                            else tenant.calendar.open_at_or_next(ended) or ended + dt.timedelta(days=1)
                        )
                        late = rng.random() < 0.2
                        closed = due + dt.timedelta(hours=rng.uniform(1, 200 if late else 40))
                        still_open = rng.random() < 0.05
                        informed = closed + dt.timedelta(minutes=rng.uniform(1, 60)) if rng.random() < 0.9 else None
                        # One still open past its due time was escalated then (the sweep runs each minute), so the
                        # demo does not start by e-mailing weeks of history; those due later escalate live.
                        escalated = due + dt.timedelta(minutes=1) if still_open and due < period_end else None
                        handoffs.append(
                            (str(uuid.UUID(int=rng.getrandbits(128))), call_id, code, "borgerservice",
                             department_names.get(code, ""), topic, "", "", "", "da", str(agent), ended, due,
                             "open" if still_open else "closed", "", ended, None,
                             None if still_open else closed, None if still_open else informed, escalated)
                        )  # fmt: skip
                    if rng.random() < 0.12:
                        sent = ended + dt.timedelta(minutes=rng.uniform(1, 30) if rng.random() < 0.97 else 60 * 80)
                        letter_id = f"{tag}{number}"
                        letters.append(
                            (letter_id, code, "svar", topic, "da", "Svar på din henvendelse", "borger@example.invalid",
                             tenant.name, "noreply@example.invalid", "noreply@example.invalid", "", str(agent), ended,
                             f"<letter-{letter_id}@example.invalid>", "sent", 1, ended, "", "", sent)
                        )  # fmt: skip
                    if rng.random() < 0.2:
                        satisfaction = rng.choices([1, 2, 3, 4, 5], weights=[4, 5, 12, 38, 41])[0]
                        nps = rng.choices(range(11), weights=[1, 1, 1, 2, 2, 4, 6, 10, 18, 25, 30])[0]
                        surveys.append(
                            (code, topic, "phone", ended.astimezone(CPH).date(), satisfaction,
                             satisfaction >= 3 or rng.random() < 0.3, nps if rng.random() < 0.8 else None)
                        )  # fmt: skip
                calls.append(
                    (call_id, "synthetic", "+4570" + code[1:] + "000", code,
                     "non_member" if non_member else "member", outcome_is(row, "misrouted"), "", True, "da", 0,
                     row["status"], offered, None, None, 1, row["answered_at"], row["agent_id"], row["agent_kommune"],
                     row["transferred_to"], row["transferred_at"], row["ended_at"], row["abandoned_at"],
                     row["callback_requested_at"], row["wrapped_up_at"], row["outcome"], row["topic"], "",
                     row["ended_at"] or offered)
                )  # fmt: skip
        day += dt.timedelta(days=1)
    await _bulk("call", CALL_COLUMNS, calls)
    await _bulk("call_callback", CALLBACK_COLUMNS, callbacks)
    await _bulk("agent_presence_span", SPAN_COLUMNS, spans)
    await _bulk("handoff", HANDOFF_COLUMNS, handoffs)
    await _bulk("letter", LETTER_COLUMNS, letters)
    await _bulk("survey_answer", SURVEY_COLUMNS, surveys)
    return {
        "calls": len(calls),
        "callbacks": len(callbacks),
        "presence_spans": len(spans),
        "handoffs": len(handoffs),
        "letters": len(letters),
        "survey_answers": len(surveys),
    }


def outcome_is(row: dict[str, Any], outcome: str) -> bool:
    return bool(row["outcome"] == outcome)


async def seed_demo_history(now: dt.datetime | None = None, *, weeks: int = 8) -> dict[str, int]:
    """The demo's history: the ``weeks`` weeks before today, generated once (a data directory that already holds
    synthetic calls is left alone, so restarting the demo does not double the figures)."""
    if await Call.exists().where(Call.integration == "synthetic").run():
        return {}
    today = (now or dt.datetime.now(dt.UTC)).astimezone(CPH).date()
    return await generate_history(start=today - dt.timedelta(weeks=weeks), end=today, seed=1)
