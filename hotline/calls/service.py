"""The rules of the calls area: taking telephony events (idempotent, order-tolerant), the federation queue
(presence, longest-idle assignment, ring timeouts, callbacks past the maximum wait) and the agent's console
actions (answer, transfer, wrap-up with outcome and hand-off).

No HTTP here; queries are in :mod:`hotline.calls.repository`. Functions that change state take an
:class:`Effects` and record in it what the live connections must be told (screen-pops, cancellations, presence);
the runtime sends those after the transaction has committed, so no agent is ever told about a change that was
rolled back.

Order tolerance: a call's status is *derived* from the timestamps its events set (see :func:`derived_status`),
not stepped through, so every order of delivery of the same events ends in the same row, and a late event can
never move the status backwards. Events that arrive before the call's ``offered`` are stored and applied when it
comes.

Ring timeout policy: an agent who lets a call ring out is set to ``pause`` (not ``available``): an agent who has
walked away must not be offered the next call and the one after. They go available again themselves.

Retention (:func:`retention_sweep`, run by the runtime's tick every few minutes): once a call was offered longer
ago than its kommune's ``retention_days`` (a call of no configured kommune, e.g. to an unknown number:
:data:`~hotline.tenancy.service.NO_KOMMUNE_RETENTION_DAYS`), the caller's number and the agent's notes are erased
from the call, and the numbers (``caller_number``, ``number``, ``callback_number``) from the payloads of its
telephony events; a callback loses its number once it was requested longer ago than that (one still waiting is
closed as ``failed``/``expired``: it can no longer be made). Everything the figures and the settlement count stays.
An event whose call never came is counted from its arrival, at the default retention.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from hotline.calls import repository as repo
from hotline.calls.routing import TenantIndex
from hotline.calls.schemas import CallOut, IngestResult, PresenceOut, WrapUpIn
from hotline.calls.telephony import EventBatch, Offered
from hotline.lib.cpr import contains_cpr, mask_cpr
from hotline.tenancy import service as tenancy

log = logging.getLogger(__name__)


@dataclass
class QueueOptions:
    """How the queue behaves; the defaults are the production values, tests shorten them."""

    ring_timeout: dt.timedelta = dt.timedelta(seconds=20)
    max_wait: dt.timedelta = dt.timedelta(seconds=180)
    stale_after: dt.timedelta = dt.timedelta(seconds=60)
    """An agent whose live connection's process has not vouched for them this long is set offline."""
    batch: int = 50


# Forward order of statuses. "abandoned" (ended without an answer) comes before "answered": if the platform's
# ``answered`` arrives after its ``ended``, the call was answered after all and moves on to wrap-up.
STATUS_ORDER: Final = {
    "queued": 0,
    "ringing": 1,
    "abandoned": 2,
    "callback": 3,
    "answered": 4,
    "wrap_up": 5,
    "done": 6,
}
BUSY_STATES: Final = ("ringing", "on_call", "wrap_up")


@dataclass(frozen=True)
class Offer:
    """A call (or a callback) just offered to an agent: what the agent's console needs to pop the screen."""

    user_id: int
    call_id: str
    kommune_code: str
    mode: str
    misrouted: bool
    caller_number: str
    language: str
    offered_at: dt.datetime
    callback: bool = False
    ring_until: dt.datetime | None = None
    """When the ring times out and the call is offered to the next agent (set by assignment; the platform's ring
    instruction carries it)."""


@dataclass
class Effects:
    """What live connections must be told once the transaction has committed."""

    offers: list[Offer] = field(default_factory=list)
    cancelled: list[tuple[int, str]] = field(default_factory=list)
    presence: list[tuple[int, str]] = field(default_factory=list)
    queue_changed: bool = False
    calls_queued: int = 0
    """New calls put in the queue: assignment then knows something waits without asking."""

    def extend(self, other: Effects) -> None:
        self.offers.extend(other.offers)
        self.cancelled.extend(other.cancelled)
        self.presence.extend(other.presence)
        self.queue_changed = self.queue_changed or other.queue_changed
        self.calls_queued += other.calls_queued


class ConsoleError(ValueError):
    """A console action refused: ``status`` is the HTTP status (404, 409, 422), ``field`` names the bad field."""

    def __init__(self, message: str, *, status: int = 422, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


# -- telephony events ------------------------------------------------------------------------------------


def derived_status(row: dict[str, Any]) -> str | None:
    """The status the call's own timestamps imply, or None while it waits (queued or ringing: the queue's
    business). Independent of the order in which the events arrived."""
    if row.get("wrapped_up_at"):
        return "done"
    if row.get("answered_at"):
        return "wrap_up" if row.get("ended_at") else "answered"
    if row.get("callback_requested_at"):
        return "callback"
    if row.get("abandoned_at") or row.get("ended_at"):
        return "abandoned"
    return None


def _payload_time(payload: dict[str, Any]) -> dt.datetime:
    moment = payload["at"]
    parsed = moment if isinstance(moment, dt.datetime) else dt.datetime.fromisoformat(str(moment))
    return parsed.astimezone(dt.UTC)


def fold(row: dict[str, Any], kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The column changes one event makes to a call row (the row itself is not touched)."""
    at = _payload_time(payload)
    changes: dict[str, Any] = {}
    if kind == "answered":
        earlier = row.get("answered_at")
        changes["answered_at"] = min(earlier, at) if earlier else at
        changes["agent_id"] = int(payload["agent_id"])  # the platform says who picked up: authoritative
    elif kind == "transferred":
        changes["transferred_to"] = str(payload["to_number"])
        changes["transferred_at"] = at
    elif kind == "ended":
        changes["ended_at"] = at
    elif kind == "abandoned":
        changes["abandoned_at"] = at
    elif kind == "callback_requested":
        changes["callback_requested_at"] = at
    return changes


async def ingest(
    batch: EventBatch, *, integration: str, now: dt.datetime, router: TenantIndex, effects: Effects
) -> IngestResult:
    """Store every new event of ``batch`` and apply it to its call. Runs in the caller's transaction, which
    commits before the webhook answers: an accepted event is durable."""
    rows: dict[str, dict[str, Any]] = {}
    offered: dict[str, Offered] = {}
    duplicates = 0
    for event in batch.events:
        kind = type(event).__struct_config__.tag
        key = f"{event.call_id}:{kind}"
        if key in rows:
            duplicates += 1
            continue
        if isinstance(event, Offered):
            offered[key] = event
        rows[key] = {
            "call_id": event.call_id,
            "kind": str(kind),
            "dedupe_key": key,
            "occurred_at": event.at.astimezone(dt.UTC),
            "received_at": repo.utc(now),
            "integration": integration[:100],
            "payload": msgspec.json.encode(event).decode(),
            # A newly stored offered event makes its call row in this transaction (a call row is made only from
            # its one offered event), so it is applied as it is stored.
            "applied": isinstance(event, Offered),
        }
    inserted = await repo.insert_new_events(list(rows.values()))
    accepted = len(inserted)
    duplicates += len(rows) - accepted
    fresh_calls = {rows[r["dedupe_key"]]["call_id"] for r in inserted}
    fresh_offered = {o.call_id: o for r in inserted if (o := offered.get(r["dedupe_key"])) is not None}
    await apply_pending(fresh_calls, now=now, router=router, effects=effects, offered=fresh_offered)
    return IngestResult(accepted=accepted, duplicates=duplicates)


def _decoded(payload: Any) -> dict[str, Any]:
    value = msgspec.json.decode(payload) if isinstance(payload, str | bytes) else payload
    if isinstance(value, str):  # stored as a JSON string by the JSON column
        value = msgspec.json.decode(value)
    result: dict[str, Any] = value
    return result


async def apply_pending(
    call_ids: set[str],
    *,
    now: dt.datetime,
    router: TenantIndex,
    effects: Effects,
    offered: dict[str, Offered] | None = None,
) -> None:
    """Apply every stored, not yet applied event of these calls. Events of a call that has not been offered yet
    wait for its ``offered``. ``offered``: the offered events this batch has just stored (as applied): their calls
    cannot have a row yet, so none is read for them. New calls are inserted in one statement and the other events
    marked applied in one, so a batch costs a few queries, not a few per call."""
    if not call_ids:
        return
    offered = offered or {}
    calls = await repo.calls_by_id(call_ids - offered.keys())
    by_call: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in await repo.pending_events(call_ids):
        by_call[event["call_id"]].append(event)
    new_rows: list[dict[str, Any]] = []
    for call_id in sorted(call_ids - calls.keys()):
        offer = offered.get(call_id)
        if offer is None:
            stored = next((e for e in by_call.get(call_id, ()) if e["kind"] == "offered"), None)
            if stored is None:
                continue  # answered / ended before offered: kept until the offered arrives
            offer = msgspec.convert(_decoded(stored["payload"]), Offered)
        new_rows.append(await _new_call(call_id, offer, router=router, now=now))
    if new_rows:
        inserted = await repo.insert_calls(new_rows)
        for row in inserted:
            calls[row["call_id"]] = row
        existing = {row["call_id"] for row in new_rows} - {row["call_id"] for row in inserted}
        if existing:  # a row made meanwhile by another transaction: apply the events to it
            calls.update(await repo.calls_by_id(existing))
        effects.queue_changed = True
        effects.calls_queued += len(inserted)
    applied: list[int] = []
    for call_id, events in by_call.items():
        found = calls.get(call_id)
        if found is None:
            continue  # answered / ended before offered: kept until the offered arrives
        row = found
        changes: dict[str, Any] = {}
        for event in events:
            if event["kind"] != "offered":
                changes.update(fold({**row, **changes}, event["kind"], _decoded(event["payload"])))
            applied.append(event["id"])
        if changes:
            await _commit_changes(row, changes, now=now, effects=effects)
    await repo.mark_applied(applied)


async def _new_call(call_id: str, offered: Offered, *, router: TenantIndex, now: dt.datetime) -> dict[str, Any]:
    route = await router.route(offered.dialled_number, offered.at)
    return {
        "call_id": call_id,
        "integration": "",
        "dialled_number": offered.dialled_number,
        "kommune_code": route.kommune_code,
        "mode": route.mode,
        "misrouted": route.misrouted,
        "caller_number": offered.caller_number or "",
        "caller_withheld": offered.caller_number is None,
        "language": offered.language,
        "priority": offered.priority,
        "caller_topic": offered.topic,
        "status": "queued",
        "offered_at": offered.at.astimezone(dt.UTC),
        "ring_attempts": 0,
        "updated_at": repo.utc(now),
    }


async def _commit_changes(
    before: dict[str, Any], changes: dict[str, Any], *, now: dt.datetime, effects: Effects
) -> dict[str, Any]:
    """Write the changes (and the status they imply) and the presence moves that follow; returns the call row as
    it now stands, so that no caller needs to read it again."""
    after = {**before, **changes}
    call_id = before["call_id"]
    status = derived_status(after) or before["status"]
    if STATUS_ORDER[status] < STATUS_ORDER[before["status"]]:
        status = before["status"]  # never backwards
    values = {key: (repo.utc(v) if isinstance(v, dt.datetime) else v) for key, v in changes.items()}
    values["status"] = status
    values["updated_at"] = repo.utc(now)
    ringing_agent: int = before.get("ring_agent_id") or 0
    if before["status"] in ("ringing", "callback") and status not in ("ringing", "queued") and ringing_agent:
        values["ring_agent_id"] = None
        values["ring_until"] = None
    await repo.update_call(call_id, values)
    if before["status"] in ("queued", "ringing") and status not in ("queued", "ringing"):
        effects.queue_changed = True
    answerer = after.get("agent_id") if after.get("answered_at") else None
    released = (
        bool(ringing_agent) and before["status"] == "ringing" and status != "ringing" and ringing_agent != answerer
    )
    if released and await move_presence(
        ringing_agent, "available", now, effects, state_in=("ringing",), call_id_is=call_id
    ):
        effects.cancelled.append((ringing_agent, call_id))
    if status == "answered" and answerer and "answered_at" in changes:
        await move_presence(answerer, "on_call", now, effects, current_call_id=call_id)
    elif status == "wrap_up" and answerer:
        on_call = await move_presence(
            answerer, "wrap_up", now, effects, state_in=("on_call",), call_id_is=call_id, current_call_id=call_id
        )
        if not on_call and "answered_at" in changes:
            # answered and ended arrived together: the agent goes straight to wrap-up for this call
            await move_presence(answerer, "wrap_up", now, effects, current_call_id=call_id)
    if status == "callback" and "callback_requested_at" in changes:
        await _queue_callback(after, number="", now=now)
    return {**before, **values}


async def _queue_callback(call: dict[str, Any], *, number: str, now: dt.datetime) -> bool:
    target = number or call.get("caller_number") or ""
    if not target or await repo.callback_exists(call["call_id"]):
        return False
    await repo.insert_callback(
        {
            "call_id": call["call_id"],
            "kommune_code": call.get("kommune_code") or "",
            "number": target,
            "language": call.get("language") or "da",
            "requested_at": repo.utc(now),
            "status": "queued",
            "attempts": 0,
        }
    )
    return True


# -- retention --------------------------------------------------------------------------------------------

RETENTION_BATCH: Final = 500
"""Rows of each table anonymised per transaction: the write lock is held in short steps."""
RETENTION_BATCHES_PER_PASS: Final = 4
"""Transactions per pass at most: a first sweep over a long history is spread over several ticks."""
CALLBACK_EXPIRED: Final = "expired"
"""The outcome of a callback still waiting when its number reached the end of its retention."""


@dataclass
class RetentionSwept:
    """What one pass of :func:`retention_sweep` anonymised, per kommune code (counts only: nothing personal)."""

    calls: dict[str, int] = field(default_factory=dict)
    callbacks: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    more: bool = False
    """The pass stopped after its last batch with rows still due: sweep again soon."""


def _add(counts: dict[str, int], codes: list[str]) -> None:
    for code in codes:
        counts[code] = counts.get(code, 0) + 1


async def retention_sweep(
    now: dt.datetime, *, batch: int = RETENTION_BATCH, max_batches: int = RETENTION_BATCHES_PER_PASS
) -> RetentionSwept:
    """Erase the personal data of calls, callbacks and telephony events past their kommune's retention (see the
    module docstring). One read when nothing is due; otherwise up to ``max_batches`` transactions (each joins the
    caller's, if there is one) of at most ``batch`` rows per table. A row already anonymised is never written
    again, and several processes may sweep at once (every update re-checks that the row still holds data)."""
    cutoffs = (await tenancy.retention()).cutoffs(now)
    swept = RetentionSwept()
    # Look before writing: on SQLite even an UPDATE that changes nothing takes the write lock.
    if not await repo.personal_data_past(cutoffs):
        return swept
    for _ in range(max_batches):
        # Read what is due outside the transaction, so that the write lock (SQLite) is held for the updates only;
        # each update re-checks its row, so a row that changed meanwhile is left as it is.
        call_ids = await repo.call_ids_past_retention(cutoffs, batch)
        callback_ids = await repo.callbacks_past_retention(cutoffs, batch)
        # A number given for a callback by a caller who withheld theirs, or an event whose call never came: a look
        # at the events themselves, so only once the calls and callbacks are done.
        rest = len(call_ids) < batch and len(callback_ids) < batch
        events = await repo.callback_events_past_retention(cutoffs, batch) if rest else []
        async with repo.transaction():
            calls = await repo.anonymise_calls(call_ids)
            await repo.give_up_callbacks(callback_ids, CALLBACK_EXPIRED)
            callbacks = await repo.anonymise_callbacks(callback_ids)
            kommune_of = {**callbacks, **calls, **{event["call_id"]: event["kommune_code"] for event in events}}
            stripped = await repo.strip_event_numbers_of_calls(sorted({**callbacks, **calls}))
            stripped += await repo.strip_event_numbers([event["id"] for event in events])
        _add(swept.calls, list(calls.values()))
        _add(swept.callbacks, list(callbacks.values()))
        _add(swept.events, [kommune_of.get(call_id, "") for call_id in stripped])
        full = batch in (len(call_ids), len(callback_ids), len(events))
        swept.more = full and bool(calls or callbacks or stripped)
        if not swept.more:
            break
    if swept.calls or swept.callbacks or swept.events:
        counts = (swept.calls, swept.callbacks, swept.events)
        log.info("retention sweep anonymised per kommune: calls %s, callbacks %s, events %s", *counts)
    return swept


# -- presence ---------------------------------------------------------------------------------------------


async def move_presence(
    user_id: int,
    to_state: str,
    now: dt.datetime,
    effects: Effects,
    *,
    state_in: tuple[str, ...] | None = None,
    call_id_is: str | None = None,
    current_call_id: str = "",
    row: dict[str, Any] | None = None,
    skip_locked: bool = False,
) -> bool:
    """Move an agent to ``to_state`` when their presence matches (optimistic: the update only applies while the
    row still holds what was read, so a ``row`` read earlier in the transaction may be passed in), closing the
    previous stretch as a :class:`PresenceSpan`. ``skip_locked``: see :func:`repository.update_presence`.

    On PostgreSQL, with no ``row`` read before, the whole move is one statement (it runs on every answer and
    wrap-up, where a round trip saved is latency saved)."""
    if row is None and repo.is_postgres():
        outcome = await repo.move_presence_at_once(
            user_id, to_state, now, state_in=state_in, call_id_is=call_id_is, current_call_id=current_call_id
        )
        if outcome == "moved":
            effects.presence.append((user_id, to_state))
        return outcome != "no"
    if row is None:
        row = await repo.presence(user_id)
    if row is None:
        return False
    if state_in is not None and row["state"] not in state_in:
        return False
    if call_id_is is not None and row["current_call_id"] != call_id_is:
        return False
    if row["state"] == to_state and row["current_call_id"] == current_call_id:
        return True
    values: dict[str, Any] = {"state": to_state, "since": repo.utc(now), "current_call_id": current_call_id}
    if to_state == "available":
        values["idle_since"] = repo.utc(now)
    span = None
    if row["state"] != "offline" and row["state"] != to_state:
        span = {
            "user_id": user_id,
            "home_kommune": row["home_kommune"],
            "state": row["state"],
            "started_at": repo.utc(row["since"]),
            "ended_at": repo.utc(now),
        }
    changed = await repo.update_presence(
        user_id,
        values,
        state_in=[row["state"]],
        current_call_id=row["current_call_id"],
        skip_locked=skip_locked,
        span=span,
    )
    if not changed:
        return False
    effects.presence.append((user_id, to_state))
    return True


async def set_presence(
    user_id: int,
    state: str,
    now: dt.datetime,
    effects: Effects,
    *,
    display_name: str,
    home_kommune: str,
    languages: list[str] | None = None,
    skills: list[str] | None = None,
) -> PresenceOut:
    """The agent's own choice: available, pause or offline. Refused (409) while a call rings or is in hand."""
    row = await repo.presence(user_id)
    if row is None:
        await repo.insert_presence(
            {
                "user_id": user_id,
                "display_name": display_name[:200],
                "home_kommune": home_kommune[:4],
                "state": "offline",
                "since": repo.utc(now),
                "idle_since": repo.utc(now),
                "languages": msgspec.json.encode(languages or ["da"]).decode(),
                "skills": msgspec.json.encode(skills or []).decode(),
                "current_call_id": "",
                "node": "",
                "last_seen_at": repo.utc(now),
            }
        )
        row = await repo.presence(user_id)
        if row is None:  # pragma: no cover  (just inserted in this transaction)
            raise RuntimeError("the presence row vanished")
    elif languages is not None or skills is not None:
        extra: dict[str, Any] = {}
        if languages is not None:
            extra["languages"] = msgspec.json.encode(languages or ["da"]).decode()
        if skills is not None:
            extra["skills"] = msgspec.json.encode(skills).decode()
        await repo.update_presence(user_id, extra)
    if row["state"] in BUSY_STATES:
        raise ConsoleError(
            f"you are {row['state'].replace('_', ' ')} on a call: finish it (answer, or wrap up) before "
            f"changing to {state}",
            status=409,
            field="state",
        )
    await repo.update_presence(user_id, {"last_seen_at": repo.utc(now)})
    if not await move_presence(user_id, state, now, effects, state_in=(row["state"],), row=row):
        raise ConsoleError("your presence changed meanwhile; try again", status=409, field="state")
    return PresenceOut(state=state, since=now.astimezone(dt.UTC))


async def presence_of(user_id: int) -> PresenceOut | None:
    row = await repo.presence(user_id)
    if row is None:
        return None
    return PresenceOut(state=row["state"], since=row["since"], current_call_id=row["current_call_id"])


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return list(_decoded_list(value))
    decoded = msgspec.json.decode(value) if isinstance(value, bytes) else value
    if isinstance(decoded, str):
        decoded = msgspec.json.decode(decoded)
    return [str(item) for item in decoded or []]


@functools.lru_cache(maxsize=512)
def _decoded_list(text: str) -> tuple[str, ...]:
    """A stored JSON list (languages, skills): the same few texts come back on every assignment round."""
    decoded = msgspec.json.decode(text)
    if isinstance(decoded, str):
        decoded = msgspec.json.decode(decoded)
    return tuple(str(item) for item in decoded or [])


# -- the queue ----------------------------------------------------------------------------------------------


def _offer_of(
    call: dict[str, Any],
    user_id: int,
    *,
    callback: bool = False,
    number: str = "",
    ring_until: dt.datetime | None = None,
) -> Offer:
    return Offer(
        user_id=user_id,
        call_id=call["call_id"],
        kommune_code=call["kommune_code"],
        mode=call["mode"],
        misrouted=bool(call["misrouted"]),
        caller_number=number or call["caller_number"],
        language=call["language"],
        offered_at=call["offered_at"],
        callback=callback,
        ring_until=ring_until,
    )


AGENTS_READ_PER_CALL: Final = 3
AGENTS_READ_AT_LEAST: Final = 12


def _decoded_agents(agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for agent in agents:  # decoded once per round, not once per call and agent
        agent["languages"] = _list(agent["languages"]) or ["da"]
        agent["skills"] = _list(agent["skills"])
    return agents


def _every_call_has_a_fit(calls: list[dict[str, Any]], agents: list[dict[str, Any]]) -> bool:
    """Whether each call has a distinct agent with its language, topic-skilled when the call has a topic and
    anyone available has the skill (a greedy check, the same order assignment uses)."""
    used: set[int] = set()
    for call in calls:
        topic = call.get("caller_topic") or ""
        fit = [a for a in agents if a["user_id"] not in used and call["language"] in a["languages"]]
        skilled = [a for a in fit if topic in a["skills"]] if topic else fit
        if not skilled:
            return False
        used.add(skilled[0]["user_id"])
    return True


async def assign(now: dt.datetime, options: QueueOptions, effects: Effects) -> int:
    """Offer waiting calls (then queued callbacks) to the longest-idle available agents with the right skills.
    Runs in the caller's transaction; returns how many were offered."""
    # The waiting side first: after most wrap-ups nothing waits, and then one query settles it. When this
    # transaction has just queued calls, that question is answered already.
    if not effects.calls_queued and not await repo.anything_waiting():
        return 0
    calls = await repo.queued_calls(options.batch)
    # A few longest-idle agents per waiting call are enough almost always. All available agents are read when a
    # call finds no one with its language (or its topic) among them, when callbacks wait too, or when concurrent
    # assignments (other requests, other processes) took every one of them: no call is left waiting while an
    # agent further down the idle list could take it.
    wanted = max(len(calls) * AGENTS_READ_PER_CALL, AGENTS_READ_AT_LEAST)
    agents = _decoded_agents(await repo.available_agents(limit=wanted))
    complete = len(agents) < wanted
    if not complete and (agents[0]["callbacks_waiting"] or not _every_call_has_a_fit(calls, agents)):
        agents = _decoded_agents(await repo.available_agents(limit=max(options.batch * 2, 1000)))
        complete = True
    if not agents:
        return 0
    used: set[int] = set()
    offered = 0
    ring_until = repo.utc(now + options.ring_timeout)

    async def offer(call: dict[str, Any]) -> bool | None:
        """True: offered; False: the call moved on meanwhile; None: none of ``agents`` could take it."""
        fit = [a for a in agents if a["user_id"] not in used and call["language"] in a["languages"]]
        topic = call.get("caller_topic") or ""
        if topic:
            fit = [a for a in fit if topic in a["skills"]] + [a for a in fit if topic not in a["skills"]]
        for agent in fit:
            user_id = agent["user_id"]
            used.add(user_id)
            if not await move_presence(
                user_id,
                "ringing",
                now,
                effects,
                state_in=("available",),
                current_call_id=call["call_id"],
                row=agent,
                skip_locked=True,
            ):
                continue  # another transaction took (or is taking) this agent
            taken = await repo.update_call(
                call["call_id"],
                {
                    "status": "ringing",
                    "ring_agent_id": user_id,
                    "ring_until": ring_until,
                    "ring_attempts": call["ring_attempts"] + 1,
                    "updated_at": repo.utc(now),
                },
                status_in=["queued"],
            )
            if not taken:  # the call moved on meanwhile (answered, abandoned): give the agent back
                effects.presence.pop()
                await move_presence(user_id, "available", now, effects, state_in=("ringing",))
                return False
            effects.offers.append(_offer_of(call, user_id, ring_until=ring_until))
            return True
        return None

    for call in calls:
        outcome = await offer(call)
        if outcome is None and not complete:
            agents = _decoded_agents(await repo.available_agents(limit=max(options.batch * 2, 1000)))
            complete = True
            outcome = await offer(call)
        offered += bool(outcome)
    rest = [a for a in agents if a["user_id"] not in used]
    if rest and rest[0]["callbacks_waiting"]:
        offered += await _assign_callbacks(rest, now, options, effects)
    return offered


async def _assign_callbacks(
    agents: list[dict[str, Any]], now: dt.datetime, options: QueueOptions, effects: Effects
) -> int:
    callbacks = await repo.queued_callbacks(len(agents))
    calls = await repo.calls_by_id([c["call_id"] for c in callbacks])
    used: set[int] = set()
    offered = 0
    for callback in callbacks:
        call = calls.get(callback["call_id"])
        if call is None:
            continue
        for agent in agents:
            if agent["user_id"] in used or callback["language"] not in agent["languages"]:
                continue
            used.add(agent["user_id"])
            if not await move_presence(
                agent["user_id"], "ringing", now, effects, state_in=("available",), current_call_id=call["call_id"]
            ):
                continue
            await repo.update_callback(
                callback["call_id"],
                {"status": "assigned", "agent_id": agent["user_id"], "attempts": callback["attempts"] + 1},
                status_in=["queued"],
            )
            ring_until = repo.utc(now + options.ring_timeout)
            await repo.update_call(call["call_id"], {"ring_agent_id": agent["user_id"], "ring_until": ring_until})
            effects.offers.append(
                _offer_of(call, agent["user_id"], callback=True, number=callback["number"], ring_until=ring_until)
            )
            offered += 1
            break
    return offered


async def ring_timeouts(now: dt.datetime, effects: Effects) -> int:
    """Calls (and callbacks) that rang past their timeout go back to the queue; the agent goes to pause."""
    count = 0
    for row in await repo.ringing_past(now):
        call_id, agent = row["call_id"], row["ring_agent_id"]
        if row["status"] == "ringing":
            back = await repo.update_call(
                call_id, {"status": "queued", "ring_agent_id": None, "ring_until": None}, status_in=["ringing"]
            )
        else:
            await repo.update_call(call_id, {"ring_agent_id": None, "ring_until": None}, status_in=["callback"])
            back = await repo.update_callback(call_id, {"status": "queued", "agent_id": None}, status_in=["assigned"])
        if back:
            count += 1
            effects.queue_changed = True
            if await move_presence(agent, "pause", now, effects, state_in=("ringing",), call_id_is=call_id):
                effects.cancelled.append((agent, call_id))
    return count


async def offer_callbacks_past_max_wait(now: dt.datetime, options: QueueOptions, effects: Effects) -> int:
    """A caller who has waited past the maximum is offered a callback: queued with the kommune and the number.
    A withheld number cannot be called back; that call keeps waiting."""
    count = 0
    for call in await repo.waiting_past(now - options.max_wait):
        if not call["caller_number"]:
            continue
        moved = await repo.update_call(
            call["call_id"],
            {"status": "callback", "callback_requested_at": repo.utc(now), "updated_at": repo.utc(now)},
            status_in=["queued"],
        )
        if moved and await _queue_callback(call, number="", now=now):
            count += 1
            effects.queue_changed = True
    return count


async def expire_stale_agents(now: dt.datetime, options: QueueOptions, effects: Effects) -> int:
    """Agents whose live connection's process stopped vouching for them (it died, or the tab closed) go offline;
    a call ringing for them goes back to the queue."""
    count = 0
    for agent in await repo.stale_agents(now - options.stale_after):
        if agent["state"] == "ringing" and agent["current_call_id"]:
            requeued = await repo.update_call(
                agent["current_call_id"],
                {"status": "queued", "ring_agent_id": None, "ring_until": None},
                status_in=["ringing"],
            )
            requeued_callback = await repo.update_callback(
                agent["current_call_id"], {"status": "queued", "agent_id": None}, status_in=["assigned"]
            )
            if requeued or requeued_callback:  # the platform stops ringing them (a ring instruction's withdraw)
                effects.cancelled.append((agent["user_id"], agent["current_call_id"]))
        if await move_presence(agent["user_id"], "offline", now, effects, state_in=(agent["state"],)):
            count += 1
    return count


# -- console actions ----------------------------------------------------------------------------------------


async def _own_call(user_id: int, call_id: str) -> dict[str, Any]:
    call = await repo.call(call_id)
    if call is None:
        raise ConsoleError(f"no call {call_id!r}", status=404, field="call_id")
    return call


async def answer(user_id: int, call_id: str, now: dt.datetime, effects: Effects) -> CallOut:
    """The agent answers in the console: the same as the platform's ``answered`` for this agent."""
    answered = await repo.answer_ringing(call_id, user_id, now)
    if answered is not None:  # the common case, settled in one statement: it rang for this agent
        effects.queue_changed = True
        await move_presence(user_id, "on_call", now, effects, current_call_id=call_id)
        return _call_out(answered)
    call = await _own_call(user_id, call_id)
    if call["status"] == "callback":
        callback = await repo.callback(call_id)
        if callback is None or callback["status"] != "assigned" or callback["agent_id"] != user_id:
            raise ConsoleError("this callback is not offered to you", status=409, field="call_id")
        values: dict[str, Any] = {"agent_id": user_id, "ring_agent_id": None, "ring_until": None}
        await repo.update_call(call_id, values)
        await move_presence(user_id, "on_call", now, effects, current_call_id=call_id)
        return _call_out({**call, **values})
    if call["status"] in ("answered", "wrap_up") and call["agent_id"] == user_id:
        return _call_out(call)
    if call["status"] not in ("queued", "ringing") or (
        call["status"] == "ringing" and call["ring_agent_id"] != user_id
    ):
        raise ConsoleError(f"this call is {call['status']} and not offered to you", status=409, field="call_id")
    updated = await _commit_changes(
        call, {"answered_at": now.astimezone(dt.UTC), "agent_id": user_id}, now=now, effects=effects
    )
    return _call_out(updated)


async def transfer(user_id: int, call_id: str, to_number: str, now: dt.datetime, router: TenantIndex) -> CallOut:
    """Record a warm transfer; only to one of the caller's kommune's department numbers."""
    call = await _own_call(user_id, call_id)
    if call["agent_id"] != user_id or call["status"] not in ("answered", "wrap_up", "callback"):
        raise ConsoleError("only the agent on the call can transfer it", status=409, field="call_id")
    tenant = await router.tenant(call["kommune_code"]) if call["kommune_code"] else None
    numbers = {d.phone for d in tenant.departments} if tenant else set()
    if to_number not in numbers:
        raise ConsoleError(
            f"to_number: {to_number} is not a department number of the caller's kommune", field="to_number"
        )
    values = {"transferred_to": to_number, "transferred_at": repo.utc(now), "updated_at": repo.utc(now)}
    await repo.update_call(call_id, values)
    return _call_out({**call, **values})


async def wrap_up(
    user_id: int,
    call_id: str,
    body: WrapUpIn,
    now: dt.datetime,
    effects: Effects,
    *,
    known_topics: set[str],
    agent_name: str,
) -> CallOut:
    """Record outcome, topic and notes (CPR numbers masked first), hand off when asked, and free the agent.
    One transaction (the caller's): a refused hand-off leaves nothing half-recorded."""
    masked = contains_cpr(body.notes)
    values: dict[str, Any] = {
        "outcome": body.outcome,
        "topic": body.topic,
        "notes": mask_cpr(body.notes),
        "wrapped_up_at": repo.utc(now),
        "status": "done",
        "updated_at": repo.utc(now),
    }
    simple = body.outcome not in ("handed_off", "callback") and (not body.topic or body.topic in known_topics)
    if simple and (finished := await repo.finish_call(call_id, user_id, values)) is not None:
        # The common wrap-up, settled in one statement: the agent holds the call and nothing else follows.
        await move_presence(
            user_id, "available", now, effects, state_in=("on_call", "wrap_up", "ringing"), call_id_is=call_id
        )
        return msgspec.structs.replace(_call_out(finished), notes_masked=masked)
    call = await _own_call(user_id, call_id)
    callback = await repo.callback(call_id) if call["status"] == "callback" else None
    mine = call["agent_id"] == user_id and call["status"] in ("answered", "wrap_up", "callback")
    if not mine:
        raise ConsoleError(f"this call is {call['status']} and not yours to wrap up", status=409, field="call_id")
    if body.topic and body.topic not in known_topics:
        raise ConsoleError(f"topic: {body.topic!r} is not a topic of the federation's taxonomy", field="topic")
    if body.outcome == "handed_off" and body.handoff is None:
        raise ConsoleError("handoff: a hand-off needs a description of what the citizen needs", field="handoff")
    if body.outcome == "handed_off" and not body.topic:
        raise ConsoleError("topic: a hand-off needs the topic (it decides the department)", field="topic")
    handoff_id = ""
    if body.outcome == "handed_off" and body.handoff is not None:
        from hotline.handoffs.service import create_handoff

        description = mask_cpr(body.handoff.description)
        created = await create_handoff(
            call_id=call_id,
            kommune_code=call["kommune_code"],
            topic=body.topic,
            description=description,
            citizen_email=body.handoff.citizen_email,
            citizen_phone="",
            language=call["language"] if call["language"] in ("da", "en") else "da",
            created_by=agent_name,
            now=now,
        )
        handoff_id = created.handoff_id
    await repo.update_call(call_id, values)
    if callback is not None:
        await repo.update_callback(
            call_id, {"status": "done", "done_at": repo.utc(now), "outcome": body.outcome}, status_in=["assigned"]
        )
    elif body.outcome == "callback":
        await _queue_callback(call, number="", now=now)
        effects.queue_changed = True
    await move_presence(
        user_id, "available", now, effects, state_in=("on_call", "wrap_up", "ringing"), call_id_is=call_id
    )
    out = _call_out({**call, **values})
    return msgspec.structs.replace(out, notes_masked=masked, handoff_id=handoff_id)


def _call_out(row: dict[str, Any]) -> CallOut:
    return CallOut(
        call_id=row["call_id"],
        status=row["status"],
        kommune_code=row["kommune_code"],
        mode=row["mode"],
        misrouted=bool(row["misrouted"]),
        outcome=row["outcome"],
        topic=row["topic"],
        notes=row["notes"],
        transferred_to=row["transferred_to"],
    )
