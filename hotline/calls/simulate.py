"""``hotline simulate``: a realistic evening of signed telephony events sent to a running instance, and optionally
simulated agents who take calls the way a browser would.

The simulator is a client of the public contract only: it signs batches with :func:`hotline.calls.telephony.sign`
and posts them to ``POST /api/telephony/events``; its agents sign in through the development identity provider
(demo mode) and use the agent console's JSON API and live stream. Nothing here reads the server's database.

The evening (all durations below are *simulated* time; ``--speed`` compresses them, so at ``--speed 60`` an hour
passes in a minute):

- arrivals follow an hourly curve (weekdays 16–22 peaking right after work, weekends in the daytime) as a
  non-homogeneous Poisson process, spread over the kommuner by population (members in full, non-members at a tenth:
  their citizens still call during a crisis), plus a few calls to numbers no kommune owns;
- a caller waits with an exponential patience (mean :data:`MEAN_PATIENCE`); unless an agent has answered by then,
  the caller hangs up or, about one in four, asks to be called back;
- a simulated agent answers a screen-pop after a short ring, talks, sometimes transfers the caller to the
  kommune's department, hangs up, and wraps up with an outcome.

Events carry the real time at which they are sent, so the server's clock and the wallboard see a live (if busy)
evening. The plan is reproducible with ``--seed`` (call ids carry a per-run token so a second run is new calls).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import math
import os
import random
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import httpx

from hotline.calls import telephony
from hotline.calls.telephony import (
    Abandoned,
    Answered,
    CallbackRequested,
    Ended,
    Offered,
    TelephonyEvent,
    Transferred,
)

CPH: Final = ZoneInfo("Europe/Copenhagen")
SOURCE_TENANTS: Final = Path(__file__).resolve().parents[2] / "tenants"
SECRET_ENV: Final = "HOTLINE_SIMULATE_SECRET"  # noqa: S105 - the variable's name, not a secret

WEEKDAY_CURVE: Final[dict[int, float]] = {16: 1.0, 17: 0.9, 18: 0.7, 19: 0.6, 20: 0.45, 21: 0.3}
"""Share of the peak hourly rate in each local hour on weekdays (the hotline opens when borgerservice closes)."""
WEEKEND_CURVE: Final[dict[int, float]] = {9: 0.45, 10: 0.8, 11: 1.0, 12: 0.9, 13: 0.8, 14: 0.65, 15: 0.5}
PEAK_CALLS_PER_100K: Final = 1.2
"""Calls per hour per 100,000 inhabitants of the member kommuner at the busiest hour (about 40 for the demo)."""
NON_MEMBER_WEIGHT: Final = 0.1
UNKNOWN_SHARE: Final = 0.02
WITHHELD_SHARE: Final = 0.08
ENGLISH_SHARE: Final = 0.04
MEAN_PATIENCE: Final = 180.0
CALLBACK_SHARE: Final = 0.25
TRANSFER_SHARE: Final = 0.1
RING_SECONDS: Final = (2.0, 6.0)
TALK_SECONDS: Final = (90.0, 420.0)
WRAP_UP_SECONDS: Final = (15.0, 60.0)
OUTCOMES: Final = (("solved", 0.82), ("not_municipal", 0.1), ("callback", 0.08))


class SimulateError(ValueError):
    """A bad option or an instance that refuses the simulator; the message names the option or the cause."""


class Refused(SimulateError):
    """The instance refuses the simulator itself (signature, access): no point in sending the rest."""


# -- the evening's plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A number callers dial, with what the simulator needs to know about whose it is."""

    kommune: str
    number: str
    weight: float
    member: bool
    departments: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Directory:
    lines: tuple[Line, ...]
    identity_kommuner: tuple[str, ...]
    """Member kommuner with a sign-in set up: where simulated agents come from."""


def load_directory(folder: Path = SOURCE_TENANTS) -> Directory:
    """The dialled numbers and populations from the tenant definitions (the same files the instance applied)."""
    from hotline.tenancy.files import load_tenant_set

    lines = []
    identity = []
    for definition in load_tenant_set(folder).tenants:
        kommune = definition.kommune
        if not kommune.numbers:
            continue
        weight = kommune.population * (1.0 if kommune.member else NON_MEMBER_WEIGHT)
        lines.append(
            Line(
                kommune=kommune.code,
                number=kommune.numbers[0].number,
                weight=float(weight),
                member=kommune.member,
                departments=tuple(d.phone for d in kommune.departments if d.phone),
                topics=tuple(topic for d in kommune.departments for topic in d.topics),
            )
        )
        if kommune.member and kommune.identity is not None:
            identity.append(kommune.code)
    return Directory(
        lines=tuple(sorted(lines, key=lambda line: line.kommune)), identity_kommuner=tuple(sorted(identity))
    )


def curve_share(moment: dt.datetime) -> float:
    """Share of the peak rate at ``moment`` (0 outside the hotline's hours)."""
    local = moment.astimezone(CPH)
    curve = WEEKEND_CURVE if local.weekday() >= 5 else WEEKDAY_CURVE
    return curve.get(local.hour, 0.0)


def session_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The first and the end of the last hour of ``day``'s curve, in Copenhagen time."""
    curve = WEEKEND_CURVE if day.weekday() >= 5 else WEEKDAY_CURVE
    start = dt.datetime.combine(day, dt.time(min(curve)), tzinfo=CPH)
    end = dt.datetime.combine(day, dt.time(max(curve)), tzinfo=CPH) + dt.timedelta(hours=1)
    return start, end


def default_peak_rate(directory: Directory) -> float:
    members = sum(line.weight for line in directory.lines if line.member)
    return PEAK_CALLS_PER_100K * members / 100_000


@dataclass(frozen=True)
class PlannedCall:
    number: int
    offset: float
    """Simulated seconds from the start of the run until the call is offered."""
    kommune: str
    dialled: str
    caller: str | None
    language: str
    patience: float
    asks_callback: bool
    callback_number: str | None
    ring: float
    talk: float
    wrap_up: float
    transfer_to: str | None
    outcome: str
    topic: str


def _caller_number(rng: random.Random) -> str:
    return f"+45{rng.choice('2345678')}{rng.randrange(10**7):07d}"


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in pairs], weights=[weight for _, weight in pairs])[0]


def plan_evening(
    directory: Directory, *, start: dt.datetime, duration: float, peak_rate: float, seed: int
) -> list[PlannedCall]:
    """Every call of the run, reproducible from ``seed``: arrival times by thinning a Poisson process at the peak
    rate with the hourly curve, kommune by weight, and each caller's patience and (if answered) conversation."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not cryptography
    lines = directory.lines
    weights = [line.weight for line in lines]
    peak_per_second = peak_rate / 3600.0
    calls: list[PlannedCall] = []
    offset = 0.0
    if peak_per_second <= 0 or not lines:
        return calls
    while True:
        offset += rng.expovariate(peak_per_second)
        if offset >= duration:
            return calls
        if rng.random() >= curve_share(start + dt.timedelta(seconds=offset)):
            continue
        if rng.random() < UNKNOWN_SHARE:
            line = Line(kommune="", number=f"+4570999{rng.randrange(1000):03d}", weight=0.0, member=False)
        else:
            line = rng.choices(lines, weights=weights)[0]
        withheld = rng.random() < WITHHELD_SHARE
        caller = None if withheld else _caller_number(rng)
        asks_callback = rng.random() < CALLBACK_SHARE
        transfer = line.departments and rng.random() < TRANSFER_SHARE
        calls.append(
            PlannedCall(
                number=len(calls) + 1,
                offset=offset,
                kommune=line.kommune,
                dialled=line.number,
                caller=caller,
                language="en" if rng.random() < ENGLISH_SHARE else "da",
                patience=max(15.0, rng.expovariate(1 / MEAN_PATIENCE)),
                asks_callback=asks_callback,
                callback_number=_caller_number(rng) if asks_callback and withheld else None,
                ring=rng.uniform(*RING_SECONDS),
                talk=rng.uniform(*TALK_SECONDS),
                wrap_up=rng.uniform(*WRAP_UP_SECONDS),
                transfer_to=rng.choice(line.departments) if transfer else None,
                outcome="solved" if transfer else _weighted(rng, OUTCOMES),
                topic=rng.choice(line.topics) if line.topics else "",
            )
        )


def arrivals_by_hour(calls: Sequence[PlannedCall], start: dt.datetime) -> dict[str, int]:
    """Planned calls per local hour (``"16:00"`` → count), for the printed plan and the tests."""
    counts: Counter[str] = Counter()
    for call in calls:
        counts[(start + dt.timedelta(seconds=call.offset)).astimezone(CPH).strftime("%H:00")] += 1
    return dict(sorted(counts.items()))


# -- options -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    url: str
    kommune: str
    secret: str
    speed: float = 1.0
    duration: float | None = None
    """Simulated seconds to run; None: to the end of the session's curve."""
    rate: float | None = None
    """Calls per hour at the peak; None: from the kommuner's population."""
    seed: int | None = None
    agents: int = 0
    start: dt.datetime | None = None
    """The simulated moment the run starts at; None: the start of today's session."""
    tenants: Path = SOURCE_TENANTS


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")


def parse_duration(text: str, option: str = "--duration") -> float:
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise SimulateError(f"{option} must be a positive duration such as 90s, 30m or 6h (got {text!r})")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def _positive(text: str, option: str, *, allow_zero: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "a number of 0 or more" if allow_zero else "a positive number"
        raise SimulateError(f"{option} must be {kind} (got {text!r})")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``hotline simulate`` options (``hotline/cli.py`` adds them to its subcommand)."""
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running instance (default %(default)s)")
    parser.add_argument(
        "--kommune", required=True, help="code of the kommune that issued the webhook secret (X-Hotline-Kommune)"
    )
    parser.add_argument("--secret", default="", help=f"the webhook secret (default: the {SECRET_ENV} variable)")
    parser.add_argument("--speed", default="1", help="time compression: 60 runs an hour in a minute (default 1)")
    parser.add_argument("--duration", default="", help="simulated time to run, e.g. 30m or 6h (default: the session)")
    parser.add_argument("--rate", default="", help="calls per hour at the peak (default: from population)")
    parser.add_argument("--seed", default="", help="make the plan reproducible")
    parser.add_argument("--agents", default="0", help="simulated agents who answer calls (demo mode; default 0)")
    parser.add_argument(
        "--start",
        default="",
        help="simulated start, HH:MM Copenhagen time today (default: the session's start, 16:00 or 09:00 at weekends)",
    )
    parser.add_argument("--tenants", default=str(SOURCE_TENANTS), help="the tenants folder the instance applied")


def options_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Options:
    """Checked options; a bad value raises :class:`SimulateError` naming the option."""
    environ = dict(os.environ) if environ is None else environ
    url = str(args.url).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise SimulateError(f"--url must be an http(s) address such as http://127.0.0.1:8000 (got {args.url!r})")
    if not re.match(r"^[0-9]{4}$", str(args.kommune)):
        raise SimulateError(f"--kommune must be a 4-digit kommune code such as 0751 (got {args.kommune!r})")
    secret = str(args.secret or environ.get(SECRET_ENV, ""))
    if not secret:
        raise SimulateError(f"--secret is missing: pass the webhook secret or set {SECRET_ENV}")
    seed: int | None = None
    if args.seed:
        try:
            seed = int(args.seed)
        except ValueError:
            raise SimulateError(f"--seed must be a whole number (got {args.seed!r})") from None
    agents = _positive(str(args.agents), "--agents", allow_zero=True)
    if agents != int(agents) or agents > 50:
        raise SimulateError(f"--agents must be a whole number from 0 to 50 (got {args.agents!r})")
    start = None
    if args.start:
        match = re.match(r"^([01][0-9]|2[0-3]):([0-5][0-9])$", str(args.start))
        if not match:
            raise SimulateError(f"--start must be a time of day HH:MM (got {args.start!r})")
        today = dt.datetime.now(CPH).date()
        start = dt.datetime.combine(today, dt.time(int(match.group(1)), int(match.group(2))), tzinfo=CPH)
    tenants = Path(args.tenants)
    if not tenants.is_dir():
        raise SimulateError(f"--tenants must be a tenants folder (no folder {str(tenants)!r})")
    return Options(
        url=url,
        kommune=str(args.kommune),
        secret=secret,
        speed=_positive(str(args.speed), "--speed"),
        duration=parse_duration(args.duration) if args.duration else None,
        rate=_positive(str(args.rate), "--rate", allow_zero=True) if args.rate else None,
        seed=seed,
        agents=int(agents),
        start=start,
        tenants=tenants,
    )


# -- running it ----------------------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Report:
    planned: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    duplicates: int = 0
    answered_by_agents: int = 0
    wrapped_up: int = 0
    callbacks_made: int = 0
    """Callbacks (and any call not of this run) the simulated agents took."""
    missed: int = 0
    """Screen-pops whose caller was gone before the simulated agent answered."""
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.sent.items())) or "none"
        out = [
            f"calls planned: {self.planned}",
            f"events sent: {kinds}",
            f"accepted {self.accepted}, duplicates {self.duplicates}",
            f"answered by simulated agents: {self.answered_by_agents}, callbacks made: {self.callbacks_made}, "
            f"wrapped up: {self.wrapped_up}, missed: {self.missed}",
        ]
        if self.errors:
            out.append(f"errors ({len(self.errors)}): " + "; ".join(self.errors[:5]))
        return out


class Telephony:
    """Signs and posts event batches as the contact-centre platform would."""

    def __init__(self, http: httpx.AsyncClient, kommune: str, secret: str, report: Report) -> None:
        self.http, self.kommune, self.secret, self.report = http, kommune, secret.encode(), report

    async def send(self, *events: TelephonyEvent) -> None:
        body = telephony.encode_batch(list(events))
        for attempt in range(4):
            headers = {
                "content-type": "application/json",
                telephony.KOMMUNE_HEADER: self.kommune,
                telephony.SIGNATURE_HEADER: telephony.sign(self.secret, body, int(time.time())),
            }
            try:
                response = await self.http.post("/api/telephony/events", content=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == 3:
                    raise Refused(
                        f"the instance at {self.http.base_url} does not answer ({type(exc).__name__}): check --url"
                    ) from None
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            if response.status_code == 401:
                raise Refused(f"the instance refused the signature ({_detail(response)}): check --kommune and --secret")
            if response.status_code == 403:
                raise Refused(f"the instance refused the events (403: {_detail(response)})")
            if response.status_code >= 500 and attempt < 3:
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            if response.status_code >= 300:
                raise SimulateError(f"the instance refused an event ({response.status_code}: {_detail(response)})")
            result = response.json()
            self.report.accepted += int(result.get("accepted", 0))
            self.report.duplicates += int(result.get("duplicates", 0))
            for event in events:
                self.report.sent[str(type(event).__struct_config__.tag)] += 1
            return


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))[:200]
    except ValueError:
        return response.text[:200]


@dataclass
class Simulation:
    """One run: the plan, the telephony client and (optionally) the agents, on one shared clock."""

    options: Options
    directory: Directory
    http: httpx.AsyncClient
    report: Report = field(default_factory=Report)
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    answered: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    planned: dict[str, PlannedCall] = field(default_factory=dict)
    _t0: float = 0.0

    @property
    def start(self) -> dt.datetime:
        if self.options.start is not None:
            return self.options.start
        return session_bounds(dt.datetime.now(CPH).date())[0]

    def duration(self) -> float:
        if self.options.duration is not None:
            return self.options.duration
        _, end = session_bounds(self.start.astimezone(CPH).date())
        return max(0.0, (end - self.start).total_seconds())

    def plan(self) -> list[PlannedCall]:
        rate = self.options.rate if self.options.rate is not None else default_peak_rate(self.directory)
        seed = self.options.seed if self.options.seed is not None else secrets.randbits(32)
        return plan_evening(self.directory, start=self.start, duration=self.duration(), peak_rate=rate, seed=seed)

    def call_id(self, call: PlannedCall) -> str:
        return f"sim-{self.run_id}-{call.number:05d}"

    async def pause(self, simulated_seconds: float) -> None:
        await asyncio.sleep(simulated_seconds / self.options.speed)

    async def until(self, offset: float) -> None:
        delay = self._t0 + offset / self.options.speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def run(self, calls: list[PlannedCall] | None = None) -> Report:
        calls = self.plan() if calls is None else calls
        self.report.planned = len(calls)
        line = Telephony(self.http, self.options.kommune, self.options.secret, self.report)
        self._t0 = time.monotonic()
        agents: list[Any] = []
        if self.options.agents:
            from hotline.calls.simulate_agents import start_agents

            agents = await start_agents(self, self.options.agents)
        try:
            try:
                async with asyncio.TaskGroup() as group:  # one refusal stops every caller
                    for call in calls:
                        group.create_task(self._caller(line, call))
            except BaseExceptionGroup as failed:
                first = failed.exceptions[0]
                if isinstance(first, Exception) and len(failed.exceptions) >= 1:
                    raise first from None
                raise
            # Let the agents finish the conversations they are in.
            pending = [future for future in self.answered.values() if not future.done()]
            if pending:
                await asyncio.wait(pending, timeout=(max(TALK_SECONDS) + max(WRAP_UP_SECONDS)) / self.options.speed)
        finally:
            for agent in agents:
                await agent.stop()
        return self.report

    async def _caller(self, line: Telephony, call: PlannedCall) -> None:
        call_id = self.call_id(call)
        self.planned[call_id] = call
        await self.until(call.offset)
        # Ready before the offer is sent: the screen-pop can reach an agent before the webhook's answer reaches us.
        answered = self.answered.setdefault(call_id, asyncio.get_running_loop().create_future())
        try:
            await line.send(
                Offered(
                    call_id=call_id,
                    at=_now(),
                    dialled_number=call.dialled,
                    caller_number=call.caller,
                    language=call.language,
                )
            )
        except Refused:
            raise
        except SimulateError as exc:
            self.report.errors.append(str(exc))
            return
        try:
            await asyncio.wait_for(asyncio.shield(answered), timeout=call.patience / self.options.speed)
            return  # an agent has the caller now; the agent sends the rest
        except TimeoutError:
            pass
        if answered.done():
            return
        answered.cancel()  # too late for the agents: this caller gives up
        try:
            if call.asks_callback:
                await line.send(CallbackRequested(call_id=call_id, at=_now(), number=call.callback_number))
            else:
                await line.send(Abandoned(call_id=call_id, at=_now()))
        except SimulateError as exc:
            self.report.errors.append(str(exc))

    def claim(self, call_id: str) -> PlannedCall | None:
        """An agent takes ``call_id``: the caller stops counting patience. None if the caller has gone."""
        future = self.answered.get(call_id)
        call = self.planned.get(call_id)
        if future is None or call is None or future.done():
            return None
        future.set_result(None)
        # A new future tracks the conversation so the run waits for it to end.
        self.answered[call_id] = asyncio.get_running_loop().create_future()
        return call

    def finished(self, call_id: str) -> None:
        future = self.answered.get(call_id)
        if future is not None and not future.done():
            future.set_result(None)

    async def converse(self, line: Telephony, call: PlannedCall, call_id: str, agent_id: int | None) -> None:
        """What the platform reports while an agent has the caller: answered, maybe a transfer, ended."""
        if agent_id is not None:
            await line.send(Answered(call_id=call_id, at=_now(), agent_id=agent_id))
        await self.pause(call.talk)
        if call.transfer_to:
            await line.send(Transferred(call_id=call_id, at=_now(), to_number=call.transfer_to))
        await line.send(Ended(call_id=call_id, at=_now()))


def say(text: str, stream: Any = None) -> None:
    """The simulator talks to the person who started it (and to the demo's console)."""
    out = stream or sys.stdout
    out.write(text + "\n")
    out.flush()


async def simulate(options: Options, *, transport: httpx.AsyncBaseTransport | None = None) -> Report:
    # A line per request would drown the demo's console (and says nothing an operator needs).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    directory = load_directory(options.tenants)
    async with httpx.AsyncClient(base_url=options.url, timeout=30, transport=transport) as http:
        simulation = Simulation(options=options, directory=directory, http=http)
        calls = simulation.plan()
        start = simulation.start.astimezone(CPH)
        wall = simulation.duration() / options.speed
        say(
            f"Simulating {len(calls)} calls from {start:%a %H:%M} for {simulation.duration() / 3600:.1f} h of "
            f"simulated time ({wall / 60:.1f} min at speed {options.speed:g}) against {options.url}"
        )
        say("  per hour: " + ", ".join(f"{h} {n}" for h, n in arrivals_by_hour(calls, simulation.start).items()))
        return await simulation.run(calls)


def main(args: argparse.Namespace) -> int:
    try:
        options = options_from(args)
        report = asyncio.run(simulate(options))
    except SimulateError as exc:
        say(f"hotline simulate: {exc}", stream=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    for line in report.lines():
        say(line)
    return 1 if report.errors else 0
