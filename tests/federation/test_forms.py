"""The federation's forms refuse bad input by showing the same page again: 422, the message next to the field it
names (Danish, or English when chosen), what was typed kept, and nothing stored. The clock stands at
2026-11-25 11:00 Copenhagen time; Aarhus (0751), Horsens (0615) and Odder (0727) are the members."""

from __future__ import annotations

import html
import re

import httpx

from hotline.federation.tables import FederationSettings, Pledge, Shift, ShiftSignup
from tests.federation.test_web import act_as
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database

SHIFT = {"date": "2026-12-01", "start": "16:00", "end": "20:00", "agents_wanted": "2", "week": "2026-11-30"}
BULK = {"from": "2026-11-30", "to": "2026-12-04", "weekdays": ["monday"], "start": "16:00", "end": "20:00",
        "agents_wanted": "2", "week": "2026-11-30"}  # fmt: skip
PLEDGE = {"kommune_code": "0615", "period_start": "2026-12-01", "period_end": "2026-12-31", "hours": "40"}


def message_next_to(page: str, form: str, field: str) -> str:
    """The refusal shown beside ``field`` of ``form`` (empty when there is none), and the field points to it."""
    match = re.search(rf'<p class="field-error" id="err-{form}-{field}">([^<]*)</p>', page)
    if match is None:
        return ""
    assert f'aria-describedby="err-{form}-{field}"' in page, f"{form}.{field} does not point to its message"
    return html.unescape(match.group(1))


async def test_planning_a_shift_refuses_each_bad_field_and_stores_nothing(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    cases = [
        ("date", {"date": ""}, "Skriv datoen som ÅÅÅÅ-MM-DD."),
        ("date", {"date": "1.12.2026"}, "Skriv datoen som ÅÅÅÅ-MM-DD."),
        ("date", {"date": "2026-11-24"}, "Vagten ville begynde i fortiden."),
        ("start", {"start": "25:00"}, "Skriv klokkeslættet som TT:MM."),
        ("end", {"end": "16:05"}, "En vagt varer fra 15 minutter til 16 timer."),
        ("agents_wanted", {"agents_wanted": ""}, "Skriv et helt tal."),
        ("agents_wanted", {"agents_wanted": "0"}, "Skriv et helt tal fra 1 til 200."),
        ("agents_wanted", {"agents_wanted": "-3"}, "Må ikke være negativ."),
        ("agents_wanted", {"agents_wanted": "201"}, "Skriv et helt tal fra 1 til 200."),
    ]
    for field, change, expected in cases:
        sent = {**SHIFT, **change}
        response = await client.post("/rota/shifts", data=sent, headers=csrf)
        assert response.status_code == 422, (field, change)
        assert message_next_to(response.text, "plan", field) == expected, (field, change)
        assert f'name="{field}"' in response.text
        assert f'value="{html.escape(sent[field])}"' in response.text, f"{field}: what was typed is not kept"
    assert await Shift.count().run() == 0
    saved = await client.post("/rota/shifts", data=SHIFT, headers=csrf)
    assert saved.status_code == 303
    assert await Shift.count().run() == 1


async def test_bulk_planning_refuses_all_or_nothing_with_the_weekdays_kept(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    cases = [
        ("from", {"from": ""}, "Skriv datoen som ÅÅÅÅ-MM-DD."),
        ("to", {"to": "2026-11-29"}, "Perioden slutter, før den begynder."),
        ("to", {"to": "2027-12-31"}, "Højst 366 dage ad gangen."),
        ("weekdays", {"weekdays": []}, "Vælg mindst én ugedag."),
        ("weekdays", {"to": "2026-11-30", "weekdays": ["friday"]}, "Ingen af de valgte ugedage ligger i perioden."),
        # the range starts today, so its first Wednesday would already have begun
        (
            "from",
            {"from": "2026-11-25", "weekdays": ["wednesday", "friday"], "start": "10:00"},
            "Vagten ville begynde i fortiden.",
        ),
        ("agents_wanted", {"agents_wanted": "mange"}, "Skriv et helt tal."),
    ]
    for field, change, expected in cases:
        response = await client.post("/rota/shifts/bulk", data={**BULK, **change}, headers=csrf)
        assert response.status_code == 422, (field, change)
        assert message_next_to(response.text, "bulk", field) == expected, (field, change)
    assert await Shift.count().run() == 0  # not even the shifts after the refused one
    kept = await client.post("/rota/shifts/bulk", data={**BULK, "to": "2026-11-29", "weekdays": ["friday"]},
                             headers=csrf)  # fmt: skip
    assert 'value="friday" checked' in kept.text
    assert 'value="monday" checked' not in kept.text


async def test_pledges_refuse_bad_fields_and_codes_the_coordinator_cannot_use(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    cases = [
        ("kommune_code", {"kommune_code": ""}, "Skriv en kommunekode med 4 cifre, fx 0751."),
        ("kommune_code", {"kommune_code": "751"}, "Skriv en kommunekode med 4 cifre, fx 0751."),
        # København is a kommune but not a member of the hotline, 9999 is no kommune at all
        ("kommune_code", {"kommune_code": "0101"}, "0101 er ikke medlem af hotlinen."),
        ("kommune_code", {"kommune_code": "9999"}, "9999 er ikke medlem af hotlinen."),
        ("period_start", {"period_start": "i morgen"}, "Skriv datoen som ÅÅÅÅ-MM-DD."),
        ("period_end", {"period_end": "2026-11-30"}, "Perioden slutter, før den begynder."),
        ("period_end", {"period_end": "2028-01-01"}, "Et tilsagn dækker højst et år."),
        ("hours", {"hours": ""}, "Skriv et helt tal."),
        ("hours", {"hours": "0"}, "Skriv et helt tal fra 1 til 100000."),
        ("hours", {"hours": "12,5"}, "Skriv et helt tal."),
    ]
    for field, change, expected in cases:
        sent = {**PLEDGE, **change}
        response = await client.post("/rota/pledges", data=sent, headers=csrf)
        assert response.status_code == 422, (field, change)
        assert message_next_to(response.text, "pledge", field) == expected, (field, change)
        assert f'value="{html.escape(sent[field])}"' in response.text, f"{field}: what was typed is not kept"
    assert await Pledge.count().run() == 0


async def test_a_refused_sign_up_is_shown_beside_the_shift(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    assert (await client.post("/rota/shifts", data={**SHIFT, "agents_wanted": "1"}, headers=csrf)).status_code == 303
    shift_id = (await Shift.select(Shift._meta.primary_key).first().run() or {})["id"]
    csrf = await act_as(client, "agent", clock)
    not_mine = await client.post(f"/rota/shifts/{shift_id}/withdraw", data={"week": "2026-11-30"}, headers=csrf)
    assert not_mine.status_code == 422
    assert "Du er ikke tilmeldt denne vagt." in not_mine.text
    assert f'id="err-shift-{shift_id}"' in not_mine.text
    assert 'value="2026-11-30"' in not_mine.text  # the same week is shown again
    # Refused from another week's page: that week comes back, with the refusal at the top of the shift list.
    elsewhere = await client.post(f"/rota/shifts/{shift_id}/withdraw", data={"week": "2026-11-23"}, headers=csrf)
    assert elsewhere.status_code == 422
    assert "Du er ikke tilmeldt denne vagt." in elsewhere.text
    assert 'value="2026-11-23"' in elsewhere.text
    missing = await client.post("/rota/shifts/999999/signup", data={"week": "2026-11-30"}, headers=csrf)
    assert missing.status_code == 404
    assert await ShiftSignup.count().run() == 0


async def test_settlement_settings_refuse_each_bad_field_and_save_nothing(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    mix = {"key": "mix", "weight_calls": "0.5", "weight_minutes": "0.5", "weight_population": "0", "hourly_cost": "450"}
    cases = [
        ("key", {"key": "per_head"}, "Vælg en af fordelingsnøglerne på listen."),
        ("weight_calls", {"weight_calls": "halvdelen"}, "Skriv et tal, fx 0,25."),
        ("weight_minutes", {"weight_minutes": "1.5"}, "En vægt skal ligge mellem 0 og 1."),
        ("weight_population", {"weight_population": "0.2"}, "Vægtene skal tilsammen give præcis 1 (de giver 1.2)."),
        ("hourly_cost", {"hourly_cost": ""}, "Skriv et tal, fx 0,25."),
        ("hourly_cost", {"hourly_cost": "-1"}, "Må ikke være negativ."),
        ("hourly_cost", {"hourly_cost": "450,505"}, "Højst to decimaler (hele øre)."),
        ("hourly_cost", {"hourly_cost": "100001"}, "Højst 100000 kr. i timen."),
    ]
    for field, change, expected in cases:
        sent = {**mix, **change}
        response = await client.post("/settlement/settings", data=sent, headers=csrf)
        assert response.status_code == 422, (field, change)
        assert message_next_to(response.text, "settings", field) == expected, (field, change)
        assert f'value="{html.escape(sent[field])}"' in response.text or field == "key"
    assert await FederationSettings.count().run() == 0


async def test_the_settlement_filter_and_the_week_pickers_come_back_with_422(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await act_as(client, "coordinator", clock)
    cases = [
        ({"start": "2026-13-01"}, "start", "Skriv datoen som ÅÅÅÅ-MM-DD."),
        ({"start": "2026-11-08", "end": "2026-11-02"}, "end", "Perioden slutter, før den begynder."),
        ({"start": "2023-01-01", "end": "2026-11-02"}, "end", "Højst 1098 dage ad gangen."),
        ({"key": "mix", "weight_calls": "2"}, "weight_calls", "En vægt skal ligge mellem 0 og 1."),
    ]
    for query, field, expected in cases:
        response = await client.get("/settlement", params=query)
        assert response.status_code == 422, query
        assert message_next_to(response.text, "filter", field) == expected, query
        assert f'value="{query[field]}"' in response.text
    rota = await client.get("/rota", params={"week": "sidste uge"})
    assert rota.status_code == 422
    assert message_next_to(rota.text, "week", "week") == "Skriv datoen som ÅÅÅÅ-MM-DD."
    forecast = await client.get("/forecast", params={"day": "2026-02-30"})
    assert forecast.status_code == 422
    assert message_next_to(forecast.text, "day", "day") == "Skriv datoen som ÅÅÅÅ-MM-DD."
    # The JSON API and the CSV keep answering 400 naming the field.
    api = await client.get("/api/federation/settlement", params={"start": "2026-13-01"})
    assert api.status_code == 400
    assert api.json()["detail"].startswith("start:")
    assert (await client.get("/settlement.csv", params={"start": "2026-13-01"})).status_code == 400


async def test_forecast_settings_refuse_in_english_when_english_is_chosen(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    csrf = await act_as(client, "coordinator", clock)
    client.cookies.set("hotline_lang", "en")
    cases = [
        ("target", {"target": "45"}, "Write a percentage from 50 to 99."),
        ("threshold_seconds", {"threshold_seconds": "0"}, "Write a whole number from 1 to 600."),
        ("shrinkage", {"shrinkage": "ti"}, "Write a number, e.g. 0.25."),
        ("max_occupancy", {"max_occupancy": "40"}, "Write a percentage from 50 to 100."),
    ]
    for field, change, expected in cases:
        response = await client.post("/forecast/settings", data={"target": "90", **change}, headers=csrf)
        assert response.status_code == 422, field
        assert message_next_to(response.text, "settings", field) == expected, field
        assert "The form was not saved." in response.text, response.text[response.text.find("forecast-settings") :][
            :1500
        ]
    assert await FederationSettings.count().run() == 0
