"""Schema-driven fuzzing (schemathesis, from the app's own OpenAPI document) of the telephony webhook (bodies
signed, so the parser and the rules behind it are reached) and the console API (as a signed-in agent): whatever
is sent, never a 5xx."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar

from hotline.calls.telephony import Offered, sign
from tests.calls.conftest import AARHUS_NUMBER, Telephony, make_agent, new_secret, serve
from tests.fixtures.app import FixedClock

EXAMPLES = 60


def _body_bytes(body: Any) -> bytes:
    if body is None or type(body).__name__ == "NotSet":
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


async def test_no_server_errors_from_fuzzed_webhook_and_console_requests(
    calls_app: Litestar, clock: FixedClock
) -> None:
    async with serve(calls_app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        agent = await make_agent(client, clock, "Fuzz Agent")
        _, secret = await new_secret("0751", clock, calls_app)
        platform = Telephony(client, clock, "0751", secret)
        await agent.presence("available")
        await platform.post(Offered(call_id="fuzz-1", at=clock(), dialled_number=AARHUS_NUMBER))
        document = (await client.get("/schema/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document)
        operations = {
            op.label: op
            for result in schema.include(path_regex="^/api/(telephony|console)").get_all_operations()
            for op in [result.ok()]
        }
        assert set(operations) >= {
            "POST /api/telephony/events",
            "POST /api/console/presence",
            "POST /api/console/calls/{call_id}/answer",
            "POST /api/console/calls/{call_id}/transfer",
            "POST /api/console/calls/{call_id}/wrap-up",
        }
        moment = clock()
        problems: list[str] = []
        seen: dict[str, set[int]] = {}

        def fuzz(label: str) -> None:
            operation = operations[label]
            strategy = operation.as_strategy()

            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=strategy, call=st.sampled_from(["fuzz-1", "x"]))
            def check(case: Any, call: str) -> None:
                path = case.formatted_path if hasattr(case, "formatted_path") else case.path
                path = path.replace("{call_id}", call)
                body = _body_bytes(case.body)
                if label.startswith("POST /api/telephony"):
                    headers = {
                        "content-type": "application/json",
                        "x-hotline-kommune": "0751",
                        "x-hotline-signature": sign(secret.encode(), body, int(moment.timestamp())),
                    }
                else:
                    headers = {**agent.headers, "content-type": "application/json"}
                with httpx.Client(base_url=url, timeout=10) as sync:
                    response = sync.post(path, content=body, headers=headers)
                seen.setdefault(label, set()).add(response.status_code)
                if response.status_code >= 500:
                    problems.append(f"{label} {body[:200]!r}: {response.status_code}")

            check()

        # Presence first, while fuzz-1 still rings for the agent: a fuzzed answer and wrap-up may end that call.
        for label in sorted(operations, key=lambda label: (not label.endswith("/presence"), label)):
            await asyncio.to_thread(fuzz, label)
        assert problems == [], sorted(set(problems))[:20]
        # The generated bodies were not all refused at the door: valid ones reached the rules behind it.
        assert 200 in seen["POST /api/telephony/events"]
        assert 409 in seen["POST /api/console/presence"]  # valid, and refused by the rule: a call rings for them
