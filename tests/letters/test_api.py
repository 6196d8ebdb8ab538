"""The letters area over HTTP, in the assembled app with its outbox worker and a real SMTP server: an agent of
Horsens answers an Aarhus citizen under Aarhus's letterhead; previews; the CPR guard; the admins' sample letter;
the demo mailbox; and SMTP in the readiness check."""

from __future__ import annotations

import asyncio
import email
import re
from collections.abc import AsyncIterator
from email.policy import default
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from hotline.config import Settings
from hotline.identity.schemas import Grant
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for
from tests.fixtures.letters import SmtpServer

DRAFT = {
    "recipient": "borger@example.org",
    "template": "storskrald",
    "subject": "Storskrald",
    "text": "Du bestiller storskrald på https://aarhus.kommune.example/storskrald\n\nVenlig hilsen",
    "topic": "storskrald",
}


@pytest.fixture
async def http(
    settings: Settings, kommuner: Database, nats_server: EmbeddedNatsServer, clock: FixedClock, smtp_server: SmtpServer
) -> AsyncIterator[tuple[httpx.AsyncClient, Litestar]]:
    # The mailbox page reads what the sink stored: point both at the data directory's mailbox.
    smtp_server.handler.directory = settings.data_path / "mailbox"
    smtp_server.handler.directory.mkdir(parents=True, exist_ok=True)
    app = create_app(
        msgspec.structs.replace(settings, smtp=smtp_server.settings),
        engine=kommuner.engine,
        nats_servers=[nats_server.url],
        clock=clock,
    )
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield client, app


async def signed_in(client: httpx.AsyncClient, app: Any, *grants: Grant, home: str = "0615") -> dict[str, str]:
    await client.get("/tenants")
    csrf = client.cookies["hotline_csrf"]
    session = await session_cookie_for(list(grants), home, now=app.state.services.clock(), name="Agent")
    return {"x-csrftoken": csrf, "cookie": f"hotline_csrf={csrf}; hotline_session={session}"}


AGENT = Grant(role="agent", kommune="*")


async def test_an_agent_of_another_kommune_sends_under_the_callers_letterhead_and_sees_it_delivered(
    http: tuple[httpx.AsyncClient, Litestar], smtp_server: SmtpServer
) -> None:
    client, app = http
    headers = await signed_in(client, app, AGENT)
    templates = (await client.get("/api/letters/0751/templates", headers=headers)).json()
    storskrald = next(t for t in templates if t["key"] == "storskrald")
    assert "Affald og Genbrug" in storskrald["text"]  # the Aarhus department that owns the topic
    preview = await client.post("/api/letters/0751/preview", json=DRAFT, headers=headers)
    assert preview.status_code == 200, preview.text
    assert '<a href="https://aarhus.kommune.example/storskrald"' in preview.json()["html"]
    sent = await client.post("/api/letters/0751", json=DRAFT, headers=headers)
    assert sent.status_code == 201, sent.text
    letter = sent.json()
    assert letter["status"] == "queued"

    async def delivered() -> dict[str, Any]:
        while True:
            status = (await client.get(f"/api/letters/0751/{letter['letter_id']}", headers=headers)).json()
            if status["status"] == "sent":
                return status
            await asyncio.sleep(0.05)

    status = await asyncio.wait_for(delivered(), 30)
    assert smtp_server.handler.message_ids == {status["message_id"]: 1}
    message = email.message_from_bytes(smtp_server.handler.messages[0], policy=default)
    assert str(message["From"]) == "Aarhus Kommune <borgerservice@aarhus.kommune.example>"
    page = await client.get(f"/letters/0751/{letter['letter_id']}", headers={**headers, "accept": "text/html"})
    assert page.status_code == 200
    assert "Sendt" in page.text

    mailbox = await client.get("/demo/mailbox", headers={**headers, "accept": "text/html"})
    assert mailbox.status_code == 200
    assert "Storskrald" in mailbox.text
    name = smtp_server.handler.directory.glob("*.eml").__next__().name
    html = await client.get(f"/demo/mailbox/{name}/html", headers=headers)
    assert "sandbox" in html.headers["content-security-policy"]
    assert "script-src" not in html.headers["content-security-policy"]
    assert "Aarhus Kommune" in html.text
    pdf = await client.get(f"/demo/mailbox/{name}/pdf", headers=headers)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


async def test_a_letter_with_a_cpr_number_is_refused_with_a_pointer_to_digital_post(
    http: tuple[httpx.AsyncClient, Litestar], smtp_server: SmtpServer
) -> None:
    client, app = http
    headers = await signed_in(client, app, AGENT)
    for field, value in (("text", "Dit CPR-nummer 010190-1234 er noteret"), ("subject", "Sag 0101901234")):
        refused = await client.post("/api/letters/0751", json={**DRAFT, field: value}, headers=headers)
        assert refused.status_code == 400
        assert "Digital Post" in refused.json()["detail"]
        assert "1234" not in refused.text  # the number is not echoed back
    page = await client.post(
        "/letters/0751/send", data={**DRAFT, "text": "CPR 0101901234"}, headers={**headers, "accept": "text/html"}
    )
    assert page.status_code == 422
    assert "Digital Post" in page.text
    await asyncio.sleep(0.2)
    assert smtp_server.handler.messages == []


async def test_the_compose_page_previews_the_email_inert_and_the_pdf(http: tuple[httpx.AsyncClient, Litestar]) -> None:
    client, app = http
    headers = await signed_in(client, app, AGENT)
    page = await client.get("/letters/0751/compose?template=flytning", headers={**headers, "accept": "text/html"})
    assert page.status_code == 200
    assert 'for="recipient"' in page.text
    assert 'for="text"' in page.text
    assert "style=" not in page.text
    assert "<iframe" in page.text
    assert "sandbox" in page.text
    email_preview = await client.post("/letters/0751/preview/email", data=DRAFT, headers=headers)
    assert email_preview.status_code == 200
    assert "default-src 'none'" in email_preview.headers["content-security-policy"]
    pdf = await client.post("/letters/0751/preview/pdf", data=DRAFT, headers=headers)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")


async def test_admins_preview_their_own_letterhead_only(http: tuple[httpx.AsyncClient, Litestar]) -> None:
    client, app = http
    admin = await signed_in(client, app, Grant(role="kommune_admin", kommune="0751"), home="0751")
    sample = await client.get("/admin/kommuner/0751/letterhead/sample.pdf", headers=admin)
    assert sample.status_code == 200
    assert sample.content.startswith(b"%PDF")
    assert (await client.get("/admin/kommuner/0615/letterhead/sample.pdf", headers=admin)).status_code == 403
    agent = await signed_in(client, app, AGENT)
    assert (await client.get("/admin/kommuner/0751/letterhead/sample.pdf", headers=agent)).status_code == 403


async def test_readiness_includes_smtp_and_fails_while_the_relay_is_down(
    http: tuple[httpx.AsyncClient, Litestar], smtp_server: SmtpServer
) -> None:
    client, _ = http
    ready = (await client.get("/health/ready")).json()
    assert ready["checks"]["smtp"]["ok"] is True
    smtp_server.stop()
    down = await client.get("/health/ready")
    assert down.status_code == 503
    assert down.json()["checks"]["smtp"]["ok"] is False


def _field(page: str, name: str) -> str:
    """The value of a form field on the page, as the browser would submit it."""
    import html as html_module
    import re

    textarea = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    if textarea:
        return html_module.unescape(textarea.group(1))
    for tag in re.findall(r"<input[^>]*>", page):
        if f'name="{name}"' in tag:
            value = re.search(r'value="([^"]*)"', tag)
            return html_module.unescape(value.group(1)) if value else ""
    raise AssertionError(f"no field {name!r} on the page")


async def test_a_new_agent_replies_to_a_horsens_call_and_finds_the_mail_in_the_demo_mailbox(
    http: tuple[httpx.AsyncClient, Litestar], smtp_server: SmtpServer, tmp_path: Any
) -> None:
    """The demo path of issue 6: the agent console's link opens compose for the caller's kommune with the call's
    topic and id; the topic's template is preselected and filled with Horsens's rules; the agent sends; the mail
    arrives with Horsens's letterhead, From and PDF, and the letter remembers the call it answers."""
    from hotline.letters.tables import Letter
    from tests.letters.test_rendering import poppler

    client, app = http
    # A person signing in for the first time, with the agent role for Horsens only.
    headers = await signed_in(client, app, Grant(role="agent", kommune="0615"), home="0615")
    html_headers = {**headers, "accept": "text/html"}
    compose = await client.get("/letters/0615/compose?topic=flytning&call=call-7f3a9c", headers=html_headers)
    assert compose.status_code == 200, compose.text
    assert "Svar på opkald" in compose.text
    assert "call-7f3a9c" in compose.text
    assert _field(compose.text, "template") == "flytning"  # the topic's template, preselected
    assert _field(compose.text, "call") == "call-7f3a9c"
    text = _field(compose.text, "text")
    assert "Horsens Kommune" in text  # filled in with Horsens's own rules, not a blank form
    assert "+45 70 61 51 01" in text or "Borgerservice" in text
    form = {
        name: _field(compose.text, name) for name in ("_csrf_token", "template", "topic", "call", "subject", "text")
    }

    # A CPR number in the text is refused with the Digital Post message; nothing is queued, the call is kept.
    refused = await client.post(
        "/letters/0615/send",
        data={**form, "recipient": "borger@example.org", "text": text + "\n\nCPR 010190-1234"},
        headers=html_headers,
    )
    assert refused.status_code == 422
    assert "Digital Post" in refused.text
    assert _field(refused.text, "call") == "call-7f3a9c"
    assert await Letter.count().run() == 0

    sent = await client.post(
        "/letters/0615/send", data={**form, "recipient": "borger@example.org"}, headers=html_headers
    )
    assert sent.status_code == 200, sent.text
    assert "call-7f3a9c" in sent.text  # the letter's page says which call it answers
    row = await Letter.select(Letter.letter_id, Letter.call_id, Letter.topic).first().run()
    assert row is not None
    assert row["call_id"] == "call-7f3a9c"
    assert row["topic"] == "flytning"

    async def delivered() -> None:
        for _ in range(600):
            if (await client.get(f"/api/letters/0615/{row['letter_id']}", headers=headers)).json()["status"] == "sent":
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(delivered(), 30)
    status = (await client.get(f"/api/letters/0615/{row['letter_id']}", headers=headers)).json()
    assert status["status"] == "sent"
    assert status["call_id"] == "call-7f3a9c"

    mailbox = await client.get("/demo/mailbox", headers=html_headers)
    assert mailbox.status_code == 200
    assert "Sådan melder du flytning – Horsens Kommune" in mailbox.text
    [stored] = list(smtp_server.handler.directory.glob("*.eml"))
    message = email.message_from_bytes(stored.read_bytes(), policy=default)
    assert str(message["From"]) == "Horsens Kommune <borgerservice@horsens.kommune.example>"
    assert str(message["Reply-To"]) == "borgerservice@horsens.kommune.example"
    mail_html = await client.get(f"/demo/mailbox/{stored.name}/html", headers=headers)
    assert mail_html.status_code == 200
    assert "Horsens Kommune" in mail_html.text
    assert "#1f4e79" in mail_html.text.lower()  # Horsens's letterhead colour
    assert "8700 Horsens" in mail_html.text
    pdf = await client.get(f"/demo/mailbox/{stored.name}/pdf", headers=headers)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "letter.pdf").write_bytes(pdf.content)
    pdf_text = await poppler("pdftotext", str(tmp_path / "letter.pdf"), "-")
    assert "Horsens Kommune" in pdf_text
    assert "Rådhuspladsen 1" in pdf_text
    assert "8700 Horsens" in pdf_text
    # The e-mail (not the PDF) carries a one-use satisfaction survey link, branded with Horsens.
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    [survey_url] = re.findall(r"https?://\S+/survey/[A-Za-z0-9_\-]+", plain.get_content())
    assert "/survey/" not in pdf_text
    survey_path = "/survey/" + survey_url.rsplit("/survey/", 1)[1]
    survey = await client.get(survey_path, headers={"accept": "text/html"})
    assert survey.status_code == 200
    assert "Horsens Kommune" in survey.text


async def test_compose_refuses_a_malformed_call_id_naming_the_field(http: tuple[httpx.AsyncClient, Litestar]) -> None:
    client, app = http
    headers = await signed_in(client, app, Grant(role="agent", kommune="0615"), home="0615")
    bad = await client.get("/letters/0615/compose?topic=flytning&call=x%22%3E%3Cscript%3E", headers=headers)
    assert bad.status_code == 400
    assert "call" in bad.json()["detail"]
    newline = await client.get("/letters/0615/compose?call=call-1%0A", headers=headers)
    assert newline.status_code == 400
    for bad in ("a b", "call-1\n", "x" * 65):
        refused = await client.post("/api/letters/0615", json={**DRAFT, "call_id": bad}, headers=headers)
        assert refused.status_code == 400, bad
        assert "call" in refused.text
