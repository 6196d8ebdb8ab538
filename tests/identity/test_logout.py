"""Signing out at the identity provider too (OpenID Connect RP-Initiated Logout 1.0), against the development
provider over real HTTP: the hotline's session ends first, then the browser is sent to the provider's end-session
endpoint, which checks what it is sent and ends its own session."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hotline.config import Settings, SettingsError, load_settings
from hotline.identity import audit
from hotline.identity.dev_idp import DEMO_CLIENT_ID, PERSONAS, Persona
from hotline.identity.tables import AuditEntry, UserSession
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database
from tests.fixtures.identity import ForgingProvider, callback, three_kommuner

SIGNED_OUT = "http://127.0.0.1:8000/auth/signed-out"  # the settings fixture's PUBLIC_BASE_URL + /auth/signed-out


async def _csrf(client: httpx.AsyncClient) -> str:
    return (await client.get("/tenants")).cookies.get("hotline_csrf") or client.cookies["hotline_csrf"]


async def _authorize(client: httpx.AsyncClient, browser: httpx.AsyncClient, kommune: str) -> httpx.Response:
    """Start a sign-in at the hotline and show the provider's answer to this browser (its cookies included)."""
    start = await client.get(f"/auth/login/{kommune}")
    assert start.status_code in (302, 303), start.text
    return await browser.get(start.headers["location"])


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def _sign_in(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, kommune: str, persona: str = "agent"
) -> httpx.Response:
    """Sign in the way a browser does: the picker when the provider asks, straight back when it does not."""
    answer = await _authorize(client, browser, kommune)
    if answer.status_code == 200:  # the provider asks who you are
        authorize = str(answer.request.url)
        answer = await browser.get(authorize.replace("/authorize?", "/approve?", 1) + f"&persona={persona}")
    assert answer.status_code in (302, 303, 307), answer.text
    signed = await callback(client, _query(answer.headers["location"]))
    assert signed.status_code in (302, 303), signed.text
    return signed


async def _sign_out(client: httpx.AsyncClient, path: str = "/auth/logout") -> httpx.Response:
    out = await client.post(path, data={"_csrf_token": await _csrf(client)})
    assert out.status_code == 303, out.text
    return out


async def _id_token() -> str:
    rows = await UserSession.select(UserSession.id_token).where(UserSession.revoked == False).run()  # noqa: E712
    assert len(rows) == 1
    token: str = rows[0]["id_token"]
    assert token.count(".") == 2
    return token


async def _asks_again(client: httpx.AsyncClient, browser: httpx.AsyncClient, kommune: str) -> bool:
    answer = await _authorize(client, browser, kommune)
    assert answer.status_code in (200, 302, 303, 307), answer.text
    return answer.status_code == 200


async def test_sign_out_ends_the_hotline_session_first_then_the_providers(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        assert await _asks_again(oidc_client, browser, "0727")
        await _sign_in(oidc_client, browser, "0727")
        assert not await _asks_again(oidc_client, browser, "0727")  # the provider's session signs in silently
        provider_cookie = browser.cookies["dev_idp_session"]

        out = await _sign_out(oidc_client)
        assert (await oidc_client.get("/me")).status_code == 401  # before the browser has reached the provider
        end = out.headers["location"]
        assert end.split("?")[0] == f"{idp.issuer('0727')}/end_session"
        sent = _query(end)
        assert sent["post_logout_redirect_uri"] == SIGNED_OUT
        assert sent["client_id"] == "digital-hotline"
        assert len(sent["state"]) >= 32
        assert sent["id_token_hint"].count(".") == 2
        # The ended session keeps no ID token.
        assert {row["id_token"] for row in await UserSession.select(UserSession.id_token).run()} == {""}

        back = await browser.get(end)
        assert back.status_code == 303, back.text
        assert back.headers["location"] == f"{SIGNED_OUT}?state={sent['state']}"
        page = await oidc_client.get(urlsplit(back.headers["location"]).path, params={"state": sent["state"]})
        assert page.status_code == 200
        assert "Du er logget ud af hotlinen og af din kommunes login." in page.text

        assert await _asks_again(oidc_client, browser, "0727")  # the provider asks again
    async with httpx.AsyncClient(timeout=10, cookies={"dev_idp_session": provider_cookie}) as replay:
        assert await _asks_again(oidc_client, replay, "0727")  # its old cookie no longer signs in either
    out_entry = (await AuditEntry.select().where(AuditEntry.action == audit.SIGN_OUT).run())[0]
    detail = out_entry["detail"]
    assert (json.loads(detail) if isinstance(detail, str) else detail) == {"provider_sign_out": "redirected"}
    assert sent["id_token_hint"] not in str(out_entry)


async def test_the_id_token_never_reaches_a_cookie_or_the_log(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        signed = await _sign_in(oidc_client, browser, "0727")
        token = await _id_token()
        assert all(token not in value for value in signed.headers.get_list("set-cookie"))
        assert all(token not in value for value in oidc_client.cookies.values())
        assert token not in (await oidc_client.get("/me")).text
        await _sign_out(oidc_client)
    assert all(token not in record.getMessage() for record in caplog.records)


async def test_an_expired_id_token_still_signs_out_at_the_provider(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, clock: FixedClock
) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0727")
        clock.now += dt.timedelta(minutes=30)  # the ID token lived 5 minutes; the hotline session goes on
        out = await _sign_out(oidc_client)
        back = await browser.get(out.headers["location"])
        assert back.status_code == 303, back.text
        assert await _asks_again(oidc_client, browser, "0727")


async def test_sign_out_everywhere_also_signs_out_at_the_provider(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0751", "admin")
        out = await _sign_out(oidc_client, "/auth/logout-everywhere")
        assert out.headers["location"].startswith(f"{idp.issuer('0751')}/end_session?")
        assert (await browser.get(out.headers["location"])).status_code == 303
        assert await _asks_again(oidc_client, browser, "0751")
    assert await UserSession.count().where(UserSession.revoked == False).run() == 0  # noqa: E712


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/auth/signed-out",
        "http://127.0.0.1:8000/auth/signed-out/",
        "http://127.0.0.1:8000/auth/signed-out?next=https://evil.example",
        "http://127.0.0.1:8000/",
        "javascript:alert(1)",
    ],
)
async def test_the_provider_refuses_an_unregistered_post_logout_redirect_uri_and_ends_nothing(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, target: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0727")
        hint = await _id_token()
        refused = await browser.get(
            f"{idp.issuer('0727')}/end_session",
            params={"id_token_hint": hint, "post_logout_redirect_uri": target, "state": "s"},
        )
        assert refused.status_code == 400
        assert "post_logout_redirect_uri" in refused.json()["error_description"]
        assert "location" not in refused.headers
        assert not await _asks_again(oidc_client, browser, "0727")  # the provider's session is untouched


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "dev-0727-coordinator"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _flipped_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    return f"{head}.{signature[:10]}{'A' if signature[10] != 'A' else 'B'}{signature[11:]}"


@pytest.mark.parametrize(
    ("make_hint", "extra", "reason"),
    [
        (_tampered, {}, "not signed by this issuer"),
        (_flipped_signature, {}, "not signed by this issuer"),
        (lambda token: token.rsplit(".", 1)[0] + ".", {}, "not signed by this issuer"),
        (lambda token: "", {}, "id_token_hint is required"),
        (lambda token: "not-a-jwt", {}, "not signed by this issuer"),
        (lambda token: token, {"client_id": "another-client"}, "client_id does not match"),
    ],
    ids=["claims-changed", "signature-changed", "signature-removed", "missing", "garbage", "other-client"],
)
async def test_the_provider_refuses_a_tampered_or_missing_id_token_hint(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, make_hint: object, extra: dict[str, str], reason: str
) -> None:
    assert callable(make_hint)
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0727")
        hint = make_hint(await _id_token())
        refused = await browser.get(
            f"{idp.issuer('0727')}/end_session",
            params={"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT, "state": "s", **extra},
        )
        assert refused.status_code == 400
        assert reason in refused.json()["error_description"]
        assert not await _asks_again(oidc_client, browser, "0727")


async def test_the_provider_refuses_an_id_token_of_another_issuer(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0751", "admin")
        aarhus_token = await _id_token()
        refused = await browser.get(
            f"{idp.issuer('0727')}/end_session",
            params={"id_token_hint": aarhus_token, "post_logout_redirect_uri": SIGNED_OUT},
        )
        assert refused.status_code == 400
        assert "not signed by this issuer" in refused.json()["error_description"]
        # Signed with the right key but naming another issuer: refused too.
        claims = {**idp.claims_for("0727", _persona("agent"), "digital-hotline", None), "iss": idp.issuer("0751")}
        refused = await browser.get(
            f"{idp.issuer('0727')}/end_session", params={"id_token_hint": idp.id_token("0727", claims)}
        )
        assert refused.status_code == 400
        assert "another issuer" in refused.json()["error_description"]
        unknown = idp.id_token("0727", idp.claims_for("0727", _persona("agent"), "unknown-client", None))
        refused = await browser.get(f"{idp.issuer('0727')}/end_session", params={"id_token_hint": unknown})
        assert refused.status_code == 400
        assert "unknown client" in refused.json()["error_description"]


def _persona(key: str) -> Persona:
    return next(p for p in PERSONAS if p.key == key)


async def test_without_an_end_session_endpoint_sign_out_is_local_and_the_page_says_close_the_browser(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    idp.offer_end_session = False
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0727")
        out = await _sign_out(oidc_client)
        assert out.headers["location"] == "/auth/signed-out"
        assert (await oidc_client.get("/me")).status_code == 401
        page = await oidc_client.get("/auth/signed-out")
        assert page.status_code == 200
        assert "luk alle browservinduer" in page.text
        english = await oidc_client.get("/auth/signed-out", params={"lang": "en"})
        assert "close every browser window" in english.text
        assert not await _asks_again(oidc_client, browser, "0727")  # the provider was not asked
    entry = (await AuditEntry.select().where(AuditEntry.action == audit.SIGN_OUT).run())[0]
    detail = entry["detail"]
    assert (json.loads(detail) if isinstance(detail, str) else detail) == {"provider_sign_out": "not_offered"}


async def test_the_signed_out_page_claims_the_provider_only_for_the_state_it_sent(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0727")
        out = await _sign_out(oidc_client)
        page = await oidc_client.get("/auth/signed-out", params={"state": "forged-state"})
        assert "luk alle browservinduer" in page.text
        state = _query(out.headers["location"])["state"]
        # The first visit spent the state cookie: the right state does not count twice.
        again = await oidc_client.get("/auth/signed-out", params={"state": state})
        assert "luk alle browservinduer" in again.text


async def test_the_dev_provider_asks_again_when_told_to(oidc_client: httpx.AsyncClient, idp: ForgingProvider) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0727")
        start = (await oidc_client.get("/auth/login/0727")).headers["location"]
        assert (await browser.get(start + "&prompt=login")).status_code == 200
        assert (await browser.get(start + "&login_hint=admin")).status_code == 200
    async with httpx.AsyncClient(timeout=10) as stranger:
        answer = await stranger.get(start + "&prompt=none")
        assert answer.status_code in (302, 303, 307)
        assert _query(answer.headers["location"])["error"] == "login_required"


def test_the_signed_out_page_defaults_to_the_public_address(settings: Settings) -> None:
    assert settings.post_logout_redirect_uri == SIGNED_OUT
    chosen = load_settings(
        {
            "HOTLINE_DEMO": "true",
            "HOTLINE_POST_LOGOUT_REDIRECT_URI": "https://hotline.example/auth/signed-out",
        }
    )
    assert chosen.post_logout_redirect_uri == "https://hotline.example/auth/signed-out"


@pytest.mark.parametrize(
    ("value", "demo"),
    [
        ("/auth/signed-out", "true"),
        ("ftp://hotline.example/auth/signed-out", "true"),
        ("https:///auth/signed-out", "true"),
        ("https://hotline.example/auth/signed-out#done", "true"),
        ("http://hotline.example/auth/signed-out", "false"),
    ],
)
def test_a_bad_post_logout_redirect_uri_stops_start_up_naming_the_key(value: str, demo: str) -> None:
    environ = {
        "HOTLINE_DEMO": demo,
        "HOTLINE_POST_LOGOUT_REDIRECT_URI": value,
        "HOTLINE_NATS_SERVERS": "nats://127.0.0.1:4222",
        "HOTLINE_SMTP_HOST": "smtp.example",
        "HOTLINE_SECRET_KEY": "x" * 40,
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert "HOTLINE_POST_LOGOUT_REDIRECT_URI" in str(caught.value)
    assert repr(value) in str(caught.value)


def test_the_demo_provider_registers_the_client_the_demo_tenant_files_name() -> None:
    assert {t.kommune.identity.client_id for t in three_kommuner().tenants if t.kommune.identity} == {DEMO_CLIENT_ID}


async def test_the_demo_mounts_the_end_session_endpoint_for_get_and_form_post(
    settings: Settings, db: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> None:
    app = create_app(settings, engine=db.engine, nats_servers=[nats_server.url], clock=clock)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            discovery = (await client.get("/dev-idp/0751/.well-known/openid-configuration")).json()
            assert discovery["end_session_endpoint"] == f"{settings.base_url}/dev-idp/0751/end_session"
            # Refused by the provider's own checks (400), not by the hotline's CSRF protection (403).
            assert (await client.get("/dev-idp/0751/end_session")).status_code == 400
            posted = await client.post("/dev-idp/0751/end_session", data={"id_token_hint": "x.y.z"})
            assert posted.status_code == 400
            assert "not signed by this issuer" in posted.json()["error_description"]


async def test_when_the_provider_cannot_be_asked_the_hotline_sign_out_still_stands(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, clock: FixedClock
) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        await _sign_in(oidc_client, browser, "0727")
        clock.now += dt.timedelta(minutes=6)  # past the relying party's five-minute discovery cache
        real = idp.base_url
        idp.base_url = real.replace("127.0.0.1", "localhost")  # its discovery document now names another issuer
        try:
            out = await _sign_out(oidc_client)
        finally:
            idp.base_url = real
        assert out.headers["location"] == "/auth/signed-out"
        assert (await oidc_client.get("/me")).status_code == 401
    entry = (await AuditEntry.select().where(AuditEntry.action == audit.SIGN_OUT).run())[0]
    detail = entry["detail"]
    assert (json.loads(detail) if isinstance(detail, str) else detail) == {"provider_sign_out": "failed"}
