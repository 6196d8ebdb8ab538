"""Every query of the identity area. The caller owns the transaction.

The audit log has ``insert`` and ``select`` here and nothing else: there is no code path that changes or deletes
an audit entry.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from piccolo.columns.combination import And, Where, WhereRaw

from hotline.identity.tables import ApiToken, AuditEntry, LoginAttempt, User, UserSession, WebhookSecret

# -- users --------------------------------------------------------------------------------------------------


async def upsert_user(issuer: str, subject: str, home_kommune: str, display_name: str, now: dt.datetime) -> int:
    row = (
        await User.select(User._meta.primary_key)
        .where((User.issuer == issuer) & (User.subject == subject))
        .first()
        .run()
    )
    if row is None:
        rows = await (
            User.insert(
                User(
                    issuer=issuer,
                    subject=subject,
                    home_kommune=home_kommune,
                    display_name=display_name,
                    created_at=now,
                    last_login_at=now,
                )
            )
            .returning(User._meta.primary_key)
            .run()
        )
        return int(rows[0]["id"])
    await (
        User.update({User.display_name: display_name, User.home_kommune: home_kommune, User.last_login_at: now})
        .where(User._meta.primary_key == row["id"])
        .run()
    )
    return int(row["id"])


# -- sign-in attempts ---------------------------------------------------------------------------------------


async def save_login_attempt(values: dict[str, Any]) -> None:
    await LoginAttempt.insert(LoginAttempt(**values)).run()


async def take_login_attempt(state_hash: str) -> dict[str, Any] | None:
    """The attempt with this state, removed so that it can be used once only (a second taker finds nothing)."""
    row = await LoginAttempt.select().where(LoginAttempt.state_hash == state_hash).first().run()
    if row is None:
        return None
    deleted = (
        await LoginAttempt.delete()
        .where(LoginAttempt._meta.primary_key == row["id"])
        .returning(LoginAttempt._meta.primary_key)
        .run()
    )
    return row if deleted else None


async def delete_login_attempts_before(moment: dt.datetime) -> None:
    await LoginAttempt.delete().where(LoginAttempt.created_at < moment).run()


# -- sessions -----------------------------------------------------------------------------------------------


async def insert_session(values: dict[str, Any]) -> None:
    await UserSession.insert(UserSession(**values)).run()


async def session_with_user(id_hash: str) -> dict[str, Any] | None:
    return await (
        UserSession.select(
            UserSession._meta.primary_key,
            UserSession.grants,
            UserSession.created_at,
            UserSession.last_seen_at,
            UserSession.revoked,
            UserSession.user.id,
            UserSession.user.issuer,
            UserSession.user.subject,
            UserSession.user.home_kommune,
            UserSession.user.display_name,
        )
        .where(UserSession.id_hash == id_hash)
        .first()
        .run()
    )


async def touch_session(session_id: int, now: dt.datetime) -> None:
    await UserSession.update({UserSession.last_seen_at: now}).where(UserSession._meta.primary_key == session_id).run()


async def session_for_sign_out(id_hash: str) -> dict[str, Any] | None:
    return await (
        UserSession.select(
            UserSession.revoked, UserSession.id_token, UserSession.user.issuer, UserSession.user.home_kommune
        )
        .where(UserSession.id_hash == id_hash)
        .first()
        .run()
    )


# An ended session keeps no ID token: it is needed for the sign-out only, and that is done.
async def revoke_session(id_hash: str) -> None:
    await (
        UserSession.update({UserSession.revoked: True, UserSession.id_token: ""})
        .where(UserSession.id_hash == id_hash)
        .run()
    )


async def revoke_sessions_of_user(user_id: int) -> int:
    rows = await (
        UserSession.update({UserSession.revoked: True, UserSession.id_token: ""})
        .where((UserSession.user == user_id) & (UserSession.revoked == False))  # noqa: E712  (Piccolo syntax)
        .returning(UserSession._meta.primary_key)
        .run()
    )
    return len(rows)


# -- API tokens and webhook secrets -------------------------------------------------------------------------


async def insert_api_token(values: dict[str, Any]) -> int:
    rows = await ApiToken.insert(ApiToken(**values)).returning(ApiToken._meta.primary_key).run()
    return int(rows[0]["id"])


async def api_token_by_hash(token_hash: str) -> dict[str, Any] | None:
    return await ApiToken.select().where(ApiToken.token_hash == token_hash).first().run()


async def api_tokens(kommune_code: str) -> list[dict[str, Any]]:
    return await (
        ApiToken.select(*[c for c in ApiToken._meta.columns if c._meta.name != "token_hash"])
        .where(ApiToken.kommune_code == kommune_code)
        .order_by(ApiToken._meta.primary_key)
        .run()
    )


async def mark_api_token_used(token_id: int, now: dt.datetime) -> None:
    await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken._meta.primary_key == token_id).run()


async def revoke_api_token(kommune_code: str, token_id: int, now: dt.datetime) -> bool:
    rows = await (
        ApiToken.update({ApiToken.revoked_at: now})
        .where(
            (ApiToken._meta.primary_key == token_id)
            & (ApiToken.kommune_code == kommune_code)
            & ApiToken.revoked_at.is_null()
        )
        .returning(ApiToken._meta.primary_key)
        .run()
    )
    return bool(rows)


async def insert_webhook_secret(values: dict[str, Any]) -> int:
    rows = await WebhookSecret.insert(WebhookSecret(**values)).returning(WebhookSecret._meta.primary_key).run()
    return int(rows[0]["id"])


async def webhook_secrets(kommune_code: str, *, with_ciphertext: bool = False) -> list[dict[str, Any]]:
    columns = [c for c in WebhookSecret._meta.columns if with_ciphertext or c._meta.name != "ciphertext"]
    return await (
        WebhookSecret.select(*columns)
        .where(WebhookSecret.kommune_code == kommune_code)
        .order_by(WebhookSecret._meta.primary_key)
        .run()
    )


async def mark_webhook_secret_used(secret_id: int, now: dt.datetime) -> None:
    await (
        WebhookSecret.update({WebhookSecret.last_used_at: now})
        .where(WebhookSecret._meta.primary_key == secret_id)
        .run()
    )


async def revoke_webhook_secret(kommune_code: str, secret_id: int, now: dt.datetime) -> bool:
    rows = await (
        WebhookSecret.update({WebhookSecret.revoked_at: now})
        .where(
            (WebhookSecret._meta.primary_key == secret_id)
            & (WebhookSecret.kommune_code == kommune_code)
            & WebhookSecret.revoked_at.is_null()
        )
        .returning(WebhookSecret._meta.primary_key)
        .run()
    )
    return bool(rows)


# -- audit log (append-only) ----------------------------------------------------------------------------------


async def insert_audit(values: dict[str, Any]) -> None:
    await AuditEntry.insert(AuditEntry(**values)).run()


async def audit_entries(
    kommune_code: str,
    *,
    action: str = "",
    actor: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    condition: Where | And | WhereRaw = AuditEntry.kommune_code == kommune_code
    if action:
        condition = condition & (AuditEntry.action == action)
    if actor:
        # LOWER() on both backends: Piccolo's ilike() falls back to LIKE (with a warning) on SQLite.
        needle = "%" + actor.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
        condition = condition & WhereRaw("(LOWER(actor_name) LIKE {} OR LOWER(actor) LIKE {})", needle, needle)
    if since is not None:
        condition = condition & (AuditEntry.at >= since)
    if until is not None:
        condition = condition & (AuditEntry.at < until)
    return (
        await AuditEntry.select()
        .where(condition)
        .order_by(AuditEntry._meta.primary_key, ascending=False)
        .limit(limit)
        .run()
    )
