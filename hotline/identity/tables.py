"""Tables of the identity area: users, sign-in attempts in flight, sessions, machine credentials and the audit log.

Secrets are never stored as given: session ids, login ``state`` values and API tokens as SHA-256 hashes; webhook
HMAC secrets (which must be usable for verification) encrypted with a key derived from HOTLINE_SECRET_KEY.
"""

from piccolo.columns import JSON, Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class User(Table, tablename="identity_user"):
    """A person known by (issuer, subject): the e-mail can change or be reused, the subject cannot."""

    issuer = Varchar(length=500, index=True)
    subject = Varchar(length=255)
    home_kommune = Varchar(length=4, index=True)
    display_name = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_login_at = Timestamptz(null=True, default=None)


class LoginAttempt(Table, tablename="identity_login_attempt"):
    """An authorization request in flight: ``state`` (hashed) bound to the tenant, issuer, nonce and PKCE
    verifier. Deleted when the callback consumes it, so a state works once."""

    state_hash = Varchar(length=64, unique=True, index=True)
    kommune_code = Varchar(length=4)
    issuer = Varchar(length=500)
    nonce = Varchar(length=128)
    code_verifier = Varchar(length=128)
    redirect_uri = Varchar(length=500)
    next_path = Varchar(length=500, default="/")
    created_at = Timestamptz(default=TimestamptzNow())


class UserSession(Table, tablename="identity_session"):
    """A signed-in browser. Only the SHA-256 of the cookie's session id is stored."""

    id_hash = Varchar(length=64, unique=True, index=True)
    user = ForeignKey(references=User, index=True)
    grants = JSON(default=[])
    """The roles this sign-in carries, each ``{"role": ..., "kommune": code or "*"}``; recomputed at each sign-in."""
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    ip = Varchar(length=64, default="")
    revoked = Boolean(default=False)
    id_token = Text(default="")
    """The provider's ID token from this sign-in, kept only to send as ``id_token_hint`` when the person signs out
    (OpenID Connect RP-Initiated Logout). Server-side only: never in a cookie, a page or the log."""


class ApiToken(Table, tablename="identity_api_token"):
    """A kommune system's bearer token: one kommune, named permissions, shown once, revocable."""

    kommune_code = Varchar(length=4, index=True)
    name = Varchar(length=100)
    token_hash = Varchar(length=64, unique=True, index=True)
    permissions = JSON(default=[])
    created_at = Timestamptz(default=TimestamptzNow())
    created_by = Varchar(length=200, default="")
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class WebhookSecret(Table, tablename="identity_webhook_secret"):
    """A telephony integration's HMAC secret, encrypted (the verifier needs the secret itself)."""

    kommune_code = Varchar(length=4, index=True)
    name = Varchar(length=100)
    ciphertext = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    created_by = Varchar(length=200, default="")
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class AuditEntry(Table, tablename="identity_audit"):
    """One audited event. Append-only: the repository has no update or delete for it, and database triggers
    (migration ``identity_2026_11_25t17_32_16``) refuse UPDATE, DELETE and TRUNCATE whoever sends them."""

    at = Timestamptz(default=TimestamptzNow(), index=True)
    action = Varchar(length=64, index=True)
    outcome = Varchar(length=16, default="ok")
    actor = Varchar(length=300, default="")
    """``issuer|subject`` of a person, ``token:<id>`` of a machine, empty when unknown."""
    actor_name = Varchar(length=200, default="")
    actor_role = Varchar(length=32, default="")
    kommune_code = Varchar(length=4, default="", index=True)
    """Whose data or configuration the event concerns."""
    target = Varchar(length=200, default="")
    detail = JSON(default={})
    ip = Varchar(length=64, default="")
