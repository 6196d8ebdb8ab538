"""Machine credentials: API tokens (hashed, shown once, scoped, revocable, last-used) and webhook HMAC secrets
(encrypted with a key derived from HOTLINE_SECRET_KEY, shown once, revocable, last-used)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from hotline.identity import audit, service
from hotline.identity.schemas import Grant
from hotline.identity.tables import ApiToken, WebhookSecret
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

NOW = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)


async def _admin(client: httpx.AsyncClient, kommune: str, now: dt.datetime) -> str:
    client.cookies.set("hotline_session", await session_cookie_for([Grant("kommune_admin", kommune)], kommune, now=now))
    return (await client.get("/tenants")).cookies.get("hotline_csrf") or client.cookies["hotline_csrf"]


async def test_an_admin_creates_a_token_that_is_shown_once_and_stored_hashed(
    oidc_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await _admin(oidc_client, "0751", clock.now)
    created = await oidc_client.post(
        "/admin/kommuner/0751/tokens", data={"name": "ESDH", "permission": "audit:read", "_csrf_token": csrf}
    )
    assert created.status_code == 201
    token = re.search(r"hl_[A-Za-z0-9_-]{40,}", created.text)
    assert token is not None
    rows = await ApiToken.select().run()
    assert token.group(0) not in str(rows)
    assert rows[0]["token_hash"] == service.hash_secret(token.group(0))
    listing = await oidc_client.get("/admin/kommuner/0751/tokens")
    assert token.group(0) not in listing.text

    oidc_client.cookies.clear()
    bearer = {"authorization": f"Bearer {token.group(0)}"}
    assert (await oidc_client.get("/api/kommuner/0751/audit", headers=bearer)).status_code == 200
    assert (await oidc_client.get("/api/kommuner/0615/audit", headers=bearer)).status_code == 403
    assert (await oidc_client.get("/admin/kommuner/0751/tokens", headers=bearer)).status_code == 403
    assert (await ApiToken.select(ApiToken.last_used_at).first().run())["last_used_at"] is not None

    csrf = await _admin(oidc_client, "0751", clock.now)
    revoked = await oidc_client.post(f"/admin/kommuner/0751/tokens/{rows[0]['id']}/revoke", data={"_csrf_token": csrf})
    assert revoked.status_code == 303
    oidc_client.cookies.clear()
    assert (await oidc_client.get("/api/kommuner/0751/audit", headers=bearer)).status_code == 401
    changes = await audit.entries("0751", action=audit.CONFIG_CHANGED)
    assert [entry.detail.get("change") for entry in changes] == ["revoked", "created"]


async def test_an_unknown_permission_is_refused(db: Database) -> None:
    with pytest.raises(service.CredentialError):
        await service.create_api_token("0751", "x", ["calls:delete"], created_by="t", now=NOW)


async def test_a_webhook_secret_is_encrypted_usable_for_verification_and_revocable(
    oidc_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await _admin(oidc_client, "0751", clock.now)
    created = await oidc_client.post("/admin/kommuner/0751/webhook-secrets", data={"name": "CTI", "_csrf_token": csrf})
    assert created.status_code == 201
    row = await WebhookSecret.select().first().run()
    box = service.SecretBox("x" * 40)
    secret = box.open(row["ciphertext"], "0751").decode()
    assert secret in created.text
    assert secret not in row["ciphertext"]
    assert await service.active_webhook_secrets(box, "0751") == [(row["id"], secret.encode())]
    with pytest.raises(service.CredentialError):
        box.open(row["ciphertext"], "0615")  # copied to another kommune's row, it does not decrypt
    with pytest.raises(service.CredentialError):
        service.SecretBox("y" * 40).open(row["ciphertext"], "0751")
    await service.webhook_secret_used(row["id"], clock.now)
    assert (await service.webhook_secrets("0751"))[0].last_used_at is not None
    revoked = await oidc_client.post(
        f"/admin/kommuner/0751/webhook-secrets/{row['id']}/revoke", data={"_csrf_token": csrf}
    )
    assert revoked.status_code == 303
    assert await service.active_webhook_secrets(box, "0751") == []
