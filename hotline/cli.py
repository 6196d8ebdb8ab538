"""The ``hotline`` command: run the demo or the production server, migrate, and manage tenants as code."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from hotline.config import Settings, SettingsError, load_settings
from hotline.config.settings import demo_settings
from hotline.db.engine import MigrationError, close_database, migrate, open_database
from hotline.tenancy.files import TenantFilesError, load_tenant_set

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline", description="Digital Hotline: the kommuner's shared evening hotline."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run everything on this machine: SQLite, embedded NATS, SMTP sink, demo tenants"
    )
    demo.add_argument("--port", type=int, default=8000, help="web port (default 8000; 0 picks a free one)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument(
        "--data-dir", default=".hotline-demo", help="where the demo keeps its files (default .hotline-demo)"
    )
    demo.add_argument(
        "--simulate",
        action="store_true",
        help="also run a simulated evening of calls against the demo (hotline simulate)",
    )

    commands.add_parser("serve", help="run the web server with the production settings (HOTLINE_* variables)")
    from hotline.calls.simulate import add_arguments as simulate_arguments

    simulate_arguments(
        commands.add_parser("simulate", help="send a realistic evening of signed telephony events to an instance")
    )
    commands.add_parser("migrate", help="apply database migrations")

    bench = commands.add_parser("bench", help="run a benchmark and write bench-results/<name>.json")
    bench.add_argument(
        "benchmark",
        choices=["kb", "letters", "figures", "calls"],
        help="kb: the knowledge bank at federation scale; letters: rendering and delivery of letterhead replies; "
        "figures: the dashboards and the settlement over a year of history; "
        "calls: screen-pop latency, webhook ingest and memory with 200 live agents",
    )
    bench.add_argument("options", nargs=argparse.REMAINDER, help="passed on (see hotline bench kb --help)")

    tenants = commands.add_parser("tenants", help="kommune definitions as code").add_subparsers(
        dest="tenants_command", required=True, metavar="ACTION"
    )
    check = tenants.add_parser("check", help="validate a tenants folder (or one kommune's folder); changes nothing")
    check.add_argument("directory", type=Path)
    apply = tenants.add_parser("apply", help="upsert a tenants folder in one transaction; all or nothing")
    apply.add_argument("directory", type=Path)
    export = tenants.add_parser("export", help="write the live configuration as a tenants folder")
    export.add_argument("directory", type=Path)
    generate = tenants.add_parser("generate-demo", help="(re)generate the demo federation's 98 kommuner")
    generate.add_argument("directory", type=Path)
    return parser


def _settings(overrides: dict[str, Any] | None = None) -> Settings:
    return load_settings(overrides=overrides)


async def _with_database(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    engine = await open_database(settings.database_url, settings.database.pool_size)
    try:
        await migrate()
        return await work()
    finally:
        await close_database(engine)


async def _tenants_check(directory: Path) -> int:
    tenant_set = load_tenant_set(directory)
    members = sum(t.kommune.member for t in tenant_set.tenants)
    print(f"{directory}: {len(tenant_set.tenants)} kommuner ({members} members) are valid")
    return EXIT_OK


async def _tenants_apply(settings: Settings, directory: Path) -> int:
    from hotline.tenancy import service

    async def work() -> int:
        from hotline.tenancy.tables import Kommune

        known = await service.known_topic_codes()
        tenant_set = load_tenant_set(directory, known_topics=known)
        async with Kommune._meta.db.transaction():
            report = await service.apply_definitions(tenant_set)
        print(f"{directory}: {report}")
        return EXIT_OK

    return await _with_database(settings, work)


async def _tenants_export(settings: Settings, directory: Path) -> int:
    from hotline.tenancy import service

    async def work() -> int:
        count = await service.export_definitions(directory)
        print(f"{directory}: wrote {count} kommuner")
        return EXIT_OK

    return await _with_database(settings, work)


async def _migrate(settings: Settings) -> int:
    engine = await open_database(settings.database_url, settings.database.pool_size)
    try:
        applied = await migrate()
    finally:
        await close_database(engine)
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "database is up to date")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request with its full URL at INFO: a query string may carry what the log must not, and the
    # ring instructions would add a line per batch. Its warnings still show; the callers log what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            from hotline.demo import run_demo

            base = _settings(
                {"demo": True, "data_dir": args.data_dir, "server": {"host": args.host, "port": args.port or 8000}}
            )
            return run_demo(demo_settings(base), port=args.port, simulate=args.simulate)
        if args.command == "simulate":
            from hotline.calls import simulate

            return simulate.main(args)
        if args.command == "bench":
            if args.benchmark == "letters":
                from hotline.bench import letters

                return letters.main(args.options)
            if args.benchmark == "calls":
                from hotline.bench import calls as calls_bench

                return calls_bench.main(args.options)
            if args.benchmark == "figures":
                from hotline.bench import figures

                return figures.main(args.options)
            from hotline.bench import kb

            return kb.main(args.options)
        if args.command == "tenants" and args.tenants_command == "check":
            return asyncio.run(_tenants_check(args.directory))
        if args.command == "tenants" and args.tenants_command == "generate-demo":
            from hotline.tenancy.demo_federation import generate

            generate(args.directory)
            print(f"{args.directory}: demo federation written")
            return EXIT_OK
        settings = _settings()
        logging.getLogger().setLevel(settings.log_level.upper())
        if args.command == "serve":
            from hotline.server.run import serve

            return serve(settings)
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.tenants_command == "apply":
            return asyncio.run(_tenants_apply(settings, args.directory))
        if args.tenants_command == "export":
            return asyncio.run(_tenants_export(settings, args.directory))
    except SettingsError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TenantFilesError as exc:
        print(f"hotline: {len(exc.problems)} problem(s); nothing was applied:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_FAILED
    except MigrationError as exc:
        print(f"hotline: migration failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
