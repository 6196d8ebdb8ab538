"""``hotline bench calls``: screen-pop latency under load, webhook ingest rate, memory with live connections.

Set-up: a fresh database (PostgreSQL by default, ``--sqlite`` for a SQLite file in a temp dir) with the demo
federation applied and migrations run, an embedded nats-server, and the app as separate ``hotline serve``
processes (``--processes``; by default one per core, as the stateless replicas of deploy/ would run on this
machine; agents and webhook posts are spread over them as the proxy would). 200 agents (sessions opened directly
with the identity service, no IdP) hold ``/console/events`` streams over real HTTP and go available. Offered calls
are posted, signed, one per request, at 5, 50 and 100 calls per second for ``--seconds`` each (``--repeat``
rounds per rate, the worst round's p99 reported beside the pooled one); agents answer and wrap up at once through
the console API so they become available again.

Screen-pop latency, the headline figure, covers every call: from the moment the load generator hands the offered
event's POST to its event loop to the moment it reads that call's first screen-pop, on the load generator's clock.
It includes the kernel and the load generator on both ends, so it is an upper bound of the server's part; a call
that waited in the queue for a free agent counts with its wait. The server also stamps its own part for calls
assigned by the request that brought them: the webhook stamps the offered event's arrival (wall-clock ns, before
the body is read), the SSE writer the moment the screen-pop leaves, both in the event's id (``<call id>.<arrived
ns>.<sent ns>``); that figure is reported as ``server_stamped`` (a call assigned later, by a wrap-up or the tick,
carries no arrival stamp and is not in it).

The load generator (:mod:`hotline.bench.loadgen`, on uvloop) costs about a tenth of what the app does, and each
round records the CPU used by the app, the load generator, PostgreSQL and NATS: a figure measured while the load
generator was saturated would describe the load generator, not the server.

Ingest: batches of 500 events (offered + abandoned for distinct calls: stored, routed, applied, nothing to assign)
posted by 4 concurrent senders, before the rate rounds. Memory: VmRSS of the app process(es) with the 200
connections open.

Writes ``bench-results/calls.json``. The app's log goes to the temp dir (``HOTLINE_BENCH_SERVER_LOG`` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop

from hotline.bench.loadgen import HttpClient

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "bench-" + "k" * 40
POSTGRES_ADMIN_URL = os.environ.get("HOTLINE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AARHUS_NUMBER = "+4570751000"
WRAP_UP = json.dumps({"outcome": "solved", "topic": "pas", "notes": ""}).encode()
NUMBERS = [f"+4570{code[1:]}000" for code in ("0751", "0615", "0727", "0101", "0147")]


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(_percentile(values, 0.50), 3),
        "p99_ms": round(_percentile(values, 0.99), 3),
        "max_ms": round(max(values), 3) if values else float("nan"),
        "mean_ms": round(statistics.fmean(values), 3) if values else float("nan"),
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


class _CpuMeter:
    """CPU used during a round, in percent of one core, by the app, this load generator, PostgreSQL and NATS:
    evidence of which side was busy (a saturated load generator measures itself, not the server)."""

    def __init__(self, app_pids: list[int]) -> None:
        self.groups = {
            "app": app_pids,
            "load_generator": [os.getpid()],
            "postgres": _pids_named("postgres"),
            "nats": _pids_named("nats-server"),
        }
        self.started = time.monotonic()
        self.before = {pid: _cpu_seconds(pid) for pids in self.groups.values() for pid in pids}

    def read(self) -> dict[str, float]:
        """Per group; a process that ended during the round (a PostgreSQL backend) is left out."""
        wall = time.monotonic() - self.started
        used: dict[str, float] = {}
        for group, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                before, after = self.before.get(pid), _cpu_seconds(pid)
                if before is not None and after is not None:
                    total += after - before
            used[group] = round(100 * total / wall, 1)
        return used


# -- set-up -------------------------------------------------------------------------------------------------


async def _prepare_database(url: str, agents: int) -> tuple[str, list[tuple[int, str]]]:
    """Migrate, apply the demo federation, issue a webhook secret for Aarhus and open the agents' sessions."""
    from hotline.db.engine import close_database, migrate, open_database
    from hotline.identity import service as identity
    from hotline.identity.schemas import EVERY_KOMMUNE, Grant
    from hotline.tenancy import service as tenancy
    from hotline.tenancy.files import load_tenant_set
    from hotline.tenancy.tables import Kommune

    engine = await open_database(url, pool_size=5)
    try:
        await migrate()
        tenant_set = load_tenant_set(ROOT / "tenants", known_topics=await tenancy.known_topic_codes())
        async with Kommune._meta.db.transaction():
            await tenancy.apply_definitions(tenant_set)
        now = dt.datetime.now(dt.UTC)
        _, secret = await identity.create_webhook_secret(
            identity.SecretBox(SECRET_KEY), "0751", "bench platform", created_by="bench", now=now
        )
        sessions = []
        for index in range(agents):
            session = await identity.sign_in(
                issuer="https://idp.bench/0615",
                subject=f"agent-{index}",
                home_kommune="0615",
                display_name=f"Agent {index}",
                grants=[Grant("agent", EVERY_KOMMUNE)],
                now=now,
                ip="127.0.0.1",
            )
            principal = await identity.session_principal(
                session, now, idle=dt.timedelta(hours=8), absolute=dt.timedelta(hours=12)
            )
            assert principal is not None  # noqa: S101  (just opened)
            sessions.append((principal.user_id, session))
        return secret, sessions
    finally:
        await close_database(engine)


async def _create_postgres() -> tuple[str, str]:
    import asyncpg  # type: ignore[import-untyped]

    name = f"hotline_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name, POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def _drop_postgres(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _start_server(port: int, environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    code = "import sys; from hotline.cli import main; sys.exit(main(['serve']))"
    profile = os.environ.get("HOTLINE_BENCH_PROFILE", "")
    if profile:  # cProfile of the app's event loop, written when the server stops
        code = f"import cProfile; from hotline.cli import main; cProfile.run(\"main(['serve'])\", {profile!r})"
    env = {**os.environ, **environment, "HOTLINE_PORT": str(port)}
    with log.open("ab") as sink:
        return subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [sys.executable, "-c", code], env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT
        )


async def _wait_up(url: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/health/live")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the app at {url} did not start")


# -- the run ---------------------------------------------------------------------------------------------


@dataclass
class Pops:
    server_ms: dict[str, float] = field(default_factory=dict)
    """Server clock, webhook arrival to screen-pop sent: only calls offered by the request that brought them."""
    offered_ns: dict[str, int] = field(default_factory=dict)
    """Client clock: when the offered event's POST was handed to the event loop."""
    first_pop_ns: dict[str, int] = field(default_factory=dict)
    """Client clock: when the call's first screen-pop was read, whichever way it was assigned."""
    errors: list[str] = field(default_factory=list)

    def end_to_end_ms(self, call_id: str) -> float | None:
        offered, popped = self.offered_ns.get(call_id), self.first_pop_ns.get(call_id)
        return None if offered is None or popped is None else (popped - offered) / 1e6


@dataclass
class AgentClient:
    user_id: int
    session: str
    csrf: str
    http: HttpClient
    pops: Pops

    @property
    def address(self) -> str:
        """Each agent sits at a browser of their own, behind the reverse proxy (deploy/caddy): the app sees them
        as distinct addresses, as it would in production, and keeps a rate-limit budget per address. (From one
        address, the budget's history of 200 agents' requests grows to thousands of entries a minute.)"""
        return f"10.{self.user_id // 65536 % 256}.{self.user_id // 256 % 256}.{self.user_id % 256}"

    @property
    def headers(self) -> dict[str, str]:
        return {
            "x-forwarded-for": self.address,
            "cookie": f"hotline_session={self.session}; hotline_csrf={self.csrf}",
            "x-csrftoken": self.csrf,
            "accept": "application/json",
            "content-type": "application/json",
        }

    async def presence(self, state: str) -> None:
        response = await self.http.request(
            "POST", "/api/console/presence", body=json.dumps({"state": state}).encode(), headers=self.headers
        )
        if response.status != 200:
            self.pops.errors.append(f"presence {response.status}")

    async def handle(self, call_id: str) -> None:
        try:
            answered = await self.http.request("POST", f"/api/console/calls/{call_id}/answer", headers=self.headers)
            done = await self.http.request(
                "POST", f"/api/console/calls/{call_id}/wrap-up", body=WRAP_UP, headers=self.headers
            )
        except (OSError, TimeoutError) as exc:
            self.pops.errors.append(f"handle {type(exc).__name__}")
            return
        if answered.status != 200 or done.status != 200:
            self.pops.errors.append(f"handle {answered.status}/{done.status}")

    async def listen(self, connected: asyncio.Event, tasks: set[asyncio.Task[None]]) -> None:
        def on_event(event: str, event_id: str) -> None:
            if event != "screen-pop" or not event_id:
                return
            received = time.time_ns()
            call_id, arrived, sent = event_id.rsplit(".", 2)
            self.pops.first_pop_ns.setdefault(call_id, received)
            if int(arrived) > 0:
                self.pops.server_ms[call_id] = (int(sent) - int(arrived)) / 1e6
            task = asyncio.create_task(self.handle(call_id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        headers = {
            "x-forwarded-for": self.address,
            "cookie": f"hotline_session={self.session}",
            "accept": "text/event-stream",
        }
        try:
            status = await self.http.stream("/console/events", headers=headers, on_event=on_event, opened=connected)
        except (OSError, TimeoutError) as exc:
            self.pops.errors.append(f"stream {type(exc).__name__}")
        else:
            if status != 200:
                self.pops.errors.append(f"stream {status}")


async def _post_signed(http: HttpClient, secret: str, body: bytes) -> int:
    from hotline.calls.telephony import sign

    headers = {
        "content-type": "application/json",
        "x-hotline-kommune": "0751",
        "x-hotline-signature": sign(secret.encode(), body, int(time.time())),
    }
    try:
        response = await http.request("POST", "/api/telephony/events", body=body, headers=headers)
    except (OSError, TimeoutError):  # a timeout under overload: counted as a failed post
        return 0
    return response.status


async def _offer_at_rate(
    clients: list[HttpClient], secret: str, rate: int, seconds: float, tag: str, pops: Pops
) -> tuple[list[str], int]:
    from hotline.calls.telephony import Offered, encode_batch

    total = int(rate * seconds)
    started = time.perf_counter()
    sent: list[str] = []
    pending: list[asyncio.Task[int]] = []
    for index in range(total):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        call_id = f"{tag}-{index}"
        body = encode_batch(
            [
                Offered(
                    call_id=call_id,
                    at=dt.datetime.now(dt.UTC),
                    dialled_number=NUMBERS[index % len(NUMBERS)],
                    caller_number=f"+452{index % 10_000_000:07d}",
                )
            ]
        )
        pops.offered_ns[call_id] = time.time_ns()
        pending.append(asyncio.create_task(_post_signed(clients[index % len(clients)], secret, body)))
        sent.append(call_id)
    statuses = await asyncio.gather(*pending)
    return sent, sum(1 for status in statuses if status != 200)


async def _ingest(clients: list[HttpClient], secret: str, batches: int, senders: int) -> dict[str, Any]:
    from hotline.calls.telephony import Abandoned, Offered, TelephonyEvent, encode_batch

    now = dt.datetime.now(dt.UTC)
    bodies = []
    for batch in range(batches):
        events: list[TelephonyEvent] = []
        for index in range(250):
            call_id = f"ingest-{batch}-{index}"
            events.append(Offered(call_id=call_id, at=now, dialled_number=AARHUS_NUMBER, caller_number="+4520000000"))
            events.append(Abandoned(call_id=call_id, at=now))
        bodies.append(encode_batch(events))
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    failures = 0

    async def sender(number: int) -> None:
        nonlocal failures
        while not queue.empty():
            body = queue.get_nowait()
            if await _post_signed(clients[number % len(clients)], secret, body) != 200:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(sender(n) for n in range(senders)))
    elapsed = time.perf_counter() - started
    events_total = batches * 500
    return {
        "events": events_total,
        "batch_size": 500,
        "senders": senders,
        "seconds": round(elapsed, 3),
        "events_per_second": round(events_total / elapsed, 1),
        "failed_batches": failures,
    }


async def run(
    *,
    sqlite: bool,
    processes: int,
    agents: int,
    rates: list[int],
    seconds: float,
    ingest_batches: int,
    repeats: int = 1,
) -> dict[str, Any]:
    from hotline.lib.embedded_nats import EmbeddedNatsServer, free_port

    with tempfile.TemporaryDirectory(prefix="hotline-bench-calls-") as tmp:
        work = Path(tmp)
        pg_name = ""
        if sqlite:
            url = f"sqlite:///{work / 'hotline.sqlite'}"
        else:
            pg_name, url = await _create_postgres()
        nats = EmbeddedNatsServer(work / "nats")
        nats.start()
        servers: list[subprocess.Popen[bytes]] = []
        server_log = Path(os.environ.get("HOTLINE_BENCH_SERVER_LOG", "") or work / "server.log")
        try:
            secret, sessions = await _prepare_database(url, agents)
            environment = {
                "HOTLINE_DATABASE_URL": url,
                "HOTLINE_NATS_SERVERS": nats.url,
                "HOTLINE_SECRET_KEY": SECRET_KEY,
                "HOTLINE_DEMO": "true",
                "HOTLINE_DATA_DIR": str(work / "data"),
                "HOTLINE_LOG_LEVEL": "warning",
                "HOTLINE_DATABASE_POOL_SIZE": os.environ.get("HOTLINE_BENCH_POOL_SIZE", "20"),
            }
            urls = []
            for _ in range(processes):
                port = free_port("127.0.0.1")
                servers.append(_start_server(port, environment, server_log))
                urls.append(f"http://127.0.0.1:{port}")
            for url_ in urls:
                await _wait_up(url_)
            async with httpx.AsyncClient(timeout=10) as setup:
                csrf = (await setup.get(f"{urls[0]}/tenants")).cookies.get("hotline_csrf") or ""
            http = [HttpClient.for_url(url_) for url_ in urls]
            try:
                pops = Pops()
                clients = [
                    AgentClient(user_id, session, csrf, http[index % len(http)], pops)
                    for index, (user_id, session) in enumerate(sessions)
                ]
                handling: set[asyncio.Task[None]] = set()
                listeners = []
                for client in clients:
                    connected = asyncio.Event()
                    listeners.append(asyncio.create_task(client.listen(connected, handling)))
                    await asyncio.wait_for(connected.wait(), 10)
                await asyncio.gather(*(client.presence("available") for client in clients))
                await asyncio.sleep(1.0)
                rss_connected = [_rss_mb(process.pid) for process in servers]

                # Ingest first, on a server that no rate round has loaded yet.
                ingest = await _ingest(http, secret, ingest_batches, senders=4)
                by_rate: dict[str, Any] = {}
                for rate in rates:
                    rounds: list[dict[str, Any]] = []
                    all_sent: list[str] = []
                    for repeat in range(repeats):
                        cpu = _CpuMeter([process.pid for process in servers])
                        sent, failed = await _offer_at_rate(http, secret, rate, seconds, f"r{rate}.{repeat}", pops)
                        await _settle(sent, pops, handling)
                        states = await _presence_and_calls(url)
                        all_sent += sent
                        on_server = [pops.server_ms[c] for c in sent if c in pops.server_ms]
                        end_to_end = [ms for c in sent if (ms := pops.end_to_end_ms(c)) is not None]
                        rounds.append(
                            {
                                "calls": len(sent),
                                "screen_pops": len(end_to_end),
                                "failed_posts": failed,
                                "end_to_end": _stats(end_to_end),
                                "server_stamped": {"calls": len(on_server), **_stats(on_server)},
                                "cpu_percent": cpu.read(),
                                "after": states,
                            }
                        )
                    on_server = [pops.server_ms[c] for c in all_sent if c in pops.server_ms]
                    end_to_end = [ms for c in all_sent if (ms := pops.end_to_end_ms(c)) is not None]
                    by_rate[str(rate)] = {
                        "calls": len(all_sent),
                        "screen_pops": len(end_to_end),
                        "failed_posts": sum(r["failed_posts"] for r in rounds),
                        "end_to_end": _stats(end_to_end),
                        "server_stamped": {"calls": len(on_server), **_stats(on_server)},
                        "worst_round_p99_ms": max(r["end_to_end"]["p99_ms"] for r in rounds),
                        "cpu_percent": rounds[-1]["cpu_percent"],
                        "rounds": rounds,
                    }
                rss_after = [_rss_mb(process.pid) for process in servers]
                dump = os.environ.get("HOTLINE_BENCH_DUMP", "")
                if dump:  # every call's latency, for looking at when the slow ones happened
                    await asyncio.to_thread(Path(dump).write_text, json.dumps(pops.server_ms))
                for task in list(handling):
                    task.cancel()
                for listener in listeners:
                    listener.cancel()
                await asyncio.gather(*listeners, return_exceptions=True)
            finally:
                for client_ in http:
                    await client_.aclose()
            return {
                "benchmark": "calls",
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "database": "sqlite" if sqlite else "postgresql",
                "app_processes": processes,
                "agents_connected": agents,
                "seconds_per_rate": seconds,
                "rounds_per_rate": repeats,
                "cpu_count": os.cpu_count(),
                "screen_pop_latency": by_rate,
                "target_p99_ms_at_100_per_s": 25,
                "ingest": ingest,
                "target_ingest_events_per_s": 1000,
                "rss_mb_with_connections": rss_connected,
                "rss_mb_after_load": rss_after,
                "agent_errors": pops.errors[:20],
                "agent_error_count": len(pops.errors),
            }
        finally:
            for process in servers:
                # SIGINT when profiling: uvicorn re-raises the signal after its shutdown, and only an interrupt
                # (not SIGTERM's default action) lets cProfile write its file.
                process.send_signal(signal.SIGINT if os.environ.get("HOTLINE_BENCH_PROFILE") else signal.SIGTERM)
            for process in servers:
                try:
                    process.wait(40)
                except subprocess.TimeoutExpired:
                    process.kill()
            nats.stop()
            if pg_name:
                await _drop_postgres(pg_name)


async def _presence_and_calls(url: str) -> dict[str, dict[str, int]]:
    """After a round: agents by presence and calls by status (every agent should be available again, every
    call done)."""
    from hotline.calls.tables import AgentPresence, Call
    from hotline.db.engine import close_database, open_database

    engine = await open_database(url, pool_size=1)
    try:
        presence = await AgentPresence.raw("SELECT state, COUNT(*) AS n FROM agent_presence GROUP BY state")
        calls = await Call.raw('SELECT status, COUNT(*) AS n FROM "call" WHERE call_id LIKE {} GROUP BY status', "r%")
    finally:
        await close_database(engine)
    return {
        "agents": {row["state"]: int(row["n"]) for row in presence},
        "calls": {row["status"]: int(row["n"]) for row in calls},
    }


async def _settle(sent: list[str], pops: Pops, handling: set[asyncio.Task[None]], within: float = 10.0) -> None:
    """Wait until every call of the round popped (or ``within`` passed) and the agents have wrapped up."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and (  # noqa: ASYNC110  (polling two conditions coarsely is enough here)
        handling or not all(c in pops.first_pop_ns for c in sent)
    ):
        await asyncio.sleep(0.05)


def print_table(results: dict[str, Any]) -> None:
    lines = [
        f"calls benchmark: {results['database']}, {results['app_processes']} app process(es), "
        f"{results['agents_connected']} agents connected, {results['rounds_per_rate']} round(s) of "
        f"{results['seconds_per_rate']} s per rate",
        "screen-pop latency, every call: offered POST sent -> first screen-pop read (load generator's clock);",
        "server-stamped: webhook arrival -> screen-pop sent (server's clock), calls assigned on arrival",
        "",
        f"{'rate/s':>7} {'calls':>6} {'popped':>6} {'p50 ms':>8} {'p99 ms':>8} {'worst round p99':>15} {'max ms':>8}"
        f" {'server-stamped n / p50 / p99':>30}   CPU % of a core: app / load generator / postgres / nats",
    ]
    for rate, row in results["screen_pop_latency"].items():
        stamped = row["server_stamped"]
        lines.append(
            f"{rate:>7} {row['calls']:>6} {row['screen_pops']:>6} {row['end_to_end']['p50_ms']:>8} "
            f"{row['end_to_end']['p99_ms']:>8} {row['worst_round_p99_ms']:>15} {row['end_to_end']['max_ms']:>8} "
            f"{str(stamped['calls']) + ' / ' + str(stamped['p50_ms']) + ' / ' + str(stamped['p99_ms']):>30}   "
            + " / ".join(str(value) for value in row["cpu_percent"].values())
        )
    ingest = results["ingest"]
    lines += [
        "",
        f"ingest: {ingest['events_per_second']} events/s ({ingest['events']} events in batches of "
        f"{ingest['batch_size']}, {ingest['senders']} senders, {ingest['failed_batches']} failed)",
        f"RSS of the app process(es) with the connections open: {results['rss_mb_with_connections']} MB; "
        f"after the load: {results['rss_mb_after_load']} MB",
        f"agent errors: {results['agent_error_count']}",
    ]
    print("\n".join(lines))


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline bench calls", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite in a temp dir instead of PostgreSQL")
    parser.add_argument(
        "--processes",
        type=int,
        default=max(1, min(os.cpu_count() or 1, 4)),
        help="app processes, as the replicas of deploy/ (default: one per core, at most 4)",
    )
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--rates", default="5,50,100", help="offered calls per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each rate runs (default 10)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per rate, each with fresh calls (the worst p99 is reported)"
    )
    parser.add_argument("--ingest-batches", type=int, default=40, help="batches of 500 events (default 40)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "calls.json"))
    options = parser.parse_args(arguments)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # uvloop: the load generator's own event loop should cost as little as the server's (uvicorn runs on uvloop).
    results = uvloop.run(
        run(
            sqlite=options.sqlite,
            processes=options.processes,
            agents=options.agents,
            rates=[int(rate) for rate in options.rates.split(",") if rate.strip()],
            seconds=options.seconds,
            ingest_batches=options.ingest_batches,
            repeats=max(1, options.repeat),
        )
    )
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return 0
