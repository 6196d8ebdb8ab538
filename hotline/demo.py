"""``hotline demo``: the whole service on one machine, with the same code paths as production.

SQLite in the data directory, an embedded nats-server with JetStream, the demo federation from ``tenants/``
applied idempotently, and the web server. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from pathlib import Path

import msgspec

from hotline.config import Settings
from hotline.config.settings import SmtpSettings
from hotline.db.engine import close_database, migrate, open_database
from hotline.federation.demo_rota import seed_demo_rota
from hotline.figures.history import seed_demo_history
from hotline.knowledge import service as knowledge
from hotline.letters.mailbox import MailSink
from hotline.lib.embedded_nats import EmbeddedNatsServer, free_port
from hotline.server.run import run_event_loop, run_server
from hotline.tenancy import service
from hotline.tenancy.files import load_tenant_set

log = logging.getLogger(__name__)
SOURCE_TENANTS = Path(__file__).resolve().parent.parent / "tenants"
SIMULATOR_KOMMUNE = "0751"
"""The kommune whose (demo) webhook secret the simulator signs with."""
SIMULATOR_SECRET_NAME = "demo simulator"  # noqa: S105 - the secret's label, not a secret
DEMO_SPEED = 20.0
"""An evening of six hours in eighteen minutes."""
DEMO_AGENTS = 3


def tenants_directory(settings: Settings) -> Path:
    return Path(settings.tenants_dir) if settings.tenants_dir else SOURCE_TENANTS


def _persistent_secret(data: Path) -> str:
    """Keep the demo's secret across restarts so sign-ins survive them."""
    path = data / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def run_demo(settings: Settings, *, port: int, simulate: bool = False) -> int:
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    host = settings.server.host
    if port == 0:
        port = free_port(host)
    elif not _port_is_free(host, port):
        print(f"hotline: port {port} on {host} is in use; choose another with --port (or --port 0 for any free one)")
        return 2
    server = msgspec.structs.replace(
        settings.server,
        port=port,
        secret_key=_persistent_secret(data),
        public_base_url=settings.server.public_base_url or f"http://{host}:{port}",
    )
    settings = msgspec.structs.replace(settings, server=server)

    nats_server = EmbeddedNatsServer(data / "nats")
    nats_server.start()
    print(f"Embedded NATS with JetStream on {nats_server.url} (storage in {data / 'nats'})", flush=True)
    mail_sink = _start_mail_sink(settings)
    if mail_sink is not None:
        settings = msgspec.structs.replace(
            settings, smtp=SmtpSettings(host=mail_sink.host, port=mail_sink.port, tls="none")
        )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            run_event_loop(_demo(settings, nats_server.url, simulate=simulate))
    finally:
        if mail_sink is not None:
            mail_sink.stop()
        nats_server.stop()
        print("Demo stopped.", flush=True)
    return 0


def _start_mail_sink(settings: Settings) -> MailSink | None:
    """The local SMTP sink that letters are delivered to (unless HOTLINE_SMTP_HOST names a real relay); what it
    receives is kept in the data directory and shown at /demo/mailbox."""
    if settings.smtp.host:
        return None
    sink = MailSink(settings.data_path / "mailbox", host="127.0.0.1", port=free_port("127.0.0.1"))
    sink.start()
    print(f"Local SMTP sink on 127.0.0.1:{sink.port} (mail kept in {sink.directory})", flush=True)
    return sink


async def _simulator_secret(settings: Settings) -> tuple[Path, str]:
    """A fresh webhook secret for the simulator (the previous one is revoked), kept in the data directory so that
    ``hotline simulate`` can be pointed at the demo by hand too. Demo only: a real integration's secret is issued
    by a kommune admin at /admin/kommuner/<code>/tokens and shown once."""
    import datetime as dt

    from hotline.identity import service as identity
    from hotline.identity.service import SecretBox
    from hotline.tenancy.tables import Kommune

    now = dt.datetime.now(dt.UTC)
    async with Kommune._meta.db.transaction():
        for old in await identity.webhook_secrets(SIMULATOR_KOMMUNE):
            if old.name == SIMULATOR_SECRET_NAME and old.revoked_at is None:
                await identity.revoke_webhook_secret(SIMULATOR_KOMMUNE, old.id, now)
        _, secret = await identity.create_webhook_secret(
            SecretBox(settings.server.secret_key),
            SIMULATOR_KOMMUNE,
            SIMULATOR_SECRET_NAME,
            created_by="hotline demo",
            now=now,
        )
    path = settings.data_path / "simulator-secret"
    await asyncio.to_thread(_keep_secret, path, secret)
    return path, secret


def _keep_secret(path: Path, secret: str) -> None:
    path.write_text(secret, encoding="utf-8")
    path.chmod(0o600)


async def _simulate_forever(settings: Settings, secret: str) -> None:
    """Simulated evenings, one after the other, against the demo itself: callers arrive on the wallboard and in
    the console; the simulated agents are fewer than the load needs, so some calls wait for the person trying it.

    The simulated agents hold live console connections, which the web server would wait for at Ctrl-C; so the
    simulator stops as soon as the server stops answering (it closes its listening socket first)."""
    import httpx

    from hotline.calls.simulate import Options, SimulateError, simulate

    options = Options(
        url=settings.base_url,
        kommune=SIMULATOR_KOMMUNE,
        secret=secret,
        speed=DEMO_SPEED,
        agents=DEMO_AGENTS,
    )

    async def evenings() -> None:
        while True:
            try:
                report = await simulate(options)
            except SimulateError as exc:
                log.warning("the demo's simulator stopped: %s", exc)
                return
            print("Simulated evening finished: " + "; ".join(report.lines()), flush=True)

    running = asyncio.create_task(evenings())
    async with httpx.AsyncClient(base_url=settings.base_url, timeout=2) as probe:
        while not running.done():
            await asyncio.wait({running}, timeout=0.5)
            try:
                await probe.get("/health/live")
            except httpx.TransportError:
                break
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def _demo(settings: Settings, nats_url: str, *, simulate: bool = False) -> None:
    from hotline.server.app import create_app
    from hotline.tenancy.tables import Kommune

    engine = await open_database(settings.database_url)
    try:
        applied = await migrate()
        if applied:
            print(f"Database {settings.database_url}: applied {len(applied)} migration(s)", flush=True)
        directory = tenants_directory(settings)
        tenant_set = load_tenant_set(directory, known_topics=await service.known_topic_codes())
        async with Kommune._meta.db.transaction():
            report = await service.apply_definitions(tenant_set)
        print(f"Tenants from {directory}: {report}", flush=True)
        async with Kommune._meta.db.transaction():
            seeded = await knowledge.seed()
        print(f"Knowledge bank demo articles: {seeded}", flush=True)
        print(f"Figures demo history (last 8 weeks): {await seed_demo_history()}", flush=True)
        async with Kommune._meta.db.transaction():
            rota_seeded = await seed_demo_rota()
        print(f"Rota demo data (last 8 weeks, this week and the next): {rota_seeded}", flush=True)
        secret_file, secret = await _simulator_secret(settings)
        app = create_app(settings, engine=engine, nats_servers=[nats_url])
        simulate_command = (
            f"HOTLINE_SIMULATE_SECRET=$(cat {secret_file}) hotline simulate --url {settings.base_url} "
            f"--kommune {SIMULATOR_KOMMUNE} --speed {DEMO_SPEED:g} --agents {DEMO_AGENTS}"
        )
        banner = (
            f"\n  Digital Hotline demo is running:  {settings.base_url}/\n"
            f"  Sign in (development provider):    {settings.base_url}/auth/login\n"
            f"  Demo mailbox (letters sent):       {settings.base_url}/demo/mailbox\n"
            f"  Wallboard (coordinator):           {settings.base_url}/wallboard\n"
            + (
                "  Simulated calls:                   running (a compressed evening, again and again)\n"
                if simulate
                else f"  Simulate an evening of calls:      {simulate_command}\n"
            )
            + f"  Readiness:                         {settings.base_url}/health/ready\n"
            f"  API documentation:                 {settings.base_url}/schema\n"
            "  Stop with Ctrl-C.\n"
        )
        background: list[asyncio.Task[None]] = []

        def started() -> None:
            print(banner, flush=True)
            if simulate:
                background.append(asyncio.get_running_loop().create_task(_simulate_forever(settings, secret)))

        try:
            await run_server(app, settings, on_started=started)
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await close_database(engine)
