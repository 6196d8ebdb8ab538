"""``hotline bench figures``: the dashboards and the settlement over a year of synthetic history in PostgreSQL.

A temporary database is created on the PostgreSQL server (``--postgres``, default the local one), migrated, given
the demo federation and a year of history (``hotline.figures.history``, ~150,000 calls), and dropped at the end.
Then, through the real handlers (HTTP requests on the assembled ASGI app, signed in as the coordinator, templates
rendered):

- a kommune's dashboard for one month (the largest member kommune, the worst case) — target p99 ≤ 200 ms;
- the federation dashboard for the year — target p99 ≤ 1 s;

and through the service function ``hotline.federation.settlement.compute_settlement`` (if the federation area is
present): the settlement for a quarter — target ≤ 2 s.

Writes ``bench-results/figures.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import json
import logging
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _timed(rounds: int, action: Callable[[], Awaitable[None]]) -> dict[str, float]:
    await action()  # warm: connection pool, templates, holiday calendars
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "rounds": rounds,
        "p50_ms": round(_percentile(samples, 0.5), 1),
        "p99_ms": round(_percentile(samples, 0.99), 1),
        "max_ms": round(max(samples), 1),
    }


async def _run(admin_url: str, rounds: int, scale: float, end: dt.date) -> dict[str, Any]:
    import asyncpg  # type: ignore[import-untyped]
    import httpx

    from hotline.config import load_settings
    from hotline.db.engine import close_database, migrate, open_database
    from hotline.figures.history import generate_history
    from hotline.identity import service as identity
    from hotline.identity.schemas import Grant
    from hotline.server.app import create_app
    from hotline.tenancy import service as tenancy
    from hotline.tenancy.files import load_tenant_set
    from hotline.tenancy.tables import Kommune

    name = f"hotline_bench_figures_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url, timeout=10)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    engine = await open_database(url, pool_size=5)
    try:
        await migrate()
        async with Kommune._meta.db.transaction():
            await tenancy.apply_definitions(load_tenant_set(ROOT / "tenants"))
        start = end.replace(year=end.year - 1)
        started = time.perf_counter()
        generated = await generate_history(start=start, end=end, seed=7, scale=scale)
        generate_seconds = round(time.perf_counter() - started, 1)
        await Kommune.raw("ANALYZE").run()
        members = [t for t in await tenancy.load_tenants() if t.definition.member]
        largest = max(members, key=lambda t: t.definition.population)
        now = dt.datetime.combine(end, dt.time(12), tzinfo=dt.UTC)
        with tempfile.TemporaryDirectory() as data_dir:
            settings = load_settings(
                {"HOTLINE_DEMO": "true", "HOTLINE_DATA_DIR": data_dir, "HOTLINE_SECRET_KEY": "b" * 40}
            )
            app = create_app(settings, engine=engine, clock=lambda: now)
            session = await identity.sign_in(
                issuer="https://bench.invalid",
                subject="bench-coordinator",
                home_kommune=largest.code,
                display_name="Bench",
                grants=[Grant("coordinator", "*")],
                now=now,
                ip="127.0.0.1",
            )
            month_start = (end - dt.timedelta(days=1)).replace(day=1)
            month = f"from={month_start.isoformat()}&to={end.isoformat()}"
            year = f"from={start.isoformat()}&to={end.isoformat()}"
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench.local", cookies={"hotline_session": session}
            ) as client:

                async def kommune_month() -> None:
                    answer = await client.get(f"/admin/{largest.code}/figures?{month}")
                    if answer.status_code != 200:
                        raise RuntimeError(f"kommune dashboard answered {answer.status_code}: {answer.text[:200]}")

                async def federation_year() -> None:
                    answer = await client.get(f"/figures?{year}")
                    if answer.status_code != 200:
                        raise RuntimeError(f"federation dashboard answered {answer.status_code}: {answer.text[:200]}")

                kommune = await _timed(rounds, kommune_month)
                federation = await _timed(max(10, rounds // 2), federation_year)
        settlement = await _settlement(end, max(5, rounds // 10))
        calls_in_month = (
            await Kommune.raw(
                "SELECT COUNT(*) AS n FROM call WHERE kommune_code = {} AND offered_at >= {} AND offered_at < {}",
                largest.code,
                dt.datetime.combine(month_start, dt.time(0), tzinfo=dt.UTC),
                dt.datetime.combine(end, dt.time(0), tzinfo=dt.UTC),
            ).run()
        )[0]["n"]
    finally:
        await close_database(engine)
        admin = await asyncpg.connect(admin_url, timeout=10)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "database": "postgresql",
        "history": {"from": start.isoformat(), "to": end.isoformat(), **generated, "seconds": generate_seconds},
        "members": len(members),
        "kommune": {"code": largest.code, "name": largest.name, "calls_in_month": calls_in_month},
        "kommune_dashboard_month": kommune,
        "federation_dashboard_year": federation,
        "settlement_quarter": settlement,
        "measured_through": {
            "kommune_dashboard_month": "HTTP GET on the ASGI app (handler, SQL, templates)",
            "federation_dashboard_year": "HTTP GET on the ASGI app (handler, SQL, templates)",
            "settlement_quarter": "service function hotline.federation.settlement.compute_settlement",
        },
    }


async def _settlement(end: dt.date, rounds: int) -> dict[str, Any]:
    try:
        settlement = importlib.import_module("hotline.federation.settlement")
        schemas = importlib.import_module("hotline.federation.schemas")
    except ModuleNotFoundError:
        return {"measured": False, "reason": "hotline.federation.settlement is not present"}
    # The last whole quarter inside the history.
    quarter_start = dt.date(end.year, 3 * ((end.month - 1) // 3) + 1, 1)
    quarter_end = quarter_start - dt.timedelta(days=1)
    quarter_start = dt.date(quarter_end.year, quarter_end.month - 2, 1)

    async def compute() -> None:
        await settlement.compute_settlement(quarter_start, quarter_end, schemas.AllocationKey(), 45_000)

    timed: dict[str, Any] = await _timed(rounds, compute)
    return {"measured": True, "from": quarter_start.isoformat(), "to": quarter_end.isoformat(), **timed}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline bench figures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("HOTLINE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--rounds", type=int, default=60, help="requests per measurement (default 60)")
    parser.add_argument("--scale", type=float, default=1.0, help="history scale: 1 = ~150,000 calls a year")
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 11, 1), help="history end")
    parser.add_argument("--out", type=Path, default=Path("bench-results") / "figures.json")
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the table
    figures = asyncio.run(_run(args.postgres, args.rounds, args.scale, args.end))
    figures["machine"] = {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures["targets"] = {
        "kommune_dashboard_month_p99_ms_max": 200,
        "federation_dashboard_year_p99_ms_max": 1000,
        "settlement_quarter_ms_max": 2000,
    }
    history = figures["history"]
    print(
        f"history: {history['calls']} calls ({history['from']} – {history['to']}), generated in {history['seconds']} s"
    )
    print(f"{'measurement':<40}{'p50 ms':>10}{'p99 ms':>10}{'target':>10}")
    rows = (
        ("kommune dashboard, one month", figures["kommune_dashboard_month"], "≤ 200"),
        ("federation dashboard, one year", figures["federation_dashboard_year"], "≤ 1000"),
    )
    for label, result, target in rows:
        print(f"{label:<40}{result['p50_ms']:>10}{result['p99_ms']:>10}{target:>10}")
    settlement = figures["settlement_quarter"]
    if settlement.get("measured"):
        print(f"{'settlement, one quarter':<40}{settlement['p50_ms']:>10}{settlement['p99_ms']:>10}{'≤ 2000':>10}")
    else:
        print(f"{'settlement, one quarter':<40}{'not measured: ' + settlement['reason']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0
