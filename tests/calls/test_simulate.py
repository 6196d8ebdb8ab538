"""``hotline simulate``: the plan follows the evening curve and the kommuner's populations (reproducibly), its
events are signed so that a real instance accepts them, simulated agents take calls through the console, and bad
options are refused by name."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar

from hotline.calls import simulate
from hotline.calls.runtime import KEEPALIVE_SECONDS
from hotline.calls.simulate import Options, SimulateError
from hotline.calls.tables import Call, CallEvent
from hotline.cli import main as cli
from hotline.config import Settings
from hotline.identity import service as identity
from hotline.identity.service import SecretBox
from hotline.lib.embedded_nats import EmbeddedNatsServer, free_port
from hotline.server.app import create_app
from tests.fixtures.app import CPH, TENANTS, FixedClock, running
from tests.fixtures.databases import Database
from tests.test_demo import HOTLINE, _read_until, _sign_in

WEDNESDAY = dt.datetime(2026, 11, 25, 16, 0, tzinfo=CPH)
SATURDAY = dt.datetime(2026, 11, 28, 9, 0, tzinfo=CPH)


@pytest.fixture(scope="module")
def directory() -> simulate.Directory:
    return simulate.load_directory(TENANTS)


# -- the plan ------------------------------------------------------------------------------------------------


def test_arrivals_per_hour_follow_the_weekday_evening_curve(directory: simulate.Directory) -> None:
    calls = simulate.plan_evening(directory, start=WEDNESDAY, duration=6 * 3600, peak_rate=1000, seed=11)
    per_hour = simulate.arrivals_by_hour(calls, WEDNESDAY)
    assert list(per_hour) == ["16:00", "17:00", "18:00", "19:00", "20:00", "21:00"]
    for hour, count in per_hour.items():
        expected = 1000 * simulate.WEEKDAY_CURVE[int(hour[:2])]
        # Poisson: the standard deviation is sqrt(expected), so 4 of them is far beyond chance.
        assert abs(count - expected) < 4 * expected**0.5, (hour, count, expected)
    assert per_hour["16:00"] > per_hour["18:00"] > per_hour["21:00"]
    offsets = [call.offset for call in calls]
    assert offsets == sorted(offsets)
    assert all(0 <= offset < 6 * 3600 for offset in offsets)


def test_weekends_are_daytime_and_weekday_mornings_are_quiet(directory: simulate.Directory) -> None:
    weekend = simulate.plan_evening(directory, start=SATURDAY, duration=10 * 3600, peak_rate=300, seed=3)
    hours = simulate.arrivals_by_hour(weekend, SATURDAY)
    assert set(hours) == {f"{h:02d}:00" for h in simulate.WEEKEND_CURVE}
    morning = WEDNESDAY.replace(hour=8)
    assert simulate.plan_evening(directory, start=morning, duration=8 * 3600, peak_rate=300, seed=3) == []


def test_the_same_seed_gives_the_same_evening(directory: simulate.Directory) -> None:
    first = simulate.plan_evening(directory, start=WEDNESDAY, duration=3600, peak_rate=200, seed=42)
    again = simulate.plan_evening(directory, start=WEDNESDAY, duration=3600, peak_rate=200, seed=42)
    other = simulate.plan_evening(directory, start=WEDNESDAY, duration=3600, peak_rate=200, seed=43)
    assert first == again
    assert first != other


def test_callers_come_by_population_with_some_non_members_and_unknown_numbers(directory: simulate.Directory) -> None:
    calls = simulate.plan_evening(directory, start=WEDNESDAY, duration=6 * 3600, peak_rate=3000, seed=5)
    lines = {line.kommune: line for line in directory.lines}
    by_kommune = Counter(call.kommune for call in calls)
    total = len(calls)
    weights = {code: line.weight for code, line in lines.items()}
    all_weight = sum(weights.values())
    # Aarhus (0751, a member of 360,000) gets its share; Frederiksberg (0147, not a member) a tenth of its own.
    for code in ("0751", "0147"):
        expected = total * (1 - simulate.UNKNOWN_SHARE) * weights[code] / all_weight
        assert abs(by_kommune[code] - expected) < 4 * expected**0.5, (code, by_kommune[code], expected)
    unknown = by_kommune[""]
    assert abs(unknown - total * simulate.UNKNOWN_SHARE) < 4 * (total * simulate.UNKNOWN_SHARE) ** 0.5
    non_member = sum(n for code, n in by_kommune.items() if code and not lines[code].member)
    assert 0.04 * total < non_member < 0.12 * total
    assert all(call.dialled.startswith("+4570") for call in calls)
    assert {call.caller is None for call in calls} == {True, False}  # some withhold their number
    assert all(call.callback_number for call in calls if call.asks_callback and call.caller is None)
    transferred = [call for call in calls if call.transfer_to]
    assert transferred
    assert all(call.transfer_to in lines[call.kommune].departments for call in transferred)


# -- options -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--kommune", "aarhus"], "--kommune"),
        (["--speed", "0"], "--speed"),
        (["--speed", "fast"], "--speed"),
        (["--duration", "5x"], "--duration"),
        (["--rate", "-3"], "--rate"),
        (["--agents", "1.5"], "--agents"),
        (["--seed", "abc"], "--seed"),
        (["--url", "ftp://example"], "--url"),
        (["--start", "25:00"], "--start"),
        (["--tenants", "/no/such/folder"], "--tenants"),
    ],
)
def test_a_bad_option_is_refused_by_name(
    arguments: list[str], named: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(simulate.SECRET_ENV, raising=False)
    base = {"--kommune": "0751", "--secret": "s3cret"}
    given = dict(zip(arguments[::2], arguments[1::2], strict=True))
    argv = ["simulate", *[item for key, value in {**base, **given}.items() for item in (key, value)]]
    assert cli(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("hotline simulate: ")
    assert named in error


def test_the_secret_comes_from_the_option_or_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(simulate.SECRET_ENV, raising=False)
    assert cli(["simulate", "--kommune", "0751"]) == 2
    assert "--secret" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli(["simulate", "--secret", "x"])
    assert exited.value.code == 2
    assert "--kommune" in capsys.readouterr().err
    parser = __import__("argparse").ArgumentParser()
    simulate.add_arguments(parser)
    options = simulate.options_from(
        parser.parse_args(["--kommune", "0751", "--duration", "30m", "--speed", "60", "--seed", "7"]),
        {simulate.SECRET_ENV: "from-env"},
    )
    assert (options.secret, options.duration, options.speed, options.seed) == ("from-env", 1800.0, 60.0, 7)


def test_durations_read_naturally() -> None:
    assert simulate.parse_duration("90") == 90
    assert simulate.parse_duration("90s") == 90
    assert simulate.parse_duration("2.5h") == 9000
    with pytest.raises(SimulateError, match="--duration"):
        simulate.parse_duration("0m")


# -- against a real instance ---------------------------------------------------------------------------------


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns the signals
        yield


@pytest.fixture
async def served(
    settings: Settings, demo_federation: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> AsyncIterator[tuple[Litestar, str]]:
    """The app with the demo federation, served over real HTTP on a free port (so the simulator's agents can sign
    in through the development provider and hold a live console stream), on a clock set to the real time: the
    signature's timestamp is checked against it."""
    clock.now = dt.datetime.now(dt.UTC)
    port = free_port("127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    here = msgspec.structs.replace(
        settings, server=msgspec.structs.replace(settings.server, port=port, public_base_url=base)
    )
    app = create_app(here, engine=demo_federation.engine, nats_servers=[nats_server.url], clock=clock)
    async with running(app):
        assert await app.state.services.nats.wait_connected(5)
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
        task = asyncio.create_task(server.serve())
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started
        try:
            yield app, base
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


async def webhook_secret(settings: Settings, kommune: str, clock: FixedClock) -> str:
    _, secret = await identity.create_webhook_secret(
        SecretBox(settings.server.secret_key), kommune, "simulator", created_by="test", now=clock.now
    )
    return secret


async def test_a_simulated_evening_is_signed_accepted_and_routed(
    served: tuple[Litestar, str], settings: Settings, clock: FixedClock
) -> None:
    _, base = served
    options = Options(
        url=base,
        kommune="0751",
        secret=await webhook_secret(settings, "0751", clock),
        speed=3600,  # an hour a second
        duration=3600,
        rate=150,
        seed=2026,
        start=WEDNESDAY,
        tenants=TENANTS,
    )
    report = await simulate.simulate(options)
    assert report.errors == []
    assert report.planned > 100
    sent = sum(report.sent.values())
    assert report.accepted == sent
    assert report.duplicates == 0
    # Nobody answers: every caller eventually hangs up or asks to be called back.
    assert report.sent["offered"] == report.planned
    assert report.sent["abandoned"] + report.sent["callback_requested"] == report.planned
    assert 0 < report.sent["callback_requested"] < report.planned
    assert await CallEvent.count() == sent
    calls = await Call.select(Call.call_id, Call.mode, Call.kommune_code, Call.status)
    assert len(calls) == report.planned
    plan = simulate.plan_evening(
        simulate.load_directory(TENANTS), start=WEDNESDAY, duration=3600, peak_rate=150, seed=2026
    )
    lines = {line.kommune: line for line in simulate.load_directory(TENANTS).lines}
    planned_modes = Counter(
        "unknown" if not call.kommune else "member" if lines[call.kommune].member else "non_member" for call in plan
    )
    assert Counter(row["mode"] for row in calls) == planned_modes
    assert Counter(row["kommune_code"] for row in calls) == Counter(call.kommune for call in plan)
    assert {row["status"] for row in calls} <= {"abandoned", "callback"}


async def test_a_wrong_secret_stops_the_run_with_a_clear_message(
    served: tuple[Litestar, str], settings: Settings, clock: FixedClock
) -> None:
    _, base = served
    await webhook_secret(settings, "0751", clock)
    options = Options(
        url=base, kommune="0751", secret="not-the-secret", speed=3600, duration=1800, rate=120, seed=1, start=WEDNESDAY
    )
    with pytest.raises(SimulateError, match="check --kommune and --secret"):
        await simulate.simulate(options)
    assert await Call.count() == 0


async def test_simulated_agents_answer_talk_and_wrap_up_through_the_console(
    served: tuple[Litestar, str], settings: Settings, clock: FixedClock
) -> None:
    _, base = served
    options = Options(
        url=base,
        kommune="0751",
        secret=await webhook_secret(settings, "0751", clock),
        speed=600,
        duration=600,
        rate=120,
        seed=77,
        agents=2,
        start=WEDNESDAY,
        tenants=TENANTS,
    )
    report = await simulate.simulate(options)
    assert report.errors == []
    assert report.answered_by_agents > 0
    assert report.wrapped_up == report.answered_by_agents + report.callbacks_made
    # The platform reports the end of every live call an agent took (callbacks are outbound: nothing to report).
    assert report.sent["ended"] == report.answered_by_agents
    assert report.sent["offered"] == report.planned
    assert report.sent["abandoned"] + report.sent["callback_requested"] + report.answered_by_agents <= report.planned
    done = await Call.select(Call.call_id, Call.agent_id, Call.outcome).where(Call.status == "done")
    # Every wrap-up closes its call; a call wrapped up with outcome "callback" can be called back and wrapped up
    # again, so there may be fewer done calls than wrap-ups, never fewer than the live calls answered.
    assert report.answered_by_agents <= len(done) <= report.wrapped_up
    assert all(row["agent_id"] and row["outcome"] for row in done)
    assert len({row["agent_id"] for row in done}) <= 2


async def test_an_instance_that_does_not_answer_is_named() -> None:
    port = free_port("127.0.0.1")  # nothing listens there
    options = Options(
        url=f"http://127.0.0.1:{port}", kommune="0751", secret="x", speed=3600, duration=1800, rate=120, seed=1,
        start=WEDNESDAY,
    )  # fmt: skip
    with pytest.raises(SimulateError, match=r"does not answer .*check --url"):
        await simulate.simulate(options)


# -- the demo ------------------------------------------------------------------------------------------------


def test_the_demo_with_simulate_shows_calls_on_the_wallboard_and_in_the_console(tmp_path: Path) -> None:
    """``hotline demo --simulate`` as a new user runs it: calls arrive on the coordinator's wallboard, and the
    simulated agents leave some for a person at the console."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HOTLINE_")}
    process = subprocess.Popen(
        [str(HOTLINE), "demo", "--port", "0", "--data-dir", str(tmp_path / "demo"), "--simulate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**environment, "PYTHONUNBUFFERED": "1"},
    )
    seen: list[str] = []
    try:
        base = _read_until(process, r"demo is running:\s+(http://\S+?)/?\s*$", 60, seen).group(1)
        _read_until(process, r"Simulated calls:\s+running", 5, seen)
        _read_until(process, r"Simulating \d+ calls", 30, seen)
        assert (tmp_path / "demo" / "simulator-secret").stat().st_mode & 0o777 == 0o600
        with contextlib.closing(_sign_in(base, "0751", "coordinator")) as coordinator:
            deadline = time.monotonic() + 60
            offered = 0
            while offered == 0:
                assert time.monotonic() < deadline, "no simulated call reached the wallboard within 60 s"
                time.sleep(0.5)
                board = coordinator.get("/wallboard/events")  # one round without an event-stream Accept header
                assert board.status_code == 200
                found = re.search(r'data-figure="offered">(\d+)', board.text)
                assert found
                offered = int(found.group(1))
        with contextlib.closing(_sign_in(base, "0727", "agent")) as person:
            csrf = person.cookies.get("hotline_csrf") or person.get("/tenants").cookies["hotline_csrf"]
            # The stream is quiet between calls except for a keep-alive comment every KEEPALIVE_SECONDS.
            quiet = httpx.Timeout(10, read=KEEPALIVE_SECONDS + 10)
            with person.stream(
                "GET", "/console/events", headers={"accept": "text/event-stream"}, timeout=quiet
            ) as stream:
                went = person.post("/api/console/presence", json={"state": "available"}, headers={"x-csrftoken": csrf})
                assert went.status_code == 200
                deadline = time.monotonic() + 90
                for line in stream.iter_lines():
                    assert time.monotonic() < deadline, "no call reached the person at the console within 90 s"
                    if line.startswith("event: screen-pop"):
                        break
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                seen.append(process.stdout.read())
                process.stdout.close()
    assert process.returncode == 0, "".join(seen)
    assert "the demo's simulator stopped" not in "".join(seen)
