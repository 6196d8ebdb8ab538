"""Governance: the divergence of a topic across the member kommuner, stale articles and missing topics from the
replica, and agents' "this rule is wrong or missing" reports reaching the right kommune's admins."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx

from hotline.identity.schemas import Grant
from hotline.knowledge import governance
from hotline.knowledge.tables import KbReport
from tests.fixtures.knowledge import create, eventually
from tests.knowledge.test_authoring import aarhus_admin, coordinator, signed_in

Client = tuple[httpx.AsyncClient, Any]


async def test_divergence_stale_and_missing_topics_come_from_the_replica(kb_client: Client) -> None:
    http, app = kb_client
    replica = app.state.services.kb_replica
    now = app.state.services.clock()
    stale_article = await create("0751", topic="rotter", title="Rotter i Aarhus", review_by=dt.date(2026, 1, 31))
    await create("0751", topic="vintertjeneste", title="Snerydning: ikke hos os", mode="not_offered", body="")
    await eventually(lambda: replica.article(stale_article.id) is not None and len(replica) >= 18, what="articles")

    members = [("0751", "Aarhus"), ("0615", "Horsens"), ("0727", "Odder")]
    storskrald = governance.divergence(replica, "storskrald", members, now)
    assert [(row.code, row.status) for row in storskrald.rows] == [
        ("0751", "replaced"),
        ("0615", "replaced"),
        ("0727", "general"),
    ]
    assert storskrald.general
    assert storskrald.count("replaced") == 2
    rotter = governance.divergence(replica, "rotter", members, now)
    assert [row.status for row in rotter.rows] == ["added", "none", "none"]
    assert governance.divergence(replica, "vintertjeneste", members, now).rows[0].status == "not_offered"

    stale = governance.stale(replica, now)
    assert [r.id for r in stale["0751"]] == [stale_article.id]
    assert "0615" not in stale  # the seed's review dates lie in 2027

    aarhus, odder = governance.coverage(replica, [members[0], members[2]], ["storskrald", "rotter", "skole"], now)
    assert aarhus.uncovered == ("skole",)
    assert aarhus.general_only == ()
    assert aarhus.stale == 1
    assert odder.uncovered == ("rotter", "skole")
    assert odder.general_only == ("storskrald",)

    headers = await coordinator(http, app)
    page = await http.get("/kb/manage/divergence", params={"topic": "storskrald"}, headers=headers)
    assert page.status_code == 200
    assert "Aarhus: storskrald hentes efter bestilling" in page.text
    assert "Egen regel erstatter" in page.text
    unknown = await http.get("/kb/manage/divergence", params={"topic": "findes-ikke"}, headers=headers)
    assert unknown.status_code == 404
    assert "topic" in unknown.text
    admin_page = await http.get("/admin/kommuner/0751/kb/", headers=await aarhus_admin(http, app))
    assert "Rotter i Aarhus" in admin_page.text
    assert "skulle gennemgås 2026-01-31" in admin_page.text


def open_count(html: str) -> int:
    found = re.search(r"\((\d+) åbne\)", html)
    assert found is not None
    return int(found.group(1))


async def test_an_agents_report_reaches_that_kommunes_admins_with_cpr_masked(kb_client: Client) -> None:
    http, app = kb_client
    replica = app.state.services.kb_replica
    agent = await signed_in(http, app, [Grant(role="agent", kommune="0751")], "0751", "Agnes Agent")
    aarhus_rule = next(r for r in replica.records() if r.scope == "0751" and r.topic == "storskrald")
    form = await http.get("/kb/report", params={"article": aarhus_rule.id, "kommune": "0751"}, headers=agent)
    assert form.status_code == 200
    assert aarhus_rule.title in form.text

    filed = await http.post(
        "/kb/report",
        data={
            "article": aarhus_rule.id,
            "kommune": "0751",
            "kind": "wrong",
            "message": "Borger 010190-1234 siger at prisen er ændret til 100 kr.",
        },
        headers=agent,
    )
    assert filed.status_code == 201, filed.text
    stored = await KbReport.select().run()
    assert len(stored) == 1
    assert "010190-1234" not in stored[0]["message"]
    assert stored[0]["kommune"] == "0751"
    assert stored[0]["reporter"] == "Agnes Agent"

    # A missing rule, filed from a search for Horsens: it goes to Horsens.
    missing = await http.post(
        "/kb/report",
        data={"kommune": "0615", "topic": "rotter", "kind": "missing", "message": "Ingen regel."},
        headers=agent,
    )
    assert missing.status_code == 201
    bad = {
        "message": {"kommune": "0615", "topic": "rotter", "kind": "missing", "message": "  "},
        "topic": {"kommune": "0615", "topic": "nope", "kind": "missing", "message": "x"},
        "article": {"article": "no-such-article", "kind": "wrong", "message": "x"},
        "kind": {"kommune": "0615", "topic": "rotter", "kind": "praise", "message": "x"},
        "kommune": {"kommune": "9999", "topic": "rotter", "kind": "missing", "message": "x"},
    }
    for name, data in bad.items():
        response = await http.post("/kb/report", data=data, headers=agent)
        assert response.status_code == 422, name
        assert f'id="err-{name}"' in response.text, name
    assert await KbReport.count().run() == 2

    admin = await aarhus_admin(http, app)
    assert open_count((await http.get("/admin/kommuner/0751/kb/", headers=admin)).text) == 1
    inbox = await http.get("/admin/kommuner/0751/kb/reports", headers=admin)
    assert "prisen er ændret" in inbox.text
    assert "Ingen regel." not in inbox.text
    horsens = await signed_in(http, app, [Grant(role="kommune_admin", kommune="0615")], "0615", "Hans Horsens")
    assert (await http.get("/admin/kommuner/0751/kb/reports", headers=horsens)).status_code == 403
    aarhus_report = next(row["id"] for row in stored if row["kommune"] == "0751")
    horsens_report = next(row["id"] for row in await KbReport.select().run() if row["kommune"] == "0615")
    wrong_kommune = await http.post(
        f"/admin/kommuner/0751/kb/reports/{horsens_report}/close", data={"status": "resolved"}, headers=admin
    )
    assert wrong_kommune.status_code == 404
    resolved = await http.post(
        f"/admin/kommuner/0751/kb/reports/{aarhus_report}/close", data={"status": "resolved"}, headers=admin
    )
    assert resolved.status_code == 303
    again = await http.post(
        f"/admin/kommuner/0751/kb/reports/{aarhus_report}/close", data={"status": "dismissed"}, headers=admin
    )
    assert again.status_code == 409
    assert open_count((await http.get("/admin/kommuner/0751/kb/", headers=admin)).text) == 0

    everything = await http.get("/kb/manage/reports", headers=await coordinator(http, app))
    assert "Ingen regel." in everything.text
    assert "prisen er ændret" not in everything.text
    closed = await http.get("/kb/manage/reports", params={"status": "resolved"}, headers=await coordinator(http, app))
    assert "prisen er ændret" in closed.text
