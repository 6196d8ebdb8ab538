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
from hotline.knowledge import service as knowledge
from hotline.letters.mailbox import MailSink
from hotline.lib.embedded_nats import EmbeddedNatsServer, free_port
from hotline.server.run import run_server
from hotline.tenancy import service
from hotline.tenancy.files import load_tenant_set

log = logging.getLogger(__name__)
SOURCE_TENANTS = Path(__file__).resolve().parent.parent / "tenants"


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


def run_demo(settings: Settings, *, port: int) -> int:
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
            asyncio.run(_demo(settings, nats_server.url))
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


async def _demo(settings: Settings, nats_url: str) -> None:
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
        app = create_app(settings, engine=engine, nats_servers=[nats_url])
        banner = (
            f"\n  Digital Hotline demo is running:  {settings.base_url}/\n"
            f"  Sign in (development provider):    {settings.base_url}/auth/login\n"
            f"  Demo mailbox (letters sent):       {settings.base_url}/demo/mailbox\n"
            f"  Readiness:                         {settings.base_url}/health/ready\n"
            f"  API documentation:                 {settings.base_url}/schema\n"
            "  Stop with Ctrl-C.\n"
        )
        await run_server(app, settings, on_started=lambda: print(banner, flush=True))
    finally:
        await close_database(engine)
