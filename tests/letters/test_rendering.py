"""The renderer's own defences (tenant data and the agent's text are data, never template source or fetchable
references) and the letter itself: an accessible PDF with the kommune's name and address, kept as a PNG."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import re
import subprocess
import zlib
from pathlib import Path

import msgspec
import pytest

from hotline.letters import rendering, service
from hotline.letters.rendering import LetterContent, LetterheadData, LetterheadError, Logo, Renderer
from hotline.letters.schemas import LetterDraft
from hotline.tenancy.tables import Kommune
from tests.fixtures.databases import Database

REPO = Path(__file__).resolve().parents[2]
AARHUS_LOGO = Logo((REPO / "tenants" / "0751-aarhus" / "logo.svg").read_bytes(), "image/svg+xml")
SSTI = ("{{ 7*191 }}", "{{ ''.__class__.__mro__ }}", "{% for x in range(3) %}loop{% endfor %}", "${7*191}")


def letterhead(**changes: object) -> LetterheadData:
    base = LetterheadData(
        address=("Aarhus Kommune", "Borgerservice", "Rådhuspladsen 1", "8000 Aarhus C"),
        phone="+45 70 75 10 00",
        web="https://aarhus.kommune.example",
        primary_colour="#7a1f2b",
        accent_colour="#e8b4b8",
        signature="Med venlig hilsen\nBorgerservice",
        legal_footer="Fodnote",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def content(**changes: object) -> LetterContent:
    values: dict[str, object] = {
        "language": "da",
        "kommune": "Aarhus Kommune",
        "letterhead": letterhead(),
        "subject": "Flytning",
        "body": "Hej\n\nSe https://www.borger.dk/flytning.",
        "date": dt.date(2026, 11, 25),
        "logo": AARHUS_LOGO,
    }
    values.update(changes)
    return LetterContent(**values)  # type: ignore[arg-type]


def pdf_objects(pdf: bytes) -> bytes:
    """The PDF with its compressed object streams inflated, to look for catalog entries."""
    inflated = [pdf]
    for match in re.finditer(rb"stream\r?\n", pdf):
        with contextlib.suppress(zlib.error):
            inflated.append(zlib.decompressobj().decompress(pdf[match.end() :]))
    return b"".join(inflated)


async def poppler(tool: str, *args: str) -> str:
    """Run one of Debian's poppler-utils (pdftotext, pdfinfo, pdffonts) off the event loop."""
    done = await asyncio.to_thread(subprocess.run, [tool, *args], capture_output=True, check=True, text=True)
    return done.stdout


def all_renderings(letter: LetterContent) -> list[str]:
    return [rendering.letter_html(letter), rendering.email_html(letter), rendering.email_text(letter)]


@pytest.mark.parametrize("payload", SSTI)
def test_template_syntax_in_any_field_or_in_the_agents_text_stays_text(payload: str) -> None:
    letter = content(
        kommune=f"Aarhus {payload}",
        subject=f"Emne {payload}",
        body=f"Tekst {payload}\n\n{payload}",
        letterhead=letterhead(
            address=(f"Adresse {payload}",),
            phone=f"+45 {payload}",
            signature=f"Hilsen {payload}",
            legal_footer=f"Fod {payload}",
        ),
    )
    for output in all_renderings(letter):
        assert "1337" not in output
        assert "looploop" not in output
        assert "<class" not in output
        assert "&lt;class" not in output
    text = rendering.email_text(letter)
    assert payload in text  # shown literally, exactly as written
    assert text.count(payload) >= 6


def test_the_agents_html_is_shown_as_text_and_only_web_addresses_become_links() -> None:
    letter = content(body='<script>alert(1)</script> <img src="file:///etc/passwd">\n\nLæs https://www.borger.dk/pas.')
    html = rendering.letter_html(letter)
    assert "<script>alert" not in html
    assert '<img src="file' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="https://www.borger.dk/pas">https://www.borger.dk/pas</a>.' in html
    assert rendering.paragraphs("a\nb\n\n\nc") == (
        ((rendering.Segment("a"),), (rendering.Segment("b"),)),
        ((rendering.Segment("c"),),),
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"primary_colour": "red; background: url(file:///etc/passwd)"},
        {"accent_colour": "#fff;}@import url(https://evil.example/x.css);{"},
        {"web": "javascript:alert(1)"},
        {"web": "file:///etc/passwd"},
        {"web": 'https://ok.example/" onmouseover="x'},
        {"address": ("Rådhuspladsen 1\r\nBcc: someone@evil.example",)},
        {"phone": "+45 70\n75"},
        {"address": ()},
    ],
)
def test_letterhead_data_that_could_reach_outside_the_letter_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(LetterheadError):
        rendering.letter_html(content(letterhead=letterhead(**changes)))


def test_css_and_file_references_in_text_fields_are_only_text() -> None:
    sneaky = 'url(file:///etc/passwd) <link rel="stylesheet" href="https://evil.example/x.css">'
    html = rendering.letter_html(content(letterhead=letterhead(legal_footer=sneaky, address=(sneaky,))))
    assert '<link rel="stylesheet" href="https://evil' not in html
    assert "url(file:///etc/passwd) &lt;link" in html


@pytest.mark.parametrize(
    ("logo", "problem"),
    [
        (Logo(b"\x89PNG\r\n\x1a\n" + b"0" * (513 * 1024), "image/png"), "at most"),
        (Logo(b"GIF89a....", "image/gif"), "not SVG or PNG"),
        (Logo(b"<html>not a png</html>", "image/png"), "not a PNG"),
        (Logo(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml"), "self"),
        (Logo(b"<svg><image href='file:///etc/passwd'/></svg>", "image/svg+xml"), "self"),
        (Logo(b"<svg><image xlink:href='https://evil.example/t.png'/></svg>", "image/svg+xml"), "self"),
        (Logo(b"<svg><rect style='fill:url(https://evil.example/#x)'/></svg>", "image/svg+xml"), "self"),
        (Logo(b"<!DOCTYPE svg [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><svg>&x;</svg>", "image/svg+xml"), "self"),
        (Logo(b"\xff\xfe<svg/>", "image/svg+xml"), "UTF-8"),
    ],
)
def test_an_oversized_non_image_or_outward_reaching_logo_is_refused(logo: Logo, problem: str) -> None:
    with pytest.raises(LetterheadError, match=problem):
        rendering.letter_html(content(logo=logo))


@pytest.mark.parametrize(
    "reference",
    [
        '<img src="file:///etc/passwd" alt="">',
        '<img src="https://evil.example/pixel.png" alt="">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
        '<p style="background: url(file:///etc/hostname)">x</p>',
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="">',
    ],
)
def test_the_pdf_fetcher_serves_only_our_fonts_and_the_kommunes_logo(renderer: Renderer, reference: str) -> None:
    # HTML that escaped every other defence still cannot make WeasyPrint read a file or the network.
    from weasyprint.urls import FatalURLFetchingError

    html = f"<!doctype html><html lang='da'><head><title>x</title></head><body>{reference}</body></html>"
    with pytest.raises(FatalURLFetchingError, match="refused"):
        renderer.pdf.render_sync(html, None)


async def test_the_pdf_is_an_accessible_letter_with_the_kommunes_name_and_address(
    kommuner: Database, renderer: Renderer, artifacts: Path, tmp_path: Path
) -> None:
    draft = LetterDraft(
        recipient="borger@example.org",
        template="flytning",
        subject="Sådan melder du flytning – Aarhus Kommune",
        text=(await service.compose("0751", "flytning")).text,
        topic="flytning",
    )
    now = dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.UTC)
    pdf = (await service.render("0751", draft, renderer, now=now)).pdf
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    text = await poppler("pdftotext", str(path), "-")
    for expected in ("Aarhus Kommune", "Rådhuspladsen 1", "8000 Aarhus C", "+45 70 75 10 00", "25. november 2026",
                     "www.borger.dk/flytning", "+45 70 75 11 01", "Side 1 af 1", "Med venlig hilsen"):  # fmt: skip
        assert expected in text, text
    info = await poppler("pdfinfo", str(path))
    assert "Title:           Sådan melder du flytning – Aarhus Kommune" in info
    assert "Tagged:          yes" in info
    fonts = await poppler("pdffonts", str(path))
    rows = [line.split() for line in fonts.splitlines()[2:]]
    # Only the shipped fonts (embedded under the family names letter.css gives them), never a system font.
    assert rows
    assert all(row[0].split("+", 1)[1] in {"Letter-Sans", "Letter-Sans-Bold", "Arial-Bold"} for row in rows)
    assert all(row[-5] == "yes" for row in rows)  # every font embedded
    objects = pdf_objects(pdf)
    assert b"/Lang (da)" in objects
    assert b"/StructTreeRoot" in objects
    assert b"pdfuaid:part" in objects
    await asyncio.to_thread(
        subprocess.run,
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(path),
            str(tmp_path / "letter-0751"),
        ],
        check=True,
    )
    assert (tmp_path / "letter-0751.png").stat().st_size > 10_000
    # Kept for people to look at; moved into place in one step, as parallel test workers may both write it.
    os.replace(tmp_path / "letter-0751.png", artifacts / "letter-0751.png")


async def test_bad_letterhead_or_sender_data_in_the_database_is_refused_to_the_agent(
    kommuner: Database, renderer: Renderer
) -> None:
    # tenancy/files.py refuses these when a folder is applied; here they arrive by another path.
    row = await Kommune.select(Kommune.letterhead, Kommune.sender).where(Kommune.code == "0751").first().run()
    assert row is not None
    letterhead_json = (
        msgspec.json.decode(row["letterhead"]) if isinstance(row["letterhead"], str) else row["letterhead"]
    )
    sender_json = msgspec.json.decode(row["sender"]) if isinstance(row["sender"], str) else row["sender"]
    draft = LetterDraft(recipient="borger@example.org", template="svar", subject="Svar", text="Hej")
    now = dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.UTC)

    bad_sender = {**sender_json, "from_name": "Aarhus Kommune\r\nBcc: all@evil.example"}
    await Kommune.update({Kommune.sender: msgspec.json.encode(bad_sender).decode()}).where(Kommune.code == "0751").run()
    with pytest.raises(service.LetterError, match="sender identity"):
        await service.prepare("0751", draft, renderer, now=now, created_by="t")

    # The tenancy schema checks colours itself; a web address is any string there, so the renderer must refuse it.
    bad_letterhead = {**letterhead_json, "web": "javascript:alert(document.cookie)"}
    await (
        Kommune.update({Kommune.letterhead: msgspec.json.encode(bad_letterhead).decode()})
        .where(Kommune.code == "0751")
        .run()
    )
    with pytest.raises(service.LetterError, match="letterhead"):
        await service.render("0751", draft, renderer, now=now)


async def test_rendering_in_worker_processes_gives_a_letter_and_reuses_the_cache() -> None:
    pool = rendering.PdfRenderer(processes=1)
    try:
        html = rendering.letter_html(content())
        pdf = await pool.render(html, AARHUS_LOGO)
        again = await pool.render(html, AARHUS_LOGO)
    finally:
        pool.close(wait=True)
    assert pdf.startswith(b"%PDF-")
    assert again == pdf
    assert pool.renders == 1
