"""The federation screens over HTTP: who may see and do what, the PDF statement (read back with pdftotext), the
CSV columns, and bad input refused with the field named and nothing stored."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import httpx
import pytest

from hotline.federation.statement import CSV_COLUMNS
from hotline.federation.tables import FederationSettings, Pledge, Shift, ShiftSignup
from hotline.identity import audit
from hotline.identity.schemas import EVERY_KOMMUNE, Grant
from hotline.identity.tables import AuditEntry
from tests.federation.history import write_week
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

PERIOD = {"start": "2026-11-02", "end": "2026-11-08"}
ROLES = {
    "agent": ([Grant("agent", EVERY_KOMMUNE)], "0727"),
    "admin_horsens": ([Grant("kommune_admin", "0615")], "0615"),
    "coordinator": ([Grant("coordinator", EVERY_KOMMUNE)], "0751"),
}


async def act_as(client: httpx.AsyncClient, who: str, clock: FixedClock) -> dict[str, str]:
    """Sign ``who`` in (session cookie) and return the CSRF header for unsafe requests."""
    grants, home = ROLES[who]
    client.cookies.clear()
    client.cookies.set("hotline_session", await session_cookie_for(grants, home, now=clock.now, name=who))
    await client.get("/tenants")
    return {"x-csrftoken": client.cookies["hotline_csrf"]}


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "statement.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout


async def test_statement_pdf_shows_the_kommune_and_its_balance(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock, tmp_path: Path
) -> None:
    await write_week()
    await act_as(client, "admin_horsens", clock)
    short = await client.get("/settlement/0615.pdf", params=PERIOD)
    assert short.status_code == 307
    assert short.headers["location"] == "/settlement/0615/statement.pdf?start=2026-11-02&end=2026-11-08"
    response = await client.get(short.headers["location"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content, tmp_path)
    # per call, 450 kr. an hour (the defaults): Horsens is owed 104,295 øre (see test_settlement.py)
    assert "Horsens Kommune" in text
    assert "1.042,95 kr." in text
    assert "Kommunen har 1.042,95 kr. til gode." in text
    assert "Den Fælleskommunale Aftenhotline" in text
    # The kommune admin's own statement page, but not Aarhus'
    assert (await client.get("/settlement/0615/statement", params=PERIOD)).status_code == 200
    other = await client.get("/settlement/0751/statement.pdf", params=PERIOD)
    assert other.status_code == 403
    assert (await client.get("/settlement/0751.pdf", follow_redirects=True)).status_code == 403
    assert (await client.get("/settlement", params=PERIOD)).status_code == 403
    assert (await client.get("/settlement.csv", params=PERIOD)).status_code == 403
    denied = await AuditEntry.select().where(AuditEntry.action == audit.PERMISSION_DENIED).run()
    assert any(row["kommune_code"] == "0751" for row in denied)


async def test_coordinator_sees_every_statement_the_chart_and_the_csv(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock, tmp_path: Path
) -> None:
    await write_week()
    await act_as(client, "coordinator", clock)
    page = await client.get("/settlement", params=PERIOD)
    assert page.status_code == 200
    assert "<svg" in page.text
    assert "fed-bar-owes" in page.text
    assert "Aarhus Kommune" in page.text
    english = await client.get("/settlement/0751/statement.pdf", params={**PERIOD, "lang": "en"})
    assert english.status_code == 200
    text = pdf_text(english.content, tmp_path)
    assert "Aarhus Kommune" in text
    assert "DKK 1,236.52" in text
    assert "The kommune owes DKK 1,236.52." in text
    export = await client.get("/settlement.csv", params=PERIOD)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_code = {row[0]: dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert sorted(by_code) == ["0615", "0727", "0751"]
    assert by_code["0751"]["balance_ore"] == "-123652"
    assert by_code["0751"]["balance_kr"] == "-1236.52"
    assert by_code["0615"]["credit_kr"] == "1800.00"
    assert by_code["0727"]["share_ore"] == "3143"
    assert by_code["0751"]["worked_hours"] == "2.50"
    assert by_code["0751"]["allocation_key"] == "per_call"
    assert sum(int(row["balance_ore"]) for row in by_code.values()) == 0
    mix = await client.get(
        "/settlement.csv",
        params={**PERIOD, "key": "mix", "weight_calls": "0.5", "weight_minutes": "0", "weight_population": "0.5"},
    )
    mixed = {row[0]: row for row in csv.reader(io.StringIO(mix.text))}
    assert mixed["0727"][CSV_COLUMNS.index("share_ore")] == "9431"


async def test_bad_settlement_input_is_refused_naming_the_field(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    backwards = await client.get("/api/federation/settlement", params={"start": "2026-11-08", "end": "2026-11-02"})
    assert backwards.status_code == 400
    assert backwards.json()["detail"].startswith("end:")
    page = await client.get(
        "/settlement", params={"start": "2026-11-08", "end": "2026-11-02"}, headers={"accept": "text/html"}
    )
    assert page.status_code == 422
    assert "Perioden slutter, før den begynder." in page.text
    assert 'value="2026-11-08"' in page.text  # what was typed is kept
    weights = await client.get(
        "/api/federation/settlement",
        params={"key": "mix", "weight_calls": "0.5", "weight_minutes": "0.4", "weight_population": "0.2"},
    )
    assert weights.status_code == 400
    assert weights.json()["detail"].startswith("weights:")
    bad_date = await client.get("/api/federation/settlement", params={"start": "yesterday"})
    assert bad_date.status_code == 400
    assert bad_date.json()["detail"].startswith("start:")
    negative = await client.post(
        "/settlement/settings", data={"key": "population", "hourly_cost": "-450"}, headers=csrf
    )
    assert negative.status_code == 422
    assert 'id="err-settings-hourly_cost"' in negative.text
    assert 'value="-450"' in negative.text
    assert await FederationSettings.count().run() == 0  # nothing half-applied (not even the key)
    saved = await client.post("/settlement/settings", data={"key": "population", "hourly_cost": "500,50"}, headers=csrf)
    assert saved.status_code == 303
    row = await FederationSettings.select().first().run()
    assert row is not None
    assert row["allocation_key"] == "population"
    assert row["hourly_cost_ore"] == 500_50


async def test_agents_sign_up_to_shifts_but_may_not_settle(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    planned = await client.post(
        "/rota/shifts/bulk",
        data={"from": "2026-11-30", "to": "2026-12-04", "weekdays": ["monday", "wednesday"], "start": "16:00",
              "end": "20:00", "agents_wanted": "2", "week": "2026-11-30"},
        headers=csrf,
    )  # fmt: skip
    assert planned.status_code == 303
    assert planned.headers["location"] == "/rota?week=2026-11-30"
    assert await Shift.count().run() == 2
    backwards = await client.post(
        "/rota/shifts/bulk",
        data={"from": "2026-12-04", "to": "2026-11-30", "weekdays": "monday", "start": "16:00", "end": "20:00",
              "agents_wanted": "2"},
        headers=csrf,
    )  # fmt: skip
    assert backwards.status_code == 422
    assert 'id="err-bulk-to"' in backwards.text
    past = await client.post(
        "/rota/shifts",
        data={"date": "2026-11-24", "start": "16:00", "end": "20:00", "agents_wanted": "1"},
        headers=csrf,
    )
    assert past.status_code == 422
    assert 'id="err-plan-date"' in past.text
    assert await Shift.count().run() == 2
    shift_id = (await Shift.select(Shift._meta.primary_key).order_by(Shift.starts_at).first().run() or {})["id"]

    csrf = await act_as(client, "agent", clock)
    assert (await client.get("/rota", params={"week": "2026-11-30"})).status_code == 200
    signed = await client.post(f"/rota/shifts/{shift_id}/signup", data={"week": "2026-11-30"}, headers=csrf)
    assert signed.status_code == 303
    rows = await ShiftSignup.select().run()
    assert len(rows) == 1
    assert rows[0]["home_kommune"] == "0727"
    again = await client.post(f"/rota/shifts/{shift_id}/signup", data={"week": "2026-11-30"}, headers=csrf)
    assert again.status_code == 422
    assert f'id="err-shift-{shift_id}"' in again.text
    assert "Du er allerede tilmeldt denne vagt." in again.text
    page = await client.get("/rota", params={"week": "2026-11-30"}, headers={"accept": "text/html"})
    assert "Meld mig fra" in page.text
    assert "1 af 2 agenter tilmeldt" in page.text
    for path in ("/settlement", "/settlement.csv", "/settlement/0727/statement.pdf", "/api/federation/settlement"):
        assert (await client.get(path)).status_code == 403, path
    assert (await client.get("/forecast")).status_code == 403
    assert (await client.post("/rota/shifts", data={"date": "2026-12-01"}, headers=csrf)).status_code == 403
    withdrawn = await client.post(f"/rota/shifts/{shift_id}/withdraw", data={}, headers=csrf)
    assert withdrawn.status_code == 303
    assert await ShiftSignup.count().run() == 0


@pytest.mark.parametrize("kommune_code", ["0751", "0615"])
async def test_a_kommune_admin_pledges_for_its_own_kommune_only(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock, kommune_code: str
) -> None:
    csrf = await act_as(client, "admin_horsens", clock)
    form = {"kommune_code": kommune_code, "period_start": "2026-12-01", "period_end": "2026-12-31", "hours": "40"}
    response = await client.post("/rota/pledges", data=form, headers=csrf)
    if kommune_code == "0615":
        assert response.status_code == 303
        assert [(p["kommune_code"], p["hours"]) for p in await Pledge.select().run()] == [("0615", 40)]
        negative = await client.post("/rota/pledges", data={**form, "hours": "-40"}, headers=csrf)
        assert negative.status_code == 422
        assert 'id="err-pledge-hours"' in negative.text
        backwards = await client.post("/rota/pledges", data={**form, "period_end": "2026-11-30"}, headers=csrf)
        assert backwards.status_code == 422
        assert 'id="err-pledge-period_end"' in backwards.text
        assert await Pledge.count().run() == 1
    else:
        assert response.status_code == 403
        assert response.json()["detail"].startswith("kommune_code:")
        assert await Pledge.count().run() == 0
        denied = await AuditEntry.select().where(AuditEntry.action == audit.PERMISSION_DENIED).run()
        assert [row["kommune_code"] for row in denied] == ["0751"]
    # Kommune admins read the forecast, without the settings form.
    forecast = await client.get("/forecast", params={"day": "2026-11-26"}, headers={"accept": "text/html"})
    assert forecast.status_code == 200
    assert "<svg" in forecast.text
    assert 'action="/forecast/settings"' not in forecast.text
    assert (await client.post("/forecast/settings", data={"target": "90"}, headers=csrf)).status_code == 403


async def test_the_coordinator_sets_the_service_target(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    bad = await client.post("/forecast/settings", data={"target": "120", "shrinkage": "30"}, headers=csrf)
    assert bad.status_code == 422
    assert 'id="err-settings-target"' in bad.text
    assert 'value="120"' in bad.text
    assert await FederationSettings.count().run() == 0
    saved = await client.post(
        "/forecast/settings", data={"target": "90", "threshold_seconds": "20", "shrinkage": "25"}, headers=csrf
    )
    assert saved.status_code == 303
    row = await FederationSettings.select().first().run()
    assert row is not None
    assert (row["service_level_permille"], row["threshold_seconds"], row["shrinkage_permille"]) == (900, 20, 250)
    page = await client.get("/forecast", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "90 %" in page.text
    assert 'action="/forecast/settings"' in page.text
    api = await client.get("/api/federation/forecast", params={"day": "2026-10-25"})
    assert api.status_code == 200
    assert len(api.json()) == 25
