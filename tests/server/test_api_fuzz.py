"""Schema-driven fuzzing (schemathesis, from the app's own OpenAPI document) of every JSON API operation the calls
fuzz (tests/calls/test_fuzz.py) does not cover: tenants, knowledge bank, letters, Open311, audit, federation.

Each operation is sent generated paths, queries and bodies twice: as a signed-in person holding every role for
Aarhus (agent, kommune admin, coordinator; with the CSRF token, so writes reach the rules behind the door) and
with an Aarhus API token holding every permission. Kommune codes in paths are drawn from Aarhus, another member,
an unknown code and junk, so refusals are exercised too. Whatever is sent, the answer is never a 5xx."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar

from hotline.config import Settings
from hotline.identity import service as identity
from hotline.identity.schemas import EVERY_KOMMUNE, PERMISSIONS, Grant
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.calls.conftest import serve
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

EXAMPLES = 30
# Covered by tests/calls/test_fuzz.py, with a signed webhook and an agent mid-call.
ELSEWHERE = ("/api/telephony", "/api/console")
CODES = ["0751", "0615", "9999", "x1"]


def _body_bytes(body: Any) -> bytes:
    if body is None or type(body).__name__ == "NotSet":
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _query(query: Any) -> dict[str, Any]:
    if not isinstance(query, dict):
        return {}
    return {key: value for key, value in query.items() if value is not None}


@pytest.fixture
def api_app(
    settings: Settings, demo_federation: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> Litestar:
    roomy = msgspec.structs.replace(settings.identity, api_rate_limit=1_000_000, login_rate_limit=1_000_000)
    return create_app(
        msgspec.structs.replace(settings, identity=roomy),
        engine=demo_federation.engine,
        nats_servers=[nats_server.url],
        clock=clock,
    )


async def test_no_server_errors_from_fuzzed_json_api_requests(api_app: Litestar, clock: FixedClock) -> None:
    async with serve(api_app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        grants = [Grant("agent", EVERY_KOMMUNE), Grant("kommune_admin", "0751"), Grant("coordinator", EVERY_KOMMUNE)]
        session = await session_cookie_for(grants, "0751", now=clock(), name="Fuzz Person")
        csrf = (await client.get("/tenants")).cookies.get("hotline_csrf") or client.cookies["hotline_csrf"]
        client.cookies.clear()
        _, token = await identity.create_api_token("0751", "fuzz", PERMISSIONS, created_by="test", now=clock())
        credentials = {
            "person": {
                "cookie": f"hotline_session={session}; hotline_csrf={csrf}",
                "x-csrftoken": csrf,
                "accept": "application/json",
            },
            "token": {"authorization": f"Bearer {token}", "accept": "application/json"},
        }
        document = (await client.get("/schema/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document)
        operations = {
            op.label: op
            for result in schema.include(path_regex="^/api/").get_all_operations()
            for op in [result.ok()]
            if not op.path.startswith(ELSEWHERE)
        }
        # The document lists the whole API: a new area's endpoints are fuzzed without editing this test.
        assert {
            "GET /api/tenants/{code}",
            "POST /api/kb/{code}/articles",
            "POST /api/letters/{code}/preview",
            "POST /api/open311/v2/{code}/requests/{request_id}/status",
            "GET /api/kommuner/{code}/audit",
            "GET /api/federation/settlement",
        } <= set(operations)
        problems: list[str] = []
        statuses: dict[str, set[int]] = {}

        def fuzz(label: str) -> None:
            operation = operations[label]

            # Seeded: the same requests every run, so CI judges the code and not the dice. Raise EXAMPLES locally
            # (or drop derandomize) to search further; 3 x 60 random examples per operation found no other 5xx.
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(), code=st.sampled_from(CODES), who=st.sampled_from(sorted(credentials)))
            def check(case: Any, code: str, who: str) -> None:
                parameters = dict(case.path_parameters or {})
                if "code" in parameters:
                    parameters["code"] = code
                path = operation.path
                for name, value in parameters.items():
                    path = path.replace("{" + name + "}", httpx.URL(f"/{value}").raw_path.decode()[1:] or "_")
                body = _body_bytes(case.body)
                headers = dict(credentials[who])
                if body:
                    headers["content-type"] = "application/json"
                with httpx.Client(base_url=url, timeout=20) as sync:
                    response = sync.request(
                        case.method, path, params=_query(case.query), content=body or None, headers=headers
                    )
                statuses.setdefault(label, set()).add(response.status_code)
                if response.status_code >= 500:
                    problems.append(f"{label} as {who} {path} {case.query!r} {body[:200]!r}: {response.status_code}")

            check()

        for label in sorted(operations):
            await asyncio.to_thread(fuzz, label)
        assert problems == []
        # Not everything was refused at the door: generated requests reached the rules behind it.
        assert any(200 in codes for label, codes in statuses.items() if label.startswith("GET /api/kb/"))
        assert 200 in statuses["GET /api/tenants/{code}"]
        assert 400 in statuses["POST /api/kb/{code}/articles"]  # the article rules refused a generated draft
