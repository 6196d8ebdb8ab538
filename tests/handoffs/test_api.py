"""The hand-offs over HTTP in the assembled app: the Open311 API with kommune API tokens (and never another
kommune's hand-offs), its bad inputs, the kommune admin's inbox with its access rules and audit, and the
coordinator's overdue list."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar import Litestar

from hotline.handoffs import repository, service
from hotline.identity import audit
from hotline.identity import service as identity
from hotline.identity.schemas import EVERY_KOMMUNE, Grant
from hotline.identity.tables import AuditEntry
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

CPH = ZoneInfo("Europe/Copenhagen")
EVENING = dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH)
BASE = "/api/open311/v2"


async def make(kommune: str = "0751", topic: str = "storskrald") -> str:
    handoff = await service.create_handoff(
        call_id="call-1",
        kommune_code=kommune,
        topic=topic,
        description="Storskrald ikke hentet",
        citizen_email="borger@example.org",
        created_by="agent|1",
        now=EVENING,
    )
    return handoff.handoff_id


async def token(kommune: str, permissions: tuple[str, ...] = ("handoffs",)) -> dict[str, str]:
    _, secret = await identity.create_api_token(kommune, "case system", permissions, created_by="t", now=EVENING)
    return {"authorization": f"Bearer {secret}"}


async def person(client: httpx.AsyncClient, clock: FixedClock, role: str, kommune: str) -> dict[str, str]:
    await client.get("/tenants")
    csrf = client.cookies["hotline_csrf"]
    session = await session_cookie_for([Grant(role=role, kommune=kommune)], "0751", now=clock.now, name=role)  # type: ignore[arg-type]
    return {"x-csrftoken": csrf, "cookie": f"hotline_csrf={csrf}; hotline_session={session}"}


@pytest.fixture
def evening_clock(clock: FixedClock) -> FixedClock:
    clock.now = dt.datetime(2026, 11, 26, 10, 0, tzinfo=CPH)
    return clock


async def test_a_kommune_system_lists_reads_and_updates_its_handoffs(
    demo_federation: Database, client: httpx.AsyncClient, app: Litestar, evening_clock: FixedClock
) -> None:
    own = await make()
    other = await make("0615")
    headers = await token("0751")

    services = (await client.get(f"{BASE}/0751/services.json", headers=headers)).json()
    assert {"service_code": "storskrald", "group": "Affald og Genbrug"}.items() <= next(
        s for s in services if s["service_code"] == "storskrald"
    ).items()

    listed = await client.get(f"{BASE}/0751/requests.json", headers=headers)
    assert listed.status_code == 200
    assert [r["service_request_id"] for r in listed.json()] == [own]
    request = listed.json()[0]
    assert (request["status"], request["detailed_status"], request["jurisdiction_id"]) == ("open", "open", "0751")
    assert request["expected_datetime"].startswith("2026-11-26T08:00:00")  # 09:00 in Copenhagen
    assert request["agency_responsible"] == "Affald og Genbrug"

    one = await client.get(f"{BASE}/0751/requests/{own}.json", headers=headers)
    assert one.status_code == 200
    assert one.json()[0]["service_request_id"] == own

    posted = await client.post(
        f"{BASE}/0751/requests/{own}/status",
        json={"status": "acknowledged", "status_notes": "Modtaget af sagsbehandler"},
        headers=headers,
    )
    assert posted.status_code == 200, posted.text
    assert (posted.json()[0]["status"], posted.json()[0]["detailed_status"]) == ("open", "acknowledged")
    form = await client.post(f"{BASE}/0751/requests/{own}/status", data={"status": "closed"}, headers=headers)
    assert form.status_code == 200, form.text
    assert form.json()[0]["status"] == "closed"

    closed = await client.get(f"{BASE}/0751/requests.json", params={"status": "closed"}, headers=headers)
    assert [r["service_request_id"] for r in closed.json()] == [own]
    still_open = await client.get(f"{BASE}/0751/requests.json", params={"status": "open"}, headers=headers)
    assert still_open.json() == []
    row = await repository.handoff(other)
    assert row is not None
    assert row["status"] == "open"


async def test_a_token_never_sees_or_changes_another_kommunes_handoffs(
    demo_federation: Database, client: httpx.AsyncClient, app: Litestar, evening_clock: FixedClock
) -> None:
    aarhus = await make()
    horsens = await token("0615")
    for method, path in (
        ("GET", f"{BASE}/0751/requests.json"),
        ("GET", f"{BASE}/0751/services.json"),
        ("GET", f"{BASE}/0751/requests/{aarhus}.json"),
        ("POST", f"{BASE}/0751/requests/{aarhus}/status"),
    ):
        response = await client.request(method, path, headers=horsens, json={"status": "closed"})
        assert response.status_code == 403, (method, path, response.text)
    # Through its own endpoint, Aarhus's hand-off does not exist for Horsens.
    assert (await client.get(f"{BASE}/0615/requests.json", headers=horsens)).json() == []
    assert (await client.get(f"{BASE}/0615/requests/{aarhus}.json", headers=horsens)).status_code == 404
    posted = await client.post(f"{BASE}/0615/requests/{aarhus}/status", json={"status": "closed"}, headers=horsens)
    assert posted.status_code == 404
    # A token of Aarhus without the permission cannot use the API either.
    auditor = await token("0751", ("audit:read",))
    assert (await client.get(f"{BASE}/0751/requests.json", headers=auditor)).status_code == 403
    row = await repository.handoff(aarhus)
    assert row is not None
    assert row["status"] == "open"
    denied = await AuditEntry.count().where(AuditEntry.action == audit.PERMISSION_DENIED).run()
    assert denied >= 5


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/requests/{id}/status", {"status": "reopened"}, 400, "status"),
        ("POST", "/requests/{id}/status", {"status_notes": "x"}, 400, "status"),
        ("POST", "/requests/{id}/status", {"status": "closed", "colour": "red"}, 400, "colour"),
        ("POST", "/requests/{id}/status", {"status": "closed", "jurisdiction_id": "0615"}, 400, "jurisdiction_id"),
        ("POST", "/requests/{id}/status", {"status": "closed", "status_notes": "x" * 2001}, 400, "status_notes"),
        ("GET", "/requests.json?status=pending", None, 400, "status"),
        ("GET", "/requests.json?start_date=yesterday", None, 400, "start_date"),
        ("GET", "/requests.json?jurisdiction_id=0615", None, 400, "jurisdiction_id"),
        ("GET", "/requests/no-such-id.json", None, 404, "service_request_id"),
    ],
)
async def test_bad_open311_input_is_refused_naming_the_field(
    demo_federation: Database,
    client: httpx.AsyncClient,
    app: Litestar,
    evening_clock: FixedClock,
    method: str,
    path: str,
    body: dict[str, str] | None,
    status: int,
    field: str,
) -> None:
    handoff_id = await make()
    headers = await token("0751")
    response = await client.request(method, BASE + "/0751" + path.format(id=handoff_id), json=body, headers=headers)
    assert response.status_code == status, response.text
    assert field in response.json()["detail"]
    row = await repository.handoff(handoff_id)
    assert row is not None
    assert row["status"] == "open"


async def test_a_closed_handoff_cannot_be_reopened(
    demo_federation: Database, client: httpx.AsyncClient, app: Litestar, evening_clock: FixedClock
) -> None:
    handoff_id = await make()
    headers = await token("0751")
    url = f"{BASE}/0751/requests/{handoff_id}/status"
    assert (await client.post(url, json={"status": "closed"}, headers=headers)).status_code == 200
    reopened = await client.post(url, json={"status": "open"}, headers=headers)
    assert reopened.status_code == 409
    assert "status" in reopened.json()["detail"]


async def test_an_unknown_jurisdiction_is_refused(
    demo_federation: Database, client: httpx.AsyncClient, app: Litestar, evening_clock: FixedClock
) -> None:
    response = await client.get(f"{BASE}/aarhus/requests.json", headers=await token("0751"))
    assert response.status_code == 403  # the token is bound to 0751, so a malformed jurisdiction is not its own


@pytest.mark.parametrize(
    ("role", "kommune", "allowed"),
    [
        ("kommune_admin", "0751", True),
        ("coordinator", EVERY_KOMMUNE, True),
        ("kommune_admin", "0615", False),
        ("agent", EVERY_KOMMUNE, False),
        ("auditor", "0751", False),
    ],
)
async def test_inbox_access_and_audit(
    demo_federation: Database,
    client: httpx.AsyncClient,
    app: Litestar,
    evening_clock: FixedClock,
    role: str,
    kommune: str,
    allowed: bool,
) -> None:
    handoff_id = await make()
    headers = {**await person(client, evening_clock, role, kommune), "accept": "text/html"}
    inbox = await client.get("/admin/0751/handoffs", headers=headers)
    detail = await client.get(f"/admin/0751/handoffs/{handoff_id}", headers=headers)
    if not allowed:
        assert (inbox.status_code, detail.status_code) == (403, 403)
        return
    assert inbox.status_code == 200
    assert handoff_id in inbox.text
    assert "handoff-overdue" in inbox.text  # due 09:00, it is 10:00
    assert "borger@example.org" not in inbox.text  # the list shows no contact data
    nav = 'href="/handoffs/overdue"' if role == "coordinator" else 'href="/admin/0751/handoffs"'
    assert nav in inbox.text  # the header links to the hand-offs
    other_department = await client.get("/admin/0751/handoffs?department=borgerservice", headers=headers)
    assert handoff_id not in other_department.text
    assert handoff_id in (await client.get("/admin/0751/handoffs?overdue=1", headers=headers)).text
    assert detail.status_code == 200
    assert "borger@example.org" in detail.text
    viewed = await AuditEntry.select().where(AuditEntry.action == audit.PERSONAL_DATA_VIEWED).run()
    assert [(e["kommune_code"], e["target"]) for e in viewed] == [("0751", f"handoff {handoff_id}")]


async def test_the_admin_changes_status_with_a_note_through_the_form(
    demo_federation: Database, client: httpx.AsyncClient, app: Litestar, evening_clock: FixedClock
) -> None:
    handoff_id = await make()
    headers = await person(client, evening_clock, "kommune_admin", "0751")
    url = f"/admin/0751/handoffs/{handoff_id}/status"
    no_csrf = await client.post(url, data={"status": "acknowledged"}, headers={"cookie": headers["cookie"]})
    assert no_csrf.status_code == 403
    done = await client.post(url, data={"status": "acknowledged", "note": "Vi ringer i dag"}, headers=headers)
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/0751/handoffs/{handoff_id}"
    refused = await client.post(url, data={"status": "open"}, headers={**headers, "accept": "text/html"})
    assert refused.status_code == 422
    assert "status:" in refused.text
    row = await repository.handoff(handoff_id)
    assert row is not None
    assert (row["status"], row["status_notes"]) == ("acknowledged", "Vi ringer i dag")


async def test_the_coordinator_sees_overdue_handoffs_of_every_kommune(
    demo_federation: Database, client: httpx.AsyncClient, app: Litestar, evening_clock: FixedClock
) -> None:
    aarhus, horsens = await make(), await make("0615")
    await app.state.services.handoffs.sweep()
    coordinator = {**await person(client, evening_clock, "coordinator", EVERY_KOMMUNE), "accept": "text/html"}
    page = await client.get("/handoffs/overdue", headers=coordinator)
    assert page.status_code == 200
    assert aarhus in page.text
    assert horsens in page.text
    assert ">Aarhus Kommune</a>" in page.text  # the kommune named, not only coded
    assert ">Horsens Kommune</a>" in page.text
    assert "2 overdragelser har overskredet fristen. Kommuner berørt: 2." in page.text
    admin = {**await person(client, evening_clock, "kommune_admin", "0751"), "accept": "text/html"}
    assert (await client.get("/handoffs/overdue", headers=admin)).status_code == 403
