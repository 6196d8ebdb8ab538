"""Signing in through a kommune's OpenID Connect provider, against a real provider over real HTTP, and every
attack on the flow refused with a clear page (4xx), an audit entry and no session."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from hotline.identity import audit
from hotline.identity.tables import AuditEntry, User, UserSession
from tests.fixtures.app import FixedClock
from tests.fixtures.identity import ForgingProvider, begin, callback, sign_in


async def _sessions() -> int:
    return await UserSession.count().run()


async def _failures() -> list[dict[str, Any]]:
    return await AuditEntry.select().where(AuditEntry.action == audit.SIGN_IN_FAILED).run()


async def assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert "text/html" in response.headers["content-type"]
    assert "Sign-in refused" in response.text
    assert "hotline_session" not in response.headers.get("set-cookie", "")
    assert await _sessions() == 0
    failures = await _failures()
    assert [row["detail"] if isinstance(row["detail"], dict) else json.loads(row["detail"]) for row in failures] == [
        {"reason": reason}
    ]


async def test_an_agent_from_odder_signs_in_and_gets_a_session_keyed_by_issuer_and_subject(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    answer = await sign_in(oidc_client, "0727", "agent")
    assert answer.status_code in (302, 303)
    assert answer.headers["location"] == "/me"
    cookie = answer.headers["set-cookie"]
    assert "hotline_session=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    users = await User.select(User.issuer, User.subject, User.home_kommune).run()
    assert users == [{"issuer": idp.issuer("0727"), "subject": "dev-0727-agent", "home_kommune": "0727"}]
    stored = await UserSession.select(UserSession.id_hash).run()
    assert stored[0]["id_hash"] not in cookie, "only a hash of the session id is stored"
    me = await oidc_client.get("/me")
    assert me.status_code == 200
    assert "Demo agent" in me.text
    signed_in = await AuditEntry.select().where(AuditEntry.action == audit.SIGN_IN).run()
    assert [row["kommune_code"] for row in signed_in] == ["0727"]


async def test_an_admin_of_aarhus_sees_her_kommunes_audit_log_but_not_horsens(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    assert (await sign_in(oidc_client, "0751", "admin")).status_code in (302, 303)
    assert (await oidc_client.get("/admin/kommuner/0751/audit")).status_code == 200
    assert (await oidc_client.get("/admin/kommuner/0615/audit")).status_code == 403


async def test_a_forged_state_is_refused(oidc_client: httpx.AsyncClient, idp: ForgingProvider) -> None:
    flow = await begin(oidc_client, "0751")
    answer = await callback(oidc_client, {**flow.callback_query, "state": "forged-state"})
    await assert_refused(answer, "unknown_state")


async def test_a_replayed_state_is_refused(oidc_client: httpx.AsyncClient, idp: ForgingProvider) -> None:
    flow = await begin(oidc_client, "0751")
    first = await callback(oidc_client, flow.callback_query)
    assert first.status_code in (302, 303)
    await UserSession.delete(force=True).run()
    oidc_client.cookies.clear()
    await assert_refused(await callback(oidc_client, flow.callback_query), "unknown_state")


async def test_a_replayed_code_is_refused_by_the_provider(oidc_client: httpx.AsyncClient, idp: ForgingProvider) -> None:
    used = await begin(oidc_client, "0751")
    assert (await callback(oidc_client, used.callback_query)).status_code in (302, 303)
    await UserSession.delete(force=True).run()
    oidc_client.cookies.clear()
    fresh = await begin(oidc_client, "0751")
    replay = {**fresh.callback_query, "code": used.callback_query["code"]}
    await assert_refused(await callback(oidc_client, replay), "code_rejected")


async def test_an_id_token_from_another_kommunes_issuer_is_refused(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    """Mix-up: Horsens' issuer signs a token (with Horsens' own key) that arrives at Aarhus' sign-in."""

    def horsens_token(kommune: str, claims: dict[str, Any]) -> str:
        key = idp.key("0615")
        return jwt.encode({"alg": "RS256", "kid": key.kid}, {**claims, "iss": idp.issuer("0615")}, key)

    idp.forge = horsens_token
    flow = await begin(oidc_client, "0751", "admin")
    await assert_refused(await callback(oidc_client, flow.callback_query), "bad_signature")


async def test_another_issuer_with_the_right_key_is_still_refused(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    idp.forge = lambda kommune, claims: ForgingProvider.id_token(
        _honest(idp), kommune, {**claims, "iss": idp.issuer("0615")}
    )
    flow = await begin(oidc_client, "0751", "admin")
    await assert_refused(await callback(oidc_client, flow.callback_query), "wrong_issuer")


def _honest(provider: ForgingProvider) -> ForgingProvider:
    """The same provider (same keys) without the forging hook, to sign chosen claims honestly."""
    twin = ForgingProvider(base_url=provider.base_url, secret_key=provider.secret_key)
    twin._keys = provider._keys
    return twin


async def test_the_rfc9207_iss_parameter_of_another_provider_is_refused(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    flow = await begin(oidc_client, "0751")
    answer = await callback(oidc_client, {**flow.callback_query, "iss": idp.issuer("0615")})
    await assert_refused(answer, "iss_mismatch")


async def test_a_missing_iss_parameter_is_refused_when_the_provider_promises_it(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    flow = await begin(oidc_client, "0751")
    without_iss = {key: value for key, value in flow.callback_query.items() if key != "iss"}
    await assert_refused(await callback(oidc_client, without_iss), "iss_missing")


async def test_a_provider_that_sends_no_iss_parameter_still_works(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    idp.send_iss = False
    flow = await begin(oidc_client, "0751")
    assert "iss" not in flow.callback_query
    assert (await callback(oidc_client, flow.callback_query)).status_code in (302, 303)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"aud": "another-app"}, "wrong_audience"),
        ({"aud": ["another-app", "digital-hotline"]}, "wrong_audience"),  # several audiences and no azp
        ({"exp": -3600}, "expired"),
        ({"nonce": None}, "bad_nonce"),
        ({"nonce": "a-nonce-of-another-sign-in"}, "bad_nonce"),
        ({"kommune_code": "0615"}, "wrong_kommune_claim"),
        ({"roles": ["Hotline-Agent"]}, "no_role"),
    ],
)
async def test_a_token_with_bad_claims_is_refused(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, clock: FixedClock, change: dict[str, Any], reason: str
) -> None:
    honest = _honest(idp)

    def forged(kommune: str, claims: dict[str, Any]) -> str:
        changed = dict(claims)
        for key, value in change.items():
            if value is None:
                changed.pop(key, None)
            elif key == "exp":
                changed["exp"] = int(clock.now.timestamp()) + value
            else:
                changed[key] = value
        return honest.id_token(kommune, changed)

    idp.forge = forged
    flow = await begin(oidc_client, "0751", "admin")
    await assert_refused(await callback(oidc_client, flow.callback_query), reason)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_an_unsigned_alg_none_token_is_refused(oidc_client: httpx.AsyncClient, idp: ForgingProvider) -> None:
    idp.forge = lambda kommune, claims: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    flow = await begin(oidc_client, "0751", "admin")
    await assert_refused(await callback(oidc_client, flow.callback_query), "bad_signature")


async def test_a_token_signed_with_an_unknown_key_is_refused(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "attacker"})
    same_kid = RSAKey.generate_key(2048, parameters={"kid": idp.key("0751").kid})

    tokens = iter(
        [
            lambda claims: jwt.encode({"alg": "RS256", "kid": "attacker"}, claims, stranger),
            lambda claims: jwt.encode({"alg": "RS256", "kid": same_kid.kid}, claims, same_kid),
        ]
    )
    for make in tokens:
        idp.forge = lambda kommune, claims, make=make: make(claims)  # type: ignore[misc]
        flow = await begin(oidc_client, "0751", "admin")
        answer = await callback(oidc_client, flow.callback_query)
        assert answer.status_code == 400
        assert "hotline_session" not in answer.headers.get("set-cookie", "")
    assert await _sessions() == 0
    assert [row["kommune_code"] for row in await _failures()] == ["0751", "0751"]


async def test_an_hmac_token_signed_with_the_client_secret_is_refused(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    """Algorithm confusion: HS256 with a secret the client knows must not pass for a provider signature."""
    from joserfc.jwk import OctKey

    from hotline.identity.oidc import dev_client_secret

    secret = OctKey.import_key(dev_client_secret(idp.secret_key, "0751"))
    idp.forge = lambda kommune, claims: jwt.encode({"alg": "HS256"}, claims, secret)
    flow = await begin(oidc_client, "0751", "admin")
    await assert_refused(await callback(oidc_client, flow.callback_query), "bad_signature")


async def test_an_expired_sign_in_attempt_is_refused(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, clock: FixedClock
) -> None:
    flow = await begin(oidc_client, "0751")
    clock.now += dt.timedelta(minutes=11)
    await assert_refused(await callback(oidc_client, flow.callback_query), "state_expired")


async def test_signing_in_again_rotates_the_session_id(oidc_client: httpx.AsyncClient, idp: ForgingProvider) -> None:
    first = await sign_in(oidc_client, "0727")
    old = first.cookies["hotline_session"]
    second = await sign_in(oidc_client, "0727")
    new = second.cookies["hotline_session"]
    assert old != new
    rows = await UserSession.select(UserSession.revoked).order_by(UserSession.id).run()
    assert [row["revoked"] for row in rows] == [True, False]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/admin/kommuner/0751/audit", "/admin/kommuner/0751/audit"),
        ("//evil.example/x", "/me"),
        ("/\\evil.example", "/me"),
        ("https://evil.example", "/me"),
    ],
)
def test_only_paths_on_this_site_are_followed_after_sign_in(given: str, expected: str) -> None:
    from hotline.identity.oidc import safe_next

    assert safe_next(given) == expected
