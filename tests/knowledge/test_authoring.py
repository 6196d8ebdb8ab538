"""The authoring pages: kommune admins and the coordinator write articles through server-rendered forms with a
live preview, history, diff and revert; bad input comes back with a message next to the field and saves nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx

from hotline.identity.schemas import Grant
from hotline.knowledge import repository
from tests.fixtures.identity import session_cookie_for
from tests.fixtures.knowledge import eventually

Client = tuple[httpx.AsyncClient, Any]
AARHUS = "/admin/kommuner/0751/kb"


async def signed_in(http: httpx.AsyncClient, app: Any, grants: list[Grant], home: str, name: str) -> dict[str, str]:
    await http.get("/tenants")
    csrf = http.cookies["hotline_csrf"]
    session = await session_cookie_for(grants, home, now=app.state.services.clock(), name=name)
    return {"x-csrftoken": csrf, "cookie": f"hotline_csrf={csrf}; hotline_session={session}"}


async def aarhus_admin(http: httpx.AsyncClient, app: Any) -> dict[str, str]:
    return await signed_in(http, app, [Grant(role="kommune_admin", kommune="0751")], "0751", "Aase Admin")


async def coordinator(http: httpx.AsyncClient, app: Any) -> dict[str, str]:
    return await signed_in(http, app, [Grant(role="coordinator", kommune="*")], "0751", "Kim Koordinator")


def form(**changes: str) -> dict[str, str]:
    values = {
        "topic": "pas",
        "title": "Pas i Aarhus",
        "body": "Bestil tid på **aarhus.dk**.",
        "mode": "add",
        "links": "Bestil tid | https://www.aarhus.dk/pas",
        "department": "borgerservice",
        "handling": "solve",
        "valid_from": "",
        "valid_to": "",
        "review_by": "2027-06-30",
        "language": "da",
    }
    return {**values, **changes}


def kb_body(html: str) -> str:
    found = re.search(r'<div class="kb-body">(.*?)</div>', html, re.S)
    assert found is not None, "no article body on the page"
    return found.group(1)


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{name}">(.*?)</p>', html, re.S)
    return found.group(1) if found else ""


async def test_a_kommune_admin_writes_edits_diffs_and_reverts_an_article(kb_client: Client) -> None:
    http, app = kb_client
    replica = app.state.services.kb_replica
    headers = await aarhus_admin(http, app)
    overview = await http.get(AARHUS + "/", headers=headers)
    assert overview.status_code == 200
    assert "Aarhus: storskrald hentes efter bestilling" in overview.text
    assert 'href="/admin/kommuner/0751/kb/"' in (await http.get("/kb", headers=headers)).text
    assert 'href="/admin/kommuner/0751/kb/"' not in (await http.get("/kb")).text
    new_page = await http.get(AARHUS + "/new", headers=headers)
    assert new_page.status_code == 200
    assert 'value="affald-og-genbrug"' in new_page.text  # the department choice is Aarhus's own

    created = await http.post(AARHUS + "/new", data=form(), headers=headers)
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    article_id = location.split("/")[-2]
    await eventually(lambda: replica.article(article_id) is not None, what="the new article in the replica")
    record = replica.article(article_id)
    assert record.links[0].url == "https://www.aarhus.dk/pas"
    assert record.review_by.isoformat() == "2027-06-30"

    edited = await http.post(
        f"{AARHUS}/{article_id}/edit", data=form(body="Drop-in torsdag 16-18.", version="1"), headers=headers
    )
    assert edited.status_code == 303, edited.text
    page = await http.get(f"{AARHUS}/{article_id}/edit", headers=headers)
    assert "Drop-in torsdag" in page.text
    assert "Gør version 1 gældende igen" in page.text
    diff = await http.get(f"{AARHUS}/{article_id}/diff", params={"from": 1, "to": 2}, headers=headers)
    assert "kb-diff-del" in diff.text
    assert "-Bestil tid på **aarhus.dk**." in diff.text
    assert "+Drop-in torsdag 16-18." in diff.text

    reverted = await http.post(f"{AARHUS}/{article_id}/revert", data={"version": "1"}, headers=headers)
    assert reverted.status_code == 303
    await eventually(lambda: replica.article(article_id).version == 3, what="the revert in the replica")
    assert replica.article(article_id).body == "Bestil tid på **aarhus.dk**."


async def test_bad_input_comes_back_next_to_the_field_and_saves_nothing(kb_client: Client) -> None:
    http, app = kb_client
    headers = await aarhus_admin(http, app)
    before = await repository.article_count()
    cases = {
        "topic": form(topic="ikke-et-emne"),
        "department": form(department="horsens-rengoering"),
        "valid_to": form(valid_from="2026-12-02T08:00", valid_to="2026-12-01T08:00"),
        "valid_from": form(valid_from="i morgen"),
        "review_by": form(review_by="31-12-2026"),
        "links": form(links="bare en tekst uden adresse"),
        "title": form(title=""),
        "mode": form(mode="delete"),
    }
    for name, data in cases.items():
        response = await http.post(AARHUS + "/new", data=data, headers=headers)
        assert response.status_code == 422, (name, response.status_code)
        assert field_error(response.text, name), f"no message next to {name}"
        assert 'aria-invalid="true"' in response.text
    javascript_link = await http.post(AARHUS + "/new", data=form(links="Klik | javascript:alert(1)"), headers=headers)
    assert javascript_link.status_code == 422
    assert field_error(javascript_link.text, "links")
    assert await repository.article_count() == before


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="err-([a-z_]+)">(.*?)</p>', html, re.S))


THREE_BAD_FIELDS = form(
    title="",
    body="Min tekst, som ikke må gå tabt.",
    department="horsens-rengoering",
    valid_from="2026-12-02T08:00",
    valid_to="2026-12-01T08:00",
)


async def test_every_broken_rule_is_shown_at_once_in_danish_and_nothing_is_saved(kb_client: Client) -> None:
    http, app = kb_client
    headers = await aarhus_admin(http, app)
    before = await repository.article_count()
    response = await http.post(AARHUS + "/new", data=THREE_BAD_FIELDS, headers=headers)
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert errors == {
        "title": "skal udfyldes",
        "department": "Aarhus Kommune har ingen afdeling &#39;horsens-rengoering&#39; (afdelinger: "
        + errors["department"].split("(afdelinger: ")[-1],
        "valid_to": "skal ligge efter &#39;gælder fra&#39;",
    }
    assert "borgerservice" in errors["department"]  # the departments Aarhus does have
    assert response.text.count('aria-invalid="true"') == 3
    assert "Min tekst, som ikke må gå tabt." in response.text  # the author's text is kept
    assert 'value="2026-12-02T08:00"' in response.text
    assert await repository.article_count() == before


async def test_the_messages_are_in_english_when_the_author_chose_english(kb_client: Client) -> None:
    http, app = kb_client
    headers = await aarhus_admin(http, app)
    headers["cookie"] += "; hotline_lang=en"
    before = await repository.article_count()
    response = await http.post(AARHUS + "/new", data=THREE_BAD_FIELDS, headers=headers)
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert set(errors) == {"title", "department", "valid_to"}
    assert errors["title"] == "must not be empty"
    assert errors["department"].startswith("Aarhus Kommune has no department &#39;horsens-rengoering&#39;")
    assert errors["valid_to"] == "must be after valid_from"
    assert "The article was not saved" in response.text
    assert await repository.article_count() == before


async def test_unreadable_values_and_broken_rules_are_reported_together(kb_client: Client) -> None:
    http, app = kb_client
    headers = await aarhus_admin(http, app)
    before = await repository.article_count()
    data = form(
        title="", review_by="31-12-2026", valid_from="i morgen", valid_to="2026-12-01T08:00", links="a | b\nbare tekst"
    )
    response = await http.post(AARHUS + "/new", data=data, headers=headers)
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert errors == {
        "title": "skal udfyldes",
        "review_by": "skal være en dato, f.eks. 2027-03-31",
        "valid_from": "skal være en dato og et klokkeslæt, f.eks. 2026-12-01T08:00",
        "links": "linje 2: skriv &#39;Titel | https://adresse&#39;",
    }  # and no window rule under valid_to: the start could not be read
    bad_links = await http.post(
        AARHUS + "/new", data=form(links="Et | javascript:x\nTo | https://ok.example/\nTre | ftp://x"), headers=headers
    )
    assert field_errors(bad_links.text)["links"] == (
        "link 1 skal være en http(s)-adresse uden mellemrum og anførselstegn; "
        "link 3 skal være en http(s)-adresse uden mellemrum og anførselstegn"
    )
    assert await repository.article_count() == before


async def test_the_preview_is_the_agents_rendering_and_neutralises_script(kb_client: Client) -> None:
    http, app = kb_client
    replica = app.state.services.kb_replica
    headers = await aarhus_admin(http, app)
    body = (
        "# Pas\n\n<script>alert('x')</script>\n\n<iframe src=\"https://evil.example\"></iframe>\n\n"
        "[klik](javascript:alert(1)) og [borger.dk](https://www.borger.dk)\n\n- **fed** punkt\n"
    )
    preview = await http.post(AARHUS + "/preview", data=form(body=body), headers=headers)
    assert preview.status_code == 200
    shown = kb_body(preview.text)
    assert "<script" not in shown
    assert "<iframe" not in shown
    assert not re.search(r"href=[\"']?javascript:", shown)  # the javascript: link stays inert text
    assert "&lt;script&gt;" in shown  # shown as text, not run
    assert '<a href="https://www.borger.dk" rel="noopener noreferrer">borger.dk</a>' in shown

    created = await http.post(AARHUS + "/new", data=form(body=body), headers=headers)
    article_id = created.headers["location"].split("/")[-2]
    await eventually(lambda: replica.article(article_id) is not None, what="the article in the replica")
    agent_page = await http.get(f"/kb/articles/{article_id}")
    assert kb_body(agent_page.text) == shown


async def test_an_admin_of_another_kommune_is_refused(kb_client: Client) -> None:
    http, app = kb_client
    horsens = await signed_in(http, app, [Grant(role="kommune_admin", kommune="0615")], "0615", "Hans Horsens")
    assert (await http.get(AARHUS + "/", headers=horsens)).status_code == 403
    assert (await http.post(AARHUS + "/new", data=form(), headers=horsens)).status_code == 403
    # An Aarhus admin cannot reach a Horsens article through Aarhus's pages either.
    headers = await aarhus_admin(http, app)
    replica = app.state.services.kb_replica
    horsens_article = next(r for r in replica.records() if r.scope == "0615")
    edit = await http.post(
        f"{AARHUS}/{horsens_article.id}/edit", data=form(topic=horsens_article.topic, version="1"), headers=headers
    )
    assert edit.status_code == 403
    assert (await http.get(f"{AARHUS}/{horsens_article.id}/edit", headers=headers)).status_code == 403
    agent = await signed_in(http, app, [Grant(role="agent", kommune="0751")], "0751", "Agnes Agent")
    assert (await http.get("/kb/manage/", headers=agent)).status_code == 403
    assert (await http.get(AARHUS + "/", headers=agent)).status_code == 403
    assert (await http.post(AARHUS + "/new", data=form())).status_code in (401, 403)  # not signed in


async def test_an_edit_from_a_stale_version_is_refused_as_a_conflict(kb_client: Client) -> None:
    http, app = kb_client
    headers = await aarhus_admin(http, app)
    created = await http.post(AARHUS + "/new", data=form(), headers=headers)
    article_id = created.headers["location"].split("/")[-2]
    first = await http.post(f"{AARHUS}/{article_id}/edit", data=form(body="Først.", version="1"), headers=headers)
    assert first.status_code == 303
    second = await http.post(f"{AARHUS}/{article_id}/edit", data=form(body="Anden.", version="1"), headers=headers)
    assert second.status_code == 409
    assert "version 2" in field_error(second.text, "version")
    assert "Anden." in second.text  # the author's text is kept in the form
    row = await repository.article(article_id)
    assert row is not None
    assert row["version"] == 2
    assert row["body"] == "Først."


async def test_the_coordinator_writes_general_articles_and_surge_banners(kb_client: Client) -> None:
    http, app = kb_client
    replica = app.state.services.kb_replica
    headers = await coordinator(http, app)
    assert 'href="/kb/manage/"' in (await http.get("/kb", headers=headers)).text
    overview = await http.get("/kb/manage/", headers=headers)
    assert overview.status_code == 200
    assert "Storskrald" in overview.text
    general = await http.post(
        "/kb/manage/general/new",
        data=form(topic="rotter", title="Rotter: anmeld på kommunens side", department="", links=""),
        headers=headers,
    )
    assert general.status_code == 303, general.text
    kommune_field = await http.post(
        "/kb/manage/general/new", data=form(topic="rotter", title="Med afdeling"), headers=headers
    )
    assert kommune_field.status_code == 422
    assert field_error(kommune_field.text, "department")

    without_end = await http.post(
        "/kb/manage/surge/new",
        data=form(title="Pasfejl", body="Pasproduktionen er nede.", valid_from="2026-11-25T08:00", department=""),
        headers=headers,
    )
    assert without_end.status_code == 422
    assert field_error(without_end.text, "valid_to")
    surge = await http.post(
        "/kb/manage/surge/new",
        data=form(
            title="Pasfejl",
            body="Pasproduktionen er nede.",
            valid_from="2026-11-25T08:00",
            valid_to="2026-11-26T08:00",
            department="",
            links="",
        ),
        headers=headers,
    )
    assert surge.status_code == 303, surge.text
    await eventually(lambda: any(r.title == "Pasfejl" for r in replica.surge()), what="the surge banner")
    search_page = await http.get("/kb", params={"kommune": "0751"})
    assert "Pasproduktionen er nede." in search_page.text
    assert (await http.get("/kb/manage/nonsense/new", headers=headers)).status_code == 404
