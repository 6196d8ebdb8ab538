"""Property-based fuzzing of the Open311 API with a valid kommune token: whatever path, query or body is sent,
never a 5xx, and the kommune's hand-off only ever moves along the allowed transitions."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar

from hotline.handoffs import repository, service
from hotline.identity import service as identity
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database

CPH = ZoneInfo("Europe/Copenhagen")
EXAMPLES = 80

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=15), children, max_size=4),
    max_leaves=8,
)
status_bodies = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["open", "acknowledged", "closed", "", "Closed", "x" * 300]) | st.text(max_size=20),
        "status_notes": st.text(max_size=50) | json_values,
        "jurisdiction_id": st.sampled_from(["0751", "0615", "", "07511"]) | json_values,
    },
)
queries = st.dictionaries(
    st.sampled_from(
        ["status", "start_date", "end_date", "service_request_id", "service_code", "jurisdiction_id", "lang"]
    ),
    st.text(max_size=40),
    max_size=4,
)


async def test_no_server_errors_from_fuzzed_open311_requests(
    demo_federation: Database, client: httpx.AsyncClient, app: Litestar, clock: FixedClock
) -> None:
    clock.now = dt.datetime(2026, 11, 26, 10, 0, tzinfo=CPH)
    handoff = await service.create_handoff(
        call_id="c", kommune_code="0751", topic="storskrald", description="x", created_by="a", now=clock.now
    )
    _, secret = await identity.create_api_token("0751", "fuzz", ["handoffs"], created_by="t", now=clock.now)
    headers = {"authorization": f"Bearer {secret}"}
    loop = asyncio.get_running_loop()
    problems: list[str] = []
    seen: set[int] = set()

    def send(method: str, path: str, **kwargs: Any) -> None:
        response = asyncio.run_coroutine_threadsafe(
            client.request(method, path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs), loop
        ).result(30)
        seen.add(response.status_code)
        if response.status_code >= 500:
            problems.append(f"{method} {path} {kwargs!r}: {response.status_code}")

    ids = st.sampled_from([handoff.handoff_id, handoff.handoff_id + ".json", "x", "%00", "ü.json"]) | st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/?#%"), min_size=1, max_size=20
    )

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(request_id=ids, body=status_bodies | json_values, as_form=st.booleans())
    def post_status(request_id: str, body: Any, as_form: bool) -> None:
        path = f"/api/open311/v2/0751/requests/{request_id}/status"
        if as_form and isinstance(body, dict):
            send("POST", path, data={k: str(v) for k, v in body.items()})
        else:
            send("POST", path, json=body)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        endpoint=st.sampled_from(["services.json", "requests.json", "requests/{id}.json", "requests/{id}"]),
        request_id=ids,
        query=queries,
    )
    def get(endpoint: str, request_id: str, query: dict[str, str]) -> None:
        send("GET", "/api/open311/v2/0751/" + endpoint.format(id=request_id), params=query)

    await asyncio.to_thread(post_status)
    await asyncio.to_thread(get)
    assert problems == []
    assert {200, 400, 404} <= seen
    row = await repository.handoff(handoff.handoff_id)
    assert row is not None
    statuses = [entry.status for entry in await service.history(handoff.handoff_id)]
    order = {"open": 0, "acknowledged": 1, "closed": 2}
    assert statuses == sorted(statuses, key=order.__getitem__)
    assert statuses[-1] == row["status"]
