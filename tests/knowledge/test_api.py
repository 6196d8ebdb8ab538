"""The knowledge bank over HTTP: agents read and search the replica; authors' writes are validated with 4xx
messages naming the field, and reach the replica through the outbox and NATS."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hotline.identity.schemas import Grant
from tests.fixtures.identity import session_cookie_for
from tests.fixtures.knowledge import eventually

Client = tuple[httpx.AsyncClient, Any]


async def author(http: httpx.AsyncClient, app: Any) -> dict[str, str]:
    """Headers of a signed-in Aarhus kommune admin who is also federation coordinator, with a CSRF token."""
    await http.get("/tenants")
    csrf = http.cookies["hotline_csrf"]
    grants = [Grant(role="kommune_admin", kommune="0751"), Grant(role="coordinator", kommune="*")]
    session = await session_cookie_for(grants, "0751", now=app.state.services.clock(), name="Anne Admin")
    return {"x-csrftoken": csrf, "cookie": f"hotline_csrf={csrf}; hotline_session={session}"}


def storskrald_titles(rules: dict[str, Any]) -> list[str]:
    return [a["title"] for t in rules["topics"] if t["topic"] == "storskrald" for a in t["articles"]]


async def test_rule_sets_differ_between_aarhus_and_horsens(kb_client: Client) -> None:
    http, _ = kb_client
    aarhus = (await http.get("/api/kb/0751/rules")).json()
    horsens = (await http.get("/api/kb/0615/rules")).json()
    assert storskrald_titles(aarhus) == ["Aarhus: storskrald hentes efter bestilling"]
    assert storskrald_titles(horsens) == ["Horsens: storskrald på faste runder hver 4. uge"]
    odder = (await http.get("/api/kb/0727/rules")).json()
    assert storskrald_titles(odder) == ["Storskrald: hvad er det, og hvordan bestilles afhentning?"]
    laesoe = (await http.get("/api/kb/0825/rules")).json()
    assert [t["offered"] for t in laesoe["topics"] if t["topic"] == "parkering"] == [False]
    assert (await http.get("/api/kb/9999/rules")).status_code == 404


async def test_search_article_history_and_diff(kb_client: Client) -> None:
    http, _ = kb_client
    found = (await http.get("/api/kb/search", params={"q": "stort affald", "kommune": "0615"})).json()
    assert found["hits"][0]["scope"] == "0615"
    article_id = found["hits"][0]["id"]
    article = (await http.get(f"/api/kb/articles/{article_id}")).json()
    assert article["version"] == 1
    assert "<p>" in article["body_html"]
    history = (await http.get(f"/api/kb/articles/{article_id}/history")).json()
    assert [v["version"] for v in history] == [1]
    assert (await http.get("/api/kb/articles/nope")).status_code == 404
    assert (await http.get(f"/api/kb/articles/{article_id}/diff", params={"from": 1, "to": 9})).status_code == 404
    unsigned = await http.post("/api/kb/0751/articles", json={"topic": "pas", "title": "T", "body": "B"})
    assert unsigned.status_code in (401, 403)


async def test_an_edit_through_the_api_reaches_the_replica_and_can_be_reverted(kb_client: Client) -> None:
    http, app = kb_client
    replica = app.state.services.kb_replica
    headers = await author(http, app)
    created = await http.post(
        "/api/kb/0751/articles",
        json={"topic": "pas", "title": "Pas i Aarhus", "body": "Kun med tid.", "department": "borgerservice"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    article_id = created.json()["id"]
    await eventually(lambda: replica.article(article_id) is not None, what="the new article in the replica")
    changed = await http.put(
        f"/api/kb/0751/articles/{article_id}",
        json={"topic": "pas", "title": "Pas i Aarhus", "body": "Også drop-in torsdag.", "department": "borgerservice"},
        headers=headers,
    )
    assert changed.json()["version"] == 2
    reverted = await http.post(f"/api/kb/0751/articles/{article_id}/revert", json={"version": 1}, headers=headers)
    assert reverted.status_code == 200
    assert reverted.json()["version"] == 3
    await eventually(lambda: replica.article(article_id).version == 3, what="the revert in the replica")
    assert replica.article(article_id).body == "Kun med tid."
    diff = (await http.get(f"/api/kb/articles/{article_id}/diff", params={"from": 1, "to": 2})).json()
    assert "+Også drop-in torsdag." in diff["diff"]
    surge = await http.post(
        "/api/kb/surge/articles",
        json={
            "topic": "surge",
            "title": "Paskø",
            "body": "Mange opkald om pas i dag.",
            "valid_from": "2026-11-25T00:00:00+01:00",
            "valid_to": "2026-11-26T00:00:00+01:00",
        },
        headers=headers,
    )
    assert surge.status_code == 201, surge.text
    await eventually(lambda: len(replica.surge()) == 1, what="the surge banner")
    assert (await http.get("/api/kb/0615/rules")).json()["surge"][0]["title"] == "Paskø"


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/kb/0751/articles", {"topic": "ukendt", "title": "T", "body": "B"}, 400, "topic"),
        ("/api/kb/0751/articles", {"topic": "pas", "title": "T", "body": "B", "department": "nope"}, 400, "department"),
        ("/api/kb/0751/articles", {"topic": "pas", "title": "T", "body": "x" * 20_001}, 400, "body"),
        ("/api/kb/general/articles", {"topic": "pas", "title": "T", "body": "B", "mode": "replace"}, 400, "mode"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_field(
    kb_client: Client, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    http, app = kb_client
    response = await http.post(path, json=body, headers=await author(http, app))
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(f"{field}: ")


async def test_a_refused_save_lists_every_field_it_broke(kb_client: Client) -> None:
    from hotline.knowledge import repository

    http, app = kb_client
    before = await repository.article_count()
    response = await http.post(
        "/api/kb/0751/articles",
        json={"topic": "ukendt", "title": "", "body": "B", "department": "nope"},
        headers=await author(http, app),
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["detail"].startswith("title: must not be empty; ")  # the first field leads, as before
    assert [(e["key"], e["message_key"]) for e in body["extra"]] == [
        ("title", "kb.error.empty"),
        ("topic", "kb.error.unknown_topic"),
        ("department", "kb.error.unknown_department"),
    ]
    assert body["extra"][1]["message"] == "unknown topic 'ukendt'; use a topic of the federation's taxonomy"
    assert body["extra"][1]["params"] == {"topic": "ukendt"}
    assert await repository.article_count() == before


async def test_a_kommune_cannot_edit_another_kommunes_article(kb_client: Client) -> None:
    http, app = kb_client
    found = (await http.get("/api/kb/search", params={"q": "storskrald", "kommune": "0615"})).json()
    horsens_id = found["hits"][0]["id"]
    headers = await author(http, app)
    response = await http.put(
        f"/api/kb/0751/articles/{horsens_id}",
        json={"topic": "storskrald", "title": "Aarhus", "body": "B"},
        headers=headers,
    )
    # Through its own kommune's path the article is refused by the service; through Horsens's by the guard.
    horsens_path = await http.put(
        f"/api/kb/0615/articles/{horsens_id}",
        json={"topic": "storskrald", "title": "Aarhus", "body": "B"},
        headers=headers,
    )
    assert horsens_path.status_code == 403
    assert response.status_code == 403
    assert "0615" in response.json()["detail"]


async def test_the_page_searches_and_shows_rules_with_freshness(kb_client: Client) -> None:
    http, _ = kb_client
    page = await http.get("/kb", params={"q": "storskrald", "kommune": "0751"}, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "Aarhus: storskrald hentes efter bestilling" in page.text
    assert "<script>" not in page.text.split("</head>", 1)[1]
    partial = await http.get("/kb", params={"kommune": "0825"}, headers={"hx-request": "true"})
    assert 'id="kb-results"' in partial.text
    assert "Tilbydes ikke i kommunen" in partial.text
    english = await http.get("/kb", params={"kommune": "0825", "lang": "en"}, headers={"accept": "text/html"})
    assert "Not offered in this kommune" in english.text
    freshness = (await http.get("/api/kb/freshness")).json()
    assert freshness["ready"] is True
    assert freshness["connected"] is True
    assert freshness["articles"] >= 16
    ready = (await http.get("/health/ready")).json()
    assert ready["checks"]["knowledge"]["ok"] is True
