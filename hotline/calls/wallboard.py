"""The coordinator's live wallboard: how the federation queue stands right now and how the evening has gone.

One :class:`Snapshot` is computed from three cheap queries (tonight's counts grouped in SQL, the last hour's calls,
current presence) and is shared by every viewer in the process for one tick (:data:`TICK`), so fifty wallboards on
a wall cost one computation per two seconds, not fifty. Each process computes its own from the database (the app
keeps no queue state in memory), so any replica can serve any wallboard.

Definitions:

- *tonight* starts at 16:00 Copenhagen time on weekdays and at 08:00 on Saturdays and Sundays (weekend daytime
  service); before that hour the board shows the previous day's session.
- *waiting*: calls queued or ringing; *longest wait*: the oldest of them.
- *service level*: calls answered within :data:`SERVICE_LEVEL_SECONDS` of being offered, out of the calls that left
  the queue tonight (answered, abandoned or turned into a callback). ``None`` before any call left the queue.

Kommune admins see the same board filtered to their kommune: its calls, and its own agents on shift.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Litestar, Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import QueryParameter
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage

from hotline.calls.messages import MESSAGES
from hotline.calls.tables import AgentPresence, Call
from hotline.identity import audit
from hotline.identity.guards import ACCESS_KEY, Access, client_ip, principal_of
from hotline.web.i18n import DEFAULT_LANGUAGE
from hotline.web.templating import page

CPH: Final = ZoneInfo("Europe/Copenhagen")
TICK: Final = 2.0
"""Seconds between two computations (and two pushes to the viewers)."""
SERVICE_LEVEL_SECONDS: Final = 60
SPARKLINE_MINUTES: Final = 60
TOP_KOMMUNER: Final = 12
WAITING_STATES: Final = ("queued", "ringing")
PRESENCE_STATES: Final = ("available", "ringing", "on_call", "wrap_up", "pause")
WEEKDAY_START: Final = dt.time(16, 0)
WEEKEND_START: Final = dt.time(8, 0)
NAMES_TTL: Final = 300.0
STREAM_LIFETIME: Final = 600.0
"""Seconds a stream lives before it ends and the browser reconnects: a revoked or expired session stops seeing the
board within this time, and no connection lives forever."""
RECONNECT_MS: Final = 2000


def evening_start(now: dt.datetime) -> dt.datetime:
    """When tonight's session began (see the module docstring), as an aware UTC instant."""
    local = now.astimezone(CPH)

    def start_of(day: dt.date) -> dt.datetime:
        opening = WEEKEND_START if day.weekday() >= 5 else WEEKDAY_START
        return dt.datetime.combine(day, opening, tzinfo=CPH)

    start = start_of(local.date())
    if local < start:
        start = start_of(local.date() - dt.timedelta(days=1))
    return start.astimezone(dt.UTC)


def _utc(moment: Any) -> dt.datetime | None:
    if moment is None:
        return None
    if not isinstance(moment, dt.datetime):
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class KommuneCount:
    code: str
    name: str
    calls: int


@dataclass(frozen=True)
class Snapshot:
    """The wallboard's figures at one instant. ``kommune`` is "" for the federation-wide board."""

    at: dt.datetime
    since: dt.datetime
    kommune: str
    waiting: int
    longest_wait: int
    """Seconds the longest-waiting caller has waited (0 when nobody waits)."""
    agents: dict[str, int]
    offered: int
    answered: int
    abandoned: int
    callbacks: int
    answered_in_time: int
    non_member: int
    unknown: int
    per_kommune: list[KommuneCount]
    waiting_history: list[int]
    """Calls waiting at each minute of the last hour, oldest first (the last point is now)."""

    @property
    def available(self) -> int:
        return self.agents.get("available", 0)

    @property
    def on_shift(self) -> int:
        return sum(self.agents.values())

    @property
    def left_queue(self) -> int:
        return self.answered + self.abandoned + self.callbacks

    @property
    def service_level(self) -> float | None:
        """Share (0–1) of the calls that left the queue that were answered in time."""
        return self.answered_in_time / self.left_queue if self.left_queue else None


class KommuneNames:
    """Kommune names by code, from the tenancy service, refreshed every few minutes (names rarely change)."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._loaded = -NAMES_TTL

    async def get(self) -> dict[str, str]:
        if time.monotonic() - self._loaded >= NAMES_TTL:
            from hotline.tenancy import service as tenancy

            self._names = {tenant.code: tenant.name for tenant in await tenancy.load_tenants()}
            self._loaded = time.monotonic()
        return self._names


HISTORY_REACH: Final = dt.timedelta(minutes=SPARKLINE_MINUTES + 10)
"""Calls offered this far back feed the waiting history (a caller waits minutes, not ten more: past the maximum
wait a callback is offered)."""

# Tonight's counts in one grouped query; "answered in time" is the only backend-specific part.
_TONIGHT_SQL: Final = """
SELECT kommune_code, mode, COUNT(*) AS offered,
  SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered,
  SUM(CASE WHEN answered_at IS NOT NULL AND {in_time} THEN 1 ELSE 0 END) AS in_time,
  SUM(CASE WHEN answered_at IS NULL AND (abandoned_at IS NOT NULL OR status = 'abandoned') THEN 1 ELSE 0 END)
    AS abandoned,
  SUM(CASE WHEN answered_at IS NULL AND abandoned_at IS NULL AND status <> 'abandoned'
    AND (callback_requested_at IS NOT NULL OR status = 'callback') THEN 1 ELSE 0 END) AS callbacks
FROM call WHERE offered_at >= {{}} AND offered_at <= {{}}{kommune}
GROUP BY kommune_code, mode
"""
_IN_TIME: Final = {
    "sqlite": f"(julianday(answered_at) - julianday(offered_at)) * 86400 <= {SERVICE_LEVEL_SECONDS}",
    "postgres": f"answered_at <= offered_at + interval '{SERVICE_LEVEL_SECONDS} seconds'",
}


async def _tonight(since: dt.datetime, now: dt.datetime, kommune: str) -> list[dict[str, Any]]:
    engine_type = Call._meta.db.engine_type
    sql = _TONIGHT_SQL.format(
        in_time=_IN_TIME["sqlite" if engine_type == "sqlite" else "postgres"],
        kommune=" AND kommune_code = {}" if kommune else "",
    )
    args: list[Any] = [since, now, kommune] if kommune else [since, now]
    rows: list[dict[str, Any]] = await Call.raw(sql, *args).run()
    return rows


async def compute(now: dt.datetime, kommune: str = "", names: dict[str, str] | None = None) -> Snapshot:
    """The figures at ``now`` for the whole federation (``kommune`` "") or one kommune: one grouped query for
    tonight's counts, one for the calls of the last hour (waiting now, and the history), one for presence."""
    now = now.astimezone(dt.UTC)
    since = evening_start(now)

    recent = Call.select(
        Call.status, Call.offered_at, Call.answered_at, Call.abandoned_at, Call.callback_requested_at, Call.ended_at
    ).where((Call.offered_at >= now - HISTORY_REACH) | Call.status.is_in(list(WAITING_STATES)))
    presence = AgentPresence.select(AgentPresence.state).where(AgentPresence.state != "offline")
    if kommune:
        recent = recent.where(Call.kommune_code == kommune)
        presence = presence.where(AgentPresence.home_kommune == kommune)
    agents = Counter(str(row["state"]) for row in await presence.run())

    waiting = 0
    oldest: dt.datetime | None = None
    # (offered, left) per call for the waiting history; "left" is when it stopped waiting (None: still waits).
    spans: list[tuple[dt.datetime, dt.datetime | None]] = []
    for row in await recent.run():
        offered_at = _utc(row["offered_at"])
        if offered_at is None:
            continue
        if row["status"] in WAITING_STATES:
            waiting += 1
            oldest = offered_at if oldest is None else min(oldest, offered_at)
            spans.append((offered_at, None))
            continue
        moments = (row["answered_at"], row["abandoned_at"], row["callback_requested_at"], row["ended_at"])
        spans.append((offered_at, min((m for m in map(_utc, moments) if m), default=now)))

    offered = answered = abandoned = callbacks = in_time = non_member = unknown = 0
    per_kommune: Counter[str] = Counter()
    for group in await _tonight(since, now, kommune):
        count = int(group["offered"] or 0)
        offered += count
        answered += int(group["answered"] or 0)
        in_time += int(group["in_time"] or 0)
        abandoned += int(group["abandoned"] or 0)
        callbacks += int(group["callbacks"] or 0)
        if group["mode"] == "non_member":
            non_member += count
        elif group["mode"] == "unknown":
            unknown += count
        per_kommune[str(group["kommune_code"] or "")] += count

    names = names or {}
    counts = [
        KommuneCount(code=code, name=names.get(code, code) if code else "", calls=calls)
        for code, calls in sorted(per_kommune.items(), key=lambda item: (-item[1], item[0]))
    ]
    return Snapshot(
        at=now,
        since=since,
        kommune=kommune,
        waiting=waiting,
        longest_wait=max(0, int((now - oldest).total_seconds())) if oldest else 0,
        agents={state: agents.get(state, 0) for state in PRESENCE_STATES},
        offered=offered,
        answered=answered,
        abandoned=abandoned,
        callbacks=callbacks,
        answered_in_time=in_time,
        non_member=non_member,
        unknown=unknown,
        per_kommune=counts,
        waiting_history=_waiting_history(spans, now),
    )


def _waiting_history(spans: list[tuple[dt.datetime, dt.datetime | None]], now: dt.datetime) -> list[int]:
    """Calls waiting at each whole minute back from ``now`` (oldest first): a call counts at sample ``k`` when
    ``offered <= sample < left``. One pass over the calls with a difference array, not calls × samples."""
    first = now - dt.timedelta(minutes=SPARKLINE_MINUTES)
    samples = SPARKLINE_MINUTES + 1
    delta = [0] * (samples + 1)
    for start, left in spans:
        # First sample at or after ``start``; first sample at or after ``left`` (no longer waiting there).
        begin = max(0, math.ceil((start - first).total_seconds() / 60))
        end = samples if left is None else min(samples, max(0, math.ceil((left - first).total_seconds() / 60)))
        if begin < end:
            delta[begin] += 1
            delta[end] -= 1
    history, running = [], 0
    for index in range(samples):
        running += delta[index]
        history.append(running)
    return history


# -- drawing: geometry for the inline SVG charts ------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: float
    width: float


@dataclass(frozen=True)
class Charts:
    """Coordinates for the template's SVG (viewBox units); the template only places them."""

    kommune_bars: list[Bar]
    kommune_height: int
    gauge_waiting: float
    gauge_available: float
    gauge_max: int
    presence_segments: list[tuple[str, int, float, float]]
    """(state, count, x, width) of the stacked presence bar."""
    sparkline: str
    """The ``points`` of the sparkline polyline."""
    sparkline_max: int


BAR_WIDTH: Final = 540.0
"""The longest kommune bar (viewBox 900 wide, bars from x 270): room is left for a three-digit count after it."""
GAUGE_WIDTH: Final = 320.0
PRESENCE_WIDTH: Final = 520.0
ROW_HEIGHT: Final = 36
SPARK_WIDTH: Final = 600.0
SPARK_HEIGHT: Final = 120.0


def _short(name: str) -> str:
    """ "Faaborg-Midtfyn Kommune" → "Faaborg-Midtfyn": every bar is a kommune, and the room reads the name."""
    return name.removesuffix(" Kommune").removesuffix(" Kommunes").strip()


def charts(snapshot: Snapshot, other_label: str, unknown_label: str) -> Charts:
    shown = snapshot.per_kommune[:TOP_KOMMUNER]
    rest = sum(item.calls for item in snapshot.per_kommune[TOP_KOMMUNER:])
    rows = [(_short(item.name) or unknown_label, item.calls) for item in shown]
    if rest:
        rows.append((other_label, rest))
    top = max((value for _, value in rows), default=0) or 1
    bars = [
        Bar(label=label, value=value, y=index * ROW_HEIGHT, width=max(2.0, BAR_WIDTH * value / top))
        for index, (label, value) in enumerate(rows)
    ]
    gauge_max = max(snapshot.waiting, snapshot.available, 1)
    segments = []
    x = 0.0
    total = snapshot.on_shift or 1
    for state in PRESENCE_STATES:
        count = snapshot.agents.get(state, 0)
        width = PRESENCE_WIDTH * count / total
        if count:
            segments.append((state, count, x, width))
        x += width
    history = snapshot.waiting_history
    spark_max = max(history, default=0) or 1
    step = SPARK_WIDTH / max(1, len(history) - 1)
    points = " ".join(
        f"{index * step:.1f},{SPARK_HEIGHT - (SPARK_HEIGHT - 8) * value / spark_max - 4:.1f}"
        for index, value in enumerate(history)
    )
    return Charts(
        kommune_bars=bars,
        kommune_height=max(ROW_HEIGHT, len(bars) * ROW_HEIGHT),
        gauge_waiting=GAUGE_WIDTH * snapshot.waiting / gauge_max,
        gauge_available=GAUGE_WIDTH * snapshot.available / gauge_max,
        gauge_max=gauge_max,
        presence_segments=segments,
        sparkline=points,
        sparkline_max=max(history, default=0),
    )


# -- one computation per tick for every viewer of this process ------------------------------------------------


@dataclass
class WallboardHub:
    """Caches one :class:`Snapshot` per scope (federation or one kommune) for :data:`TICK` seconds, and one
    rendered fragment per (scope, language) and snapshot, so each tick costs one query pair and one render per
    scope however many wallboards are open."""

    tick: float = TICK
    names: KommuneNames = field(default_factory=KommuneNames)
    computations: int = 0
    _snapshots: dict[str, tuple[float, Snapshot]] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _rendered: dict[tuple[str, str], tuple[Snapshot, str]] = field(default_factory=dict)

    async def snapshot(self, now: dt.datetime, kommune: str = "") -> Snapshot:
        lock = self._locks.setdefault(kommune, asyncio.Lock())
        async with lock:
            cached = self._snapshots.get(kommune)
            if cached is not None and time.monotonic() - cached[0] < self.tick:
                return cached[1]
            snapshot = await compute(now, kommune, await self.names.get())
            self.computations += 1
            self._snapshots[kommune] = (time.monotonic(), snapshot)
            return snapshot

    def rendered(self, snapshot: Snapshot, language: str) -> str | None:
        cached = self._rendered.get((snapshot.kommune, language))
        return cached[1] if cached is not None and cached[0] is snapshot else None

    def remember(self, snapshot: Snapshot, language: str, html: str) -> None:
        self._rendered[(snapshot.kommune, language)] = (snapshot, html)


# -- texts ---------------------------------------------------------------------------------------------------
# The wallboard's texts live with the rest of the area's in ``hotline/calls/messages.py`` (keys ``wallboard.*``);
# its templates get them as ``w`` without the prefix, because some are formatted here (the summary, durations).

TEXTS: Final[dict[str, dict[str, str]]] = {
    language: {key.removeprefix("wallboard."): text for key, text in texts.items() if key.startswith("wallboard.")}
    for language, texts in MESSAGES.items()
}


def texts(language: str) -> dict[str, str]:
    return TEXTS.get(language, TEXTS["da"])


def duration(seconds: int, words: dict[str, str]) -> str:
    if seconds < 60:
        return words["seconds"].format(seconds=seconds)
    return words["minutes_seconds"].format(minutes=seconds // 60, seconds=seconds % 60)


def summary(snapshot: Snapshot, words: dict[str, str]) -> str:
    """The one sentence a screen reader announces when the figures change."""
    return words["summary"].format(
        waiting=snapshot.waiting,
        longest=duration(snapshot.longest_wait, words),
        available=snapshot.available,
        on_shift=snapshot.on_shift,
        offered=snapshot.offered,
        answered=snapshot.answered,
        abandoned=snapshot.abandoned,
    )


# -- HTTP ------------------------------------------------------------------------------------------------------

WALLBOARD_ACCESS: Final = Access(roles=("coordinator", "kommune_admin"))
"""The guard lets coordinators and kommune admins in; which board a kommune admin may see is decided here."""
KommuneQuery = Annotated[
    str | None,
    QueryParameter(
        name="kommune",
        pattern=r"^[0-9]{4}$",
        description="4-digit kommune code: the board filtered to that kommune (kommune admins: their own only)",
    ),
]


def hub_of(app: Litestar) -> WallboardHub:
    """The process's hub, created on first use."""
    hub: WallboardHub | None = app.state.get("wallboard_hub")
    if hub is None:
        hub = WallboardHub()
        app.state["wallboard_hub"] = hub
    return hub


async def _board_scope(request: Request[Any, Any, Any], kommune: str | None) -> tuple[str, str | None]:
    """(scope, redirect): the kommune code to show ("" = federation), or where a kommune admin belongs."""
    principal = await principal_of(request)
    if principal is None:  # the guard has already refused anonymous callers
        raise NotAuthorizedException(detail="Sign in first.")
    if kommune:
        if principal.has_role(WALLBOARD_ACCESS.roles, kommune) is not None:
            return kommune, None
    else:
        if principal.has_role(("coordinator",)) is not None:
            return "", None
        grant = principal.has_role(("kommune_admin",))
        if grant is not None:
            return grant.kommune, grant.kommune
    services = request.app.state.services
    await audit.record(
        audit.PERMISSION_DENIED,
        actor=principal.actor,
        kommune_code=kommune or principal.home_kommune,
        now=services.clock(),
        ip=client_ip(request),
        target=f"{request.method} {request.url.path}"[:200],
        outcome="denied",
        detail={"needs": "coordinator, or kommune_admin of the kommune shown", "holds": principal.role_names},
    )
    raise PermissionDeniedException(
        detail="The wallboard of a kommune is for the coordinators and that kommune's own admins."
    )


def _context(request: Request[Any, Any, Any], snapshot: Snapshot, names: dict[str, str]) -> dict[str, Any]:
    words = texts(request.state.lang)
    return {
        "request": request,
        "w": words,
        "s": snapshot,
        "charts": charts(snapshot, words["other_kommuner"], words["unknown"]),
        "kommune_name": names.get(snapshot.kommune, snapshot.kommune),
        "since_local": snapshot.since.astimezone(CPH),
        "longest": duration(snapshot.longest_wait, words),
        "service_level_seconds": SERVICE_LEVEL_SECONDS,
        "states": PRESENCE_STATES,
        "summary": summary(snapshot, words),
    }


def _render_board(request: Request[Any, Any, Any], hub: WallboardHub, snapshot: Snapshot, names: dict[str, str]) -> str:
    language = request.state.lang
    html = hub.rendered(snapshot, language)
    if html is None:
        engine = request.app.template_engine
        if engine is None:  # pragma: no cover - the app always configures templates
            raise RuntimeError("the app has no template engine")
        template = engine.get_template("calls/wallboard_board.html")
        html = template.render(**_context(request, snapshot, names))
        hub.remember(snapshot, language, html)
    return html


class WallboardController(Controller):
    path = "/wallboard"
    tags = ("wallboard",)

    @get("/", name="wallboard", opt={ACCESS_KEY: WALLBOARD_ACCESS}, include_in_schema=False)
    async def page(self, request: Request[Any, Any, Any], kommune: KommuneQuery = None) -> Response[Any]:
        scope, redirect = await _board_scope(request, kommune)
        if redirect is not None:
            return Redirect(path=f"/wallboard?kommune={redirect}", status_code=303)
        hub = hub_of(request.app)
        snapshot = await hub.snapshot(request.app.state.services.clock(), scope)
        names = await hub.names.get()
        context = _context(request, snapshot, names)
        context["board"] = _render_board(request, hub, snapshot, names)
        # The stream names the page's language too: a wall screen that keeps no cookie stays in it.
        query = {"kommune": scope} if scope else {}
        if request.state.lang != DEFAULT_LANGUAGE:
            query["lang"] = request.state.lang
        context["events_url"] = "/wallboard/events" + (f"?{urlencode(query)}" if query else "")
        context["demo"] = request.app.state.services.settings.demo
        return page(request, "calls/wallboard.html", context)

    @get(
        "/events",
        name="wallboard-events",
        opt={ACCESS_KEY: WALLBOARD_ACCESS},
        include_in_schema=False,  # a page's live stream, not an API (and endless for a fuzzer that asks for it)
        operation_id="wallboardEvents",
        summary="The wallboard as server-sent events: `wallboard` (the board's HTML) every tick, `summary` when the "
        "one-sentence summary changes. Without `Accept: text/event-stream` one round is sent and the stream ends.",
    )
    async def events(self, request: Request[Any, Any, Any], kommune: KommuneQuery = None) -> ServerSentEvent:
        scope, _ = await _board_scope(request, kommune)
        hub = hub_of(request.app)
        clock = request.app.state.services.clock
        once = "text/event-stream" not in request.headers.get("accept", "")
        words = texts(request.state.lang)

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            said = ""
            ends = time.monotonic() + STREAM_LIFETIME
            first = True
            while True:
                snapshot = await hub.snapshot(clock(), scope)
                names = await hub.names.get()
                html = _render_board(request, hub, snapshot, names)
                yield ServerSentEventMessage(event="wallboard", data=html, retry=RECONNECT_MS if first else None)
                first = False
                sentence = summary(snapshot, words)
                if sentence != said:
                    said = sentence
                    yield ServerSentEventMessage(event="summary", data=sentence)
                if once or time.monotonic() >= ends:
                    return  # the browser reconnects, and the guard looks at the session again
                await asyncio.sleep(hub.tick)

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
