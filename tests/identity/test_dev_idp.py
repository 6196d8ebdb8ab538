"""The development identity provider is mounted in demo mode only, and demo issuers are refused outside it."""

from __future__ import annotations

import datetime as dt

import httpx
import msgspec
import pytest

from hotline.config import Settings
from hotline.identity.oidc import RelyingParty, SignInError
from hotline.identity.service import grants_from_claims
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from hotline.tenancy.schemas import IdentityConfig
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database

DEMO_CONFIG = IdentityConfig(issuer="{dev_idp}/0751", client_id="digital-hotline", client_secret_env="UNSET_SECRET")


async def _discovery(settings: Settings, db: Database, nats: EmbeddedNatsServer, clock: FixedClock) -> httpx.Response:
    app = create_app(settings, engine=db.engine, nats_servers=[nats.url], clock=clock)
    async with running(app):
        assert await app.state.services.nats.wait_connected(5)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            return await client.get("/dev-idp/0751/.well-known/openid-configuration")


async def test_the_dev_provider_is_mounted_in_demo_mode(
    settings: Settings, db: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> None:
    answer = await _discovery(settings, db, nats_server, clock)
    assert answer.status_code == 200
    assert answer.json()["issuer"] == f"{settings.base_url}/dev-idp/0751"


async def test_the_dev_provider_is_never_mounted_outside_demo_mode(
    settings: Settings, db: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> None:
    production = msgspec.structs.replace(settings, demo=False)
    answer = await _discovery(production, db, nats_server, clock)
    assert answer.status_code == 404
    app = create_app(production, engine=db.engine, nats_servers=[nats_server.url], clock=clock)
    assert not [route.path for route in app.routes if route.path.startswith("/dev-idp")]


async def test_outside_demo_mode_a_demo_issuer_is_refused() -> None:
    party = RelyingParty(secret_key="x" * 40, dev_idp_url="")
    with pytest.raises(SignInError) as caught:
        await party.start(
            "0751", DEMO_CONFIG, redirect_uri="https://h.example/cb", next_path="/", now=dt.datetime.now(dt.UTC)
        )
    assert caught.value.reason == "dev_idp_outside_demo"
    with pytest.raises(SignInError):
        party.client_secret(DEMO_CONFIG, "0751")
    await party.close()


def test_roles_are_scoped_to_the_signing_in_kommune_and_coordinator_needs_permission() -> None:
    claims = {"roles": ["agent", "kommune_admin", "coordinator", "superuser"]}
    grants = {(g.role, g.kommune) for g in grants_from_claims(DEMO_CONFIG, "0615", claims)}
    assert grants == {("agent", "*"), ("kommune_admin", "0615")}
    federation = msgspec.structs.replace(DEMO_CONFIG, grants_coordinator=True)
    assert ("coordinator", "*") in {(g.role, g.kommune) for g in grants_from_claims(federation, "0751", claims)}
    mapped = msgspec.structs.replace(DEMO_CONFIG, role_map={"Hotline-Auditor": "auditor"})
    assert [(g.role, g.kommune) for g in grants_from_claims(mapped, "0615", {"roles": "Hotline-Auditor"})] == [
        ("auditor", "0615")
    ]
