"""Settings of the service, one typed record per concern.

Values come from an optional TOML file (``HOTLINE_CONFIG_FILE``) and are overridden by ``HOTLINE_*``
environment variables. Every field below names the variable that sets it. A missing or bad value stops
start-up with a :class:`SettingsError` that names the key and the value that was given.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec


class SettingsError(Exception):
    """A setting is missing or has a value the service cannot use."""


class DatabaseSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str = ""
    """HOTLINE_DATABASE_URL: ``sqlite:///path/to/file.sqlite`` or ``postgresql://user@host:5432/db``.
    Empty means a SQLite file ``hotline.sqlite`` in the data directory."""
    pool_size: int = 10
    """HOTLINE_DATABASE_POOL_SIZE: connections per process (PostgreSQL only)."""


class NatsSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    servers: tuple[str, ...] = ()
    """HOTLINE_NATS_SERVERS: comma-separated ``nats://`` or ``tls://`` URLs. Empty in demo mode, where an
    embedded nats-server is started; required otherwise."""
    creds_file: str = ""
    """HOTLINE_NATS_CREDS: path to a NATS ``.creds`` file (JWT + NKey) for this node."""
    user: str = ""
    """HOTLINE_NATS_USER: user name, when the cluster uses user/password authentication."""
    password: str = ""
    """HOTLINE_NATS_PASSWORD: password for HOTLINE_NATS_USER."""
    kb_publisher_user: str = ""
    """HOTLINE_NATS_KB_PUBLISHER_USER: the user of the knowledge bank's outbox publisher, the only one that may
    write the KV bucket (deploy/nats/accounts.conf: "kb-publisher"); it gets a connection of its own. Empty: the
    publisher shares the node's connection (demo mode)."""
    kb_publisher_password: str = ""
    """HOTLINE_NATS_KB_PUBLISHER_PASSWORD: password for HOTLINE_NATS_KB_PUBLISHER_USER."""


class SmtpSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str = ""
    """HOTLINE_SMTP_HOST: the SMTP relay. Empty in demo mode, where a local SMTP sink is started."""
    port: int = 587
    """HOTLINE_SMTP_PORT: the relay's port."""
    username: str = ""
    """HOTLINE_SMTP_USERNAME: login at the relay, if it requires one."""
    password: str = ""
    """HOTLINE_SMTP_PASSWORD: password for HOTLINE_SMTP_USERNAME."""
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    """HOTLINE_SMTP_TLS: ``starttls`` (required), ``implicit`` (SMTPS) or ``none`` (demo mode only)."""
    dkim_dir: str = ""
    """HOTLINE_DKIM_DIR: folder of DKIM private keys, one PEM file per sending domain named ``<domain>.pem``
    (e.g. ``aarhus.dk.pem``). A kommune whose domain has no key file is sent unsigned. Keys never live in git."""
    dkim_selector: str = "hotline"
    """HOTLINE_DKIM_SELECTOR: the DKIM selector published in DNS as ``<selector>._domainkey.<domain>``."""
    render_processes: Annotated[int, msgspec.Meta(ge=-1, le=64)] = 0
    """HOTLINE_LETTER_RENDER_PROCESSES: PDF rendering in that many warmed worker processes; 0 renders in a thread
    (the demo), -1 starts one per CPU core (production)."""


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str = "127.0.0.1"
    """HOTLINE_HOST: interface the web server binds to."""
    port: int = 8000
    """HOTLINE_PORT: TCP port of the web server."""
    public_base_url: str = ""
    """HOTLINE_PUBLIC_BASE_URL: the address citizens and agents use, e.g. ``https://hotline.kommune.example``.
    Links in e-mails are built from it. Defaults to ``http://HOST:PORT`` in demo mode."""
    secret_key: str = ""
    """HOTLINE_SECRET_KEY: at least 32 characters; signs cookies and CSRF tokens. Generated in demo mode."""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    """HOTLINE_TRUSTED_PROXIES: comma-separated addresses or networks (``10.0.0.0/8``) of the reverse proxies
    whose ``X-Forwarded-For``/``-Proto`` headers are believed. A request from anywhere else keeps its own
    address, so a client that reaches a replica directly cannot pose as another address (rate limits, audit).
    ``*`` trusts every peer: only where nothing but the proxy can reach the replicas."""


class IdentitySettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    session_idle_minutes: int = 45
    """HOTLINE_SESSION_IDLE_MINUTES: a session ends after this many minutes without a request (an evening
    shift has pauses between calls, but an unattended screen must not stay signed in for long)."""
    session_absolute_hours: int = 12
    """HOTLINE_SESSION_ABSOLUTE_HOURS: a session ends this many hours after sign-in, whatever happens."""
    login_rate_limit: int = 20
    """HOTLINE_LOGIN_RATE_LIMIT: sign-in starts and callbacks per minute per client address (per process)."""
    api_rate_limit: int = 600
    """HOTLINE_API_RATE_LIMIT: ``/api`` requests per minute per client address (per process)."""
    dev_idp_url: str = ""
    """HOTLINE_DEV_IDP_URL: demo mode only: where the ``{dev_idp}`` placeholder in demo tenant files points.
    Defaults to the development identity provider mounted in the demo itself (``PUBLIC_BASE_URL/dev-idp``)."""
    post_logout_redirect_uri: str = ""
    """HOTLINE_POST_LOGOUT_REDIRECT_URI: the hotline's signed-out page, where a kommune's identity provider sends
    the browser back after signing the person out there too (OpenID Connect RP-Initiated Logout). Register this
    exact URI as a post-logout redirect URI of the hotline's client at every kommune's provider (or at the broker).
    An absolute ``https://`` URL (``http://`` in demo mode) without a fragment. Defaults to
    ``PUBLIC_BASE_URL/auth/signed-out``."""


class TelephonySettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    ring_url: str = ""
    """HOTLINE_TELEPHONY_RING_URL: where the contact-centre platform takes ring instructions (which agent to ring
    for a call, and when to stop: docs/TELEPHONY.md "Ring instructions"). An ``https://`` URL (``http://`` in demo
    mode or to a loopback host). Empty: no instructions are sent."""
    ring_secret: str = ""
    """HOTLINE_TELEPHONY_RING_SECRET: at least 32 characters, shared with the platform; signs every ring
    instruction request like the platform signs its events. Required when HOTLINE_TELEPHONY_RING_URL is set."""


class Settings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    data_dir: str = ".hotline-data"
    """HOTLINE_DATA_DIR: where the SQLite file, the embedded NATS storage and generated files live."""
    demo: bool = False
    """HOTLINE_DEMO: run with embedded services and the development identity provider."""
    tenants_dir: str = ""
    """HOTLINE_TENANTS_DIR: the folder of kommune definitions applied by ``hotline demo``.
    Defaults to the ``tenants/`` folder of the source tree."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """HOTLINE_LOG_LEVEL: debug, info, warning or error."""
    database: DatabaseSettings = DatabaseSettings()
    nats: NatsSettings = NatsSettings()
    smtp: SmtpSettings = SmtpSettings()
    server: ServerSettings = ServerSettings()
    identity: IdentitySettings = IdentitySettings()
    telephony: TelephonySettings = TelephonySettings()

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def database_url(self) -> str:
        """The database URL in use: the configured one, or the SQLite file in the data directory."""
        return self.database.url or f"sqlite:///{self.data_path / 'hotline.sqlite'}"

    @property
    def base_url(self) -> str:
        return (self.server.public_base_url or f"http://{self.server.host}:{self.server.port}").rstrip("/")

    @property
    def post_logout_redirect_uri(self) -> str:
        """Where identity providers send the browser after signing out: the hotline's signed-out page."""
        return self.identity.post_logout_redirect_uri or f"{self.base_url}/auth/signed-out"


# Environment variable -> (section or "" for top level, field). The one place that maps names to fields.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "HOTLINE_DATA_DIR": ("", "data_dir"),
    "HOTLINE_DEMO": ("", "demo"),
    "HOTLINE_TENANTS_DIR": ("", "tenants_dir"),
    "HOTLINE_LOG_LEVEL": ("", "log_level"),
    "HOTLINE_DATABASE_URL": ("database", "url"),
    "HOTLINE_DATABASE_POOL_SIZE": ("database", "pool_size"),
    "HOTLINE_NATS_SERVERS": ("nats", "servers"),
    "HOTLINE_NATS_CREDS": ("nats", "creds_file"),
    "HOTLINE_NATS_USER": ("nats", "user"),
    "HOTLINE_NATS_PASSWORD": ("nats", "password"),
    "HOTLINE_NATS_KB_PUBLISHER_USER": ("nats", "kb_publisher_user"),
    "HOTLINE_NATS_KB_PUBLISHER_PASSWORD": ("nats", "kb_publisher_password"),
    "HOTLINE_SMTP_HOST": ("smtp", "host"),
    "HOTLINE_SMTP_PORT": ("smtp", "port"),
    "HOTLINE_SMTP_USERNAME": ("smtp", "username"),
    "HOTLINE_SMTP_PASSWORD": ("smtp", "password"),
    "HOTLINE_SMTP_TLS": ("smtp", "tls"),
    "HOTLINE_DKIM_DIR": ("smtp", "dkim_dir"),
    "HOTLINE_DKIM_SELECTOR": ("smtp", "dkim_selector"),
    "HOTLINE_LETTER_RENDER_PROCESSES": ("smtp", "render_processes"),
    "HOTLINE_HOST": ("server", "host"),
    "HOTLINE_PORT": ("server", "port"),
    "HOTLINE_PUBLIC_BASE_URL": ("server", "public_base_url"),
    "HOTLINE_SECRET_KEY": ("server", "secret_key"),
    "HOTLINE_TRUSTED_PROXIES": ("server", "trusted_proxies"),
    "HOTLINE_SESSION_IDLE_MINUTES": ("identity", "session_idle_minutes"),
    "HOTLINE_SESSION_ABSOLUTE_HOURS": ("identity", "session_absolute_hours"),
    "HOTLINE_LOGIN_RATE_LIMIT": ("identity", "login_rate_limit"),
    "HOTLINE_API_RATE_LIMIT": ("identity", "api_rate_limit"),
    "HOTLINE_DEV_IDP_URL": ("identity", "dev_idp_url"),
    "HOTLINE_POST_LOGOUT_REDIRECT_URI": ("identity", "post_logout_redirect_uri"),
    "HOTLINE_TELEPHONY_RING_URL": ("telephony", "ring_url"),
    "HOTLINE_TELEPHONY_RING_SECRET": ("telephony", "ring_secret"),
}
_FIELD_TO_ENV = {value: key for key, value in ENVIRONMENT.items()}
_SECRET_FIELDS = {
    ("nats", "password"),
    ("nats", "kb_publisher_password"),
    ("smtp", "password"),
    ("server", "secret_key"),
    ("telephony", "ring_secret"),
}


def _describe(section: str, field: str, raw: Mapping[str, Any]) -> str:
    """Name a setting the way the operator wrote it: the environment variable, or the TOML key."""
    env = _FIELD_TO_ENV.get((section, field))
    value = (raw.get(section, {}) if section else raw).get(field, "<missing>")
    shown = "<hidden>" if (section, field) in _SECRET_FIELDS else repr(value)
    key = f"{section}.{field}" if section else field
    return f"{env} (TOML key '{key}') = {shown}" if env else f"TOML key '{key}' = {shown}"


# Settings written as comma-separated lists in the environment.
_LIST_FIELDS = frozenset({"servers", "trusted_proxies"})


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name, (section, field) in ENVIRONMENT.items():
        if name not in environ:
            continue
        value: Any = environ[name]
        if field in _LIST_FIELDS:
            value = [part.strip() for part in value.split(",") if part.strip()]
        target = raw.setdefault(section, {}) if section else raw
        target[field] = value
    return raw


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _path_to_field(message: str) -> tuple[str, str] | None:
    """Find ``$.section.field`` (or ``$.field``) in a msgspec validation message."""
    marker = "at `$."
    if marker not in message:
        return None
    path = message.split(marker, 1)[1].split("`", 1)[0].split("[", 1)[0]
    parts = path.split(".")
    return (parts[0], parts[1]) if len(parts) >= 2 else ("", parts[0])


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from the TOML file, the environment and explicit overrides (CLI flags), in that order."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    config_file = environ.get("HOTLINE_CONFIG_FILE", "")
    if config_file:
        path = Path(config_file)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"HOTLINE_CONFIG_FILE = {config_file!r}: the file does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"HOTLINE_CONFIG_FILE = {config_file!r}: not valid TOML: {exc}") from None
    raw = _merge(raw, _from_environment(environ))
    if overrides:
        raw = _merge(raw, overrides)

    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        where = _path_to_field(message)
        if where is None:
            raise SettingsError(f"Bad setting: {message}") from None
        if "unknown field" in message:
            unknown = message.split("`", 2)[1]
            section = where[1] if where[0] == "" else where[0]
            raise SettingsError(f"Unknown setting '{section}.{unknown}' in {config_file or 'the settings'}") from None
        raise SettingsError(f"Bad setting {_describe(*where, raw)}: {message.split(' - at ', 1)[0]}") from None
    _check(settings, raw)
    return settings


def _check(settings: Settings, raw: Mapping[str, Any]) -> None:
    """Rules a type alone cannot express. Each failure names the key and the value."""
    url = settings.database.url
    if url and urlsplit(url).scheme not in {"sqlite", "postgres", "postgresql"}:
        raise SettingsError(
            f"Bad setting {_describe('database', 'url', raw)}: use sqlite:///PATH or postgresql://HOST/DB"
        )
    for server in settings.nats.servers:
        parts = urlsplit(server)
        if parts.scheme not in {"nats", "tls", "ws", "wss"} or not parts.hostname:
            raise SettingsError(
                f"Bad setting {_describe('nats', 'servers', raw)}: {server!r} is not a nats:// or tls:// URL"
            )
    if not 0 < settings.server.port < 65536:
        raise SettingsError(f"Bad setting {_describe('server', 'port', raw)}: the port must be 1-65535")
    if not 0 < settings.smtp.port < 65536:
        raise SettingsError(f"Bad setting {_describe('smtp', 'port', raw)}: the port must be 1-65535")
    for proxy in settings.server.trusted_proxies:
        if proxy == "*":
            continue
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(
                f"Bad setting {_describe('server', 'trusted_proxies', raw)}: {proxy!r} is not an address, "
                "a network such as 10.0.0.0/8, or *"
            ) from None
    base = settings.server.public_base_url
    if base and urlsplit(base).scheme not in {"http", "https"}:
        raise SettingsError(f"Bad setting {_describe('server', 'public_base_url', raw)}: must start with https://")
    identity = settings.identity
    for name in ("session_idle_minutes", "session_absolute_hours", "login_rate_limit", "api_rate_limit"):
        if getattr(identity, name) < 1:
            raise SettingsError(f"Bad setting {_describe('identity', name, raw)}: must be at least 1")
    if identity.session_idle_minutes > identity.session_absolute_hours * 60:
        raise SettingsError(
            f"Bad setting {_describe('identity', 'session_idle_minutes', raw)}: longer than the absolute limit "
            f"HOTLINE_SESSION_ABSOLUTE_HOURS = {identity.session_absolute_hours}"
        )
    if identity.dev_idp_url and not settings.demo:
        raise SettingsError(
            f"Bad setting {_describe('identity', 'dev_idp_url', raw)}: the development identity provider "
            "exists in demo mode only"
        )
    signed_out = urlsplit(identity.post_logout_redirect_uri)
    if identity.post_logout_redirect_uri and (
        signed_out.scheme not in ({"http", "https"} if settings.demo else {"https"})
        or not signed_out.hostname
        or signed_out.fragment
        or "#" in identity.post_logout_redirect_uri
    ):
        raise SettingsError(
            f"Bad setting {_describe('identity', 'post_logout_redirect_uri', raw)}: must be an absolute https:// URL "
            "without a fragment, registered at the identity providers"
        )
    if settings.database.pool_size < 1:
        raise SettingsError(f"Bad setting {_describe('database', 'pool_size', raw)}: must be at least 1")
    _check_telephony(settings, raw)
    if settings.demo:
        return
    # Production: nothing is started for us, so everything must be named.
    if not settings.nats.servers:
        raise SettingsError("Missing setting HOTLINE_NATS_SERVERS: production needs the NATS cluster's URLs")
    if not settings.smtp.host:
        raise SettingsError("Missing setting HOTLINE_SMTP_HOST: production needs the SMTP relay")
    if settings.smtp.tls == "none":
        raise SettingsError("Bad setting HOTLINE_SMTP_TLS = 'none': TLS to the relay is required outside demo mode")
    if len(settings.server.secret_key) < 32:
        raise SettingsError(
            "Missing or short setting HOTLINE_SECRET_KEY: production needs at least 32 random characters"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_telephony(settings: Settings, raw: Mapping[str, Any]) -> None:
    """The ring instruction webhook: an http(s) URL (plain http only in demo mode or to this machine) and a secret
    long enough to sign with."""
    telephony = settings.telephony
    if not telephony.ring_url:
        return
    parts = urlsplit(telephony.ring_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.fragment:
        raise SettingsError(
            f"Bad setting {_describe('telephony', 'ring_url', raw)}: must be an absolute https:// URL without a "
            "fragment"
        )
    if parts.scheme == "http" and not settings.demo and not _is_loopback(parts.hostname):
        raise SettingsError(
            f"Bad setting {_describe('telephony', 'ring_url', raw)}: must be https:// (plain http only in demo "
            "mode or to a loopback address)"
        )
    if len(telephony.ring_secret) < 32:
        raise SettingsError(
            f"Missing or short setting {_describe('telephony', 'ring_secret', raw)}: HOTLINE_TELEPHONY_RING_URL is "
            "set, and the ring instructions need a shared secret of at least 32 random characters to sign with"
        )


def demo_settings(settings: Settings) -> Settings:
    """Fill what demo mode starts by itself: a generated secret key and a public URL on the local port."""
    secret = settings.server.secret_key or secrets.token_urlsafe(48)
    server = msgspec.structs.replace(settings.server, secret_key=secret)
    return msgspec.structs.replace(settings, demo=True, server=server)
