"""The rules of the identity area: who holds which role for which kommune, sessions, and machine credentials.

No HTTP and no SQL here (queries are in :mod:`hotline.identity.repository`; the caller owns the transaction).

- Roles come from the ID token's role claim through the tenant's ``role_map`` and are granted **for the kommune
  whose provider signed the user in** (the tenant bound to the login ``state``), never for a kommune named in the
  token or the URL. ``agent`` and ``coordinator`` work federation-wide; ``coordinator`` only from a provider
  configured with ``grants_coordinator``.
- Session ids, API tokens: 32 random bytes, only their SHA-256 stored, shown once.
- Webhook HMAC secrets: AES-256-GCM with a key derived (HKDF) from HOTLINE_SECRET_KEY, the kommune code as
  associated data so a ciphertext copied to another kommune's row does not decrypt.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hotline.identity import repository
from hotline.identity.audit import Actor
from hotline.identity.schemas import (
    EVERY_KOMMUNE,
    PERMISSIONS,
    ROLES,
    ApiTokenOut,
    Grant,
    WebhookSecretOut,
)
from hotline.tenancy.schemas import IdentityConfig

SESSION_COOKIE = "hotline_session"
TOKEN_PREFIX = "hl_"  # noqa: S105  (a prefix that makes leaked tokens easy to spot, not a secret)
# Roles that concern the whole federation; the others are held for the signing-in kommune only.
FEDERATION_ROLES = frozenset({"agent", "coordinator"})
# Writing last_seen on every request would turn every page view into a write; a minute is precise enough.
_TOUCH_EVERY = dt.timedelta(seconds=60)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back naive; they are stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


# -- who may do what --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The person (session) or kommune system (API token) behind a request."""

    kind: Literal["user", "token"]
    actor: Actor
    home_kommune: str
    grants: tuple[Grant, ...] = ()
    permissions: frozenset[str] = frozenset()
    user_id: int = 0
    session_hash: str = ""

    def has_role(self, roles: Iterable[str], kommune: str | None = None) -> Grant | None:
        """The grant that gives one of ``roles`` (for ``kommune`` when one is named), if any."""
        wanted = set(roles)
        for grant in self.grants:
            if grant.role in wanted and (kommune is None or grant.kommune in {kommune, EVERY_KOMMUNE}):
                return grant
        return None

    def has_permission(self, permission: str, kommune: str) -> bool:
        return self.kind == "token" and permission in self.permissions and self.home_kommune == kommune

    @property
    def role_names(self) -> list[str]:
        return sorted({grant.role for grant in self.grants})


def _claim_values(claims: Mapping[str, Any], claim: str) -> list[str]:
    value = claims.get(claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def grants_from_claims(config: IdentityConfig, kommune_code: str, claims: Mapping[str, Any]) -> list[Grant]:
    """The roles a verified ID token grants, scoped to the kommune that signed the user in."""
    roles: set[str] = set()
    for value in _claim_values(claims, config.role_claim):
        role = config.role_map.get(value) if config.role_map else (value if value in ROLES else None)
        if role is not None:
            roles.add(role)
    if not config.grants_coordinator:
        roles.discard("coordinator")
    return [
        Grant(role=role, kommune=EVERY_KOMMUNE if role in FEDERATION_ROLES else kommune_code)  # type: ignore[arg-type]
        for role in sorted(roles)
    ]


# -- sessions ---------------------------------------------------------------------------------------------


async def sign_in(
    *,
    issuer: str,
    subject: str,
    home_kommune: str,
    display_name: str,
    grants: list[Grant],
    now: dt.datetime,
    ip: str,
    id_token: str = "",
) -> str:
    """Record the user and open a new session; returns the session id for the cookie (never stored).
    ``id_token`` is the provider's ID token, kept with the session for signing out at the provider."""
    user_id = await repository.upsert_user(issuer, subject, home_kommune, display_name, now)
    session_id = secrets.token_urlsafe(32)
    await repository.insert_session(
        {
            "id_hash": hash_secret(session_id),
            "user": user_id,
            "grants": msgspec.json.encode(grants).decode(),
            "created_at": now,
            "last_seen_at": now,
            "ip": ip[:64],
            "id_token": id_token,
        }
    )
    return session_id


@dataclass(frozen=True)
class _CachedSession:
    principal: Principal
    created: dt.datetime
    last_seen: dt.datetime
    loaded: float  # time.monotonic() when read from the database


# Session id hash -> the principal read a moment ago. Every API request resolves its session; without this cache
# that is one query per request (about a tenth of the agent console's work under load). An entry lives
# SESSION_CACHE_SECONDS, is dropped at once by sign-out in this process, and is only used while the idle and
# absolute limits hold and no last-seen write is due. Sign-out in *another* process takes effect here within
# SESSION_CACHE_SECONDS (docs/SECURITY.md).
SESSION_CACHE_SECONDS = 5.0
_SESSION_CACHE_SIZE = 20_000
_session_cache: dict[str, _CachedSession] = {}


def forget_cached_sessions(*, id_hash: str = "", user_id: int = 0) -> None:
    """Drop cached principals: one session's, every session of a user, or (no argument) all."""
    if id_hash:
        _session_cache.pop(id_hash, None)
    elif user_id:
        for key in [k for k, entry in _session_cache.items() if entry.principal.user_id == user_id]:
            _session_cache.pop(key, None)
    else:
        _session_cache.clear()


async def session_principal(
    session_id: str, now: dt.datetime, *, idle: dt.timedelta, absolute: dt.timedelta
) -> Principal | None:
    """The signed-in user of this session id, or None when it is unknown, ended, idle too long or too old."""
    id_hash = hash_secret(session_id)
    cached = _session_cache.get(id_hash)
    if cached is not None:
        fresh = time.monotonic() - cached.loaded < SESSION_CACHE_SECONDS
        if fresh and now - cached.created <= absolute and now - cached.last_seen <= min(idle, _TOUCH_EVERY):
            return cached.principal
        _session_cache.pop(id_hash, None)
    row = await repository.session_with_user(id_hash)
    if row is None or row["revoked"]:
        return None
    created, last_seen = aware(row["created_at"]), aware(row["last_seen_at"])
    if now - created > absolute or now - last_seen > idle:
        await repository.revoke_session(id_hash)
        return None
    if now - last_seen > _TOUCH_EVERY:
        await repository.touch_session(row["id"], now)
        last_seen = now
    grants = row["grants"]
    grants = msgspec.json.decode(grants, type=list[Grant]) if isinstance(grants, str | bytes) else grants
    display = row["user.display_name"]
    top = next((g.role for g in grants if g.role != "agent"), grants[0].role if grants else "")
    principal = Principal(
        kind="user",
        actor=Actor(id=f"{row['user.issuer']}|{row['user.subject']}", name=display, role=top),
        home_kommune=row["user.home_kommune"],
        grants=tuple(grants),
        user_id=row["user.id"],
        session_hash=id_hash,
    )
    if len(_session_cache) >= _SESSION_CACHE_SIZE:
        _session_cache.clear()
    _session_cache[id_hash] = _CachedSession(principal, created, last_seen, time.monotonic())
    return principal


@dataclass(frozen=True)
class EndedSession:
    """What signing out at the provider needs of a session that was just ended."""

    issuer: str
    kommune_code: str
    id_token: str = field(repr=False)


async def end_session(session_id: str) -> EndedSession | None:
    """End the session (its ID token is forgotten with it); returns what the provider's sign-out needs, or None
    when the session was unknown or already ended."""
    id_hash = hash_secret(session_id)
    forget_cached_sessions(id_hash=id_hash)
    row = await repository.session_for_sign_out(id_hash) if session_id else None
    await repository.revoke_session(id_hash)
    if row is None or row["revoked"]:
        return None
    return EndedSession(issuer=row["user.issuer"], kommune_code=row["user.home_kommune"], id_token=row["id_token"])


async def end_every_session(user_id: int) -> int:
    """Log out everywhere: every session of this user ends; returns how many were open."""
    forget_cached_sessions(user_id=user_id)
    return await repository.revoke_sessions_of_user(user_id)


async def forget_stale_login_attempts(now: dt.datetime, older_than: dt.timedelta) -> None:
    await repository.delete_login_attempts_before(now - older_than)


# -- API tokens -------------------------------------------------------------------------------------------


class CredentialError(ValueError):
    """A credential request that cannot be honoured (unknown permission, empty name)."""


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or any(ch in name for ch in "\r\n\x00"):
        raise CredentialError("Give the credential a name of 1-100 characters on one line")
    return name


async def create_api_token(
    kommune_code: str, name: str, permissions: Iterable[str], *, created_by: str, now: dt.datetime
) -> tuple[int, str]:
    """A new token for one kommune with named permissions; returns (id, token). The token is shown once."""
    wanted = sorted(set(permissions))
    unknown = [p for p in wanted if p not in PERMISSIONS]
    if unknown or not wanted:
        raise CredentialError(f"Choose permissions among {', '.join(PERMISSIONS)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = await repository.insert_api_token(
        {
            "kommune_code": kommune_code,
            "name": _check_name(name),
            "token_hash": hash_secret(token),
            "permissions": msgspec.json.encode(wanted).decode(),
            "created_at": now,
            "created_by": created_by[:200],
        }
    )
    return token_id, token


async def token_principal(token: str, now: dt.datetime) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await repository.api_token_by_hash(hash_secret(token))
    if row is None or row["revoked_at"] is not None:
        return None
    await repository.mark_api_token_used(row["id"], now)
    permissions = row["permissions"]
    if isinstance(permissions, str | bytes):
        permissions = msgspec.json.decode(permissions)
    return Principal(
        kind="token",
        actor=Actor(id=f"token:{row['id']}", name=row["name"], role="api_token"),
        home_kommune=row["kommune_code"],
        permissions=frozenset(permissions),
    )


def _decoded(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def _maybe_aware(moment: dt.datetime | None) -> dt.datetime | None:
    return aware(moment) if moment is not None else None


async def api_tokens(kommune_code: str) -> list[ApiTokenOut]:
    return [
        ApiTokenOut(
            id=row["id"],
            kommune_code=row["kommune_code"],
            name=row["name"],
            permissions=_decoded(row["permissions"]),
            created_at=aware(row["created_at"]),
            created_by=row["created_by"],
            last_used_at=_maybe_aware(row["last_used_at"]),
            revoked_at=_maybe_aware(row["revoked_at"]),
        )
        for row in await repository.api_tokens(kommune_code)
    ]


async def revoke_api_token(kommune_code: str, token_id: int, now: dt.datetime) -> bool:
    return await repository.revoke_api_token(kommune_code, token_id, now)


# -- webhook HMAC secrets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretBox:
    """Encrypts webhook secrets with a key derived from HOTLINE_SECRET_KEY (rotating that key means issuing new
    webhook secrets: see docs/SECURITY.md)."""

    secret_key: str
    _key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"hotline webhook secrets v1").derive(
            self.secret_key.encode("utf-8")
        )
        object.__setattr__(self, "_key", derived)

    def seal(self, plaintext: bytes, kommune_code: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._key).encrypt(nonce, plaintext, kommune_code.encode())
        return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, ciphertext: str, kommune_code: str) -> bytes:
        if not ciphertext.startswith("v1:"):
            raise CredentialError("unknown webhook secret format")
        raw = base64.urlsafe_b64decode(ciphertext[3:])
        try:
            return AESGCM(self._key).decrypt(raw[:12], raw[12:], kommune_code.encode())
        except InvalidTag:
            raise CredentialError("webhook secret does not decrypt with this key and kommune") from None


async def create_webhook_secret(
    box: SecretBox, kommune_code: str, name: str, *, created_by: str, now: dt.datetime
) -> tuple[int, str]:
    """A new HMAC secret for a telephony integration; returns (id, secret). The secret is shown once."""
    secret = secrets.token_urlsafe(32)
    secret_id = await repository.insert_webhook_secret(
        {
            "kommune_code": kommune_code,
            "name": _check_name(name),
            "ciphertext": box.seal(secret.encode(), kommune_code),
            "created_at": now,
            "created_by": created_by[:200],
        }
    )
    return secret_id, secret


async def active_webhook_secrets(box: SecretBox, kommune_code: str) -> list[tuple[int, bytes]]:
    """(id, secret) of every unrevoked secret of the kommune, for the calls area to verify signatures with
    (several while an integration rotates). Call :func:`webhook_secret_used` with the id that matched."""
    rows = await repository.webhook_secrets(kommune_code, with_ciphertext=True)
    return [(row["id"], box.open(row["ciphertext"], kommune_code)) for row in rows if row["revoked_at"] is None]


async def webhook_secret_used(secret_id: int, now: dt.datetime) -> None:
    await repository.mark_webhook_secret_used(secret_id, now)


async def webhook_secrets(kommune_code: str) -> list[WebhookSecretOut]:
    return [
        WebhookSecretOut(
            id=row["id"],
            kommune_code=row["kommune_code"],
            name=row["name"],
            created_at=aware(row["created_at"]),
            created_by=row["created_by"],
            last_used_at=_maybe_aware(row["last_used_at"]),
            revoked_at=_maybe_aware(row["revoked_at"]),
        )
        for row in await repository.webhook_secrets(kommune_code)
    ]


async def revoke_webhook_secret(kommune_code: str, secret_id: int, now: dt.datetime) -> bool:
    return await repository.revoke_webhook_secret(kommune_code, secret_id, now)
