"""What the settlement is turned into: a statement per kommune as a PDF under the federation's letterhead, and
the CSV the finance systems read.

The PDF is laid out by ``letterhead/statement.html.j2`` (sandboxed, autoescaped Jinja, as the letters do) and
rendered by the letters area's :class:`~hotline.letters.rendering.PdfRenderer`: the same stylesheet, shipped fonts,
PDF/UA-1 output and locked-down URL fetcher (only the fonts and the logo handed to it; no files, no network).
The federation's letterhead (``letterhead/letterhead.toml`` + ``logo.svg``) is checked with the letters' own
checks before use.

CSV (``/settlement.csv``): comma-separated (RFC 4180), UTF-8, a header row, one row per member kommune, amounts
both in øre (integers) and in kroner with a dot as the decimal mark and no thousands separator, so that any
finance system reads them without locale guessing. Columns: see :data:`CSV_COLUMNS` and docs/SETTLEMENT.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Final

import msgspec
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from hotline.federation.schemas import KommuneBalance, Settlement
from hotline.letters.rendering import (
    LOGO_URL,
    LetterheadData,
    Logo,
    PdfRenderer,
    check_letterhead,
    check_logo,
    date_text,
)

LETTERHEAD_DIR: Final = Path(__file__).resolve().parent / "letterhead"


class FederationLetterhead(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    name_en: str
    address: list[str]
    phone: str
    web: str
    primary_colour: str
    accent_colour: str
    signature: str
    legal_footer: str


@cache
def letterhead() -> tuple[FederationLetterhead, Logo]:
    """The federation's letterhead and logo, checked like a kommune's."""
    data = msgspec.convert(tomllib.loads((LETTERHEAD_DIR / "letterhead.toml").read_text("utf-8")), FederationLetterhead)
    check_letterhead(
        LetterheadData(
            address=tuple(data.address),
            phone=data.phone,
            web=data.web,
            primary_colour=data.primary_colour,
            accent_colour=data.accent_colour,
            signature=data.signature,
            legal_footer=data.legal_footer,
        )
    )
    logo = Logo(content=(LETTERHEAD_DIR / "logo.svg").read_bytes(), media_type="image/svg+xml")
    check_logo(logo)
    return data, logo


_ENV: Final = SandboxedEnvironment(
    loader=FileSystemLoader(LETTERHEAD_DIR), autoescape=True, undefined=StrictUndefined, auto_reload=False
)


# -- money ------------------------------------------------------------------------------------------------------


def kroner_dot(ore: int) -> str:
    """Øre as kroner with a dot decimal and no grouping: -123456 -> ``-1234.56`` (the CSV)."""
    sign = "-" if ore < 0 else ""
    return f"{sign}{abs(ore) // 100}.{abs(ore) % 100:02d}"


def money(ore: int, language: str) -> str:
    """Øre as people read kroner: ``1.234,56 kr.`` in Danish, ``DKK 1,234.56`` in English."""
    sign = "−" if ore < 0 else ""
    whole, cents = divmod(abs(ore), 100)
    if language == "en":
        return f"{sign}DKK {whole:,}.{cents:02d}"
    return f"{sign}{whole:,}".replace(",", ".") + f",{cents:02d} kr."


def decimal(value: float, digits: int, language: str) -> str:
    """A number as people of ``language`` write it: ``0,35`` in Danish, ``0.35`` in English."""
    text = f"{value:,.{digits}f}"
    if language != "en":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def hours_text(seconds: int, language: str) -> str:
    value = f"{seconds / 3600:,.1f}"
    if language != "en":
        value = value.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return value


# -- PDF -----------------------------------------------------------------------------------------------------------

_TEXT: Final[dict[str, dict[str, str]]] = {
    "da": {
        "title": "Afregning for aftenhotlinen {start} – {end}",
        "intro": "Opgørelse af kommunens andel af udgiften til hotlinen og af kommunens egne agenters arbejdstimer.",
        "hours": "Arbejdstimer, kommunens agenter",
        "hourly_cost": "Timepris",
        "credit": "Tilgodehavende for arbejdstimer",
        "key": "Fordelingsnøgle",
        "calls": "Besvarede opkald fra kommunens borgere",
        "minutes": "Håndterede minutter",
        "key_share": "Kommunens andel af nøglen",
        "total_cost": "Hotlinens samlede udgift i perioden",
        "share": "Kommunens andel af udgiften",
        "balance": "Saldo (tilgodehavende − andel)",
        "owed": "Kommunen har {amount} til gode.",
        "owes": "Kommunen skal betale {amount}",
        "even": "Kommunen står i nul.",
        "method_heading": "Sådan er beløbet beregnet",
        "method_1": (
            "Udgiften er medlemskommunernes agenters arbejdstimer (tilstandene ledig, ringer, i samtale og "
            "efterbehandling) gange timeprisen. Den fordeles efter nøglen; opkald fra numre uden medlemskommune "
            "fordeles efter indbyggertal."
        ),
        "method_2": (
            "Kommunen krediteres for sine egne agenters arbejdstimer. Beløbene er afrundet til hele øre med "
            "største-rest-metoden, så alle kommuners saldi tilsammen er præcis 0 kr."
        ),
        "page": "Side",
        "of": "af",
        "phone": "Telefon",
        "logo_alt": "Logo",
        "per_call": "pr. opkald",
        "per_minute": "pr. håndteret minut",
        "population": "efter indbyggertal",
        "mix": "blandet",
    },
    "en": {
        "title": "Evening hotline settlement {start} – {end}",
        "intro": "The kommune's share of the hotline's cost, and the hours its own agents worked.",
        "hours": "Hours worked by the kommune's agents",
        "hourly_cost": "Hourly cost",
        "credit": "Credit for hours worked",
        "key": "Allocation key",
        "calls": "Answered calls from the kommune's citizens",
        "minutes": "Handled minutes",
        "key_share": "The kommune's share of the key",
        "total_cost": "The hotline's total cost in the period",
        "share": "The kommune's share of the cost",
        "balance": "Balance (credit − share)",
        "owed": "The kommune is owed {amount}.",
        "owes": "The kommune owes {amount}.",
        "even": "The kommune's balance is zero.",
        "method_heading": "How the amount is computed",
        "method_1": (
            "The cost is the hours worked by the member kommuner's agents (states available, ringing, on call and "
            "wrap-up) times the hourly cost. It is shared by the key; calls from numbers of no member kommune are "
            "shared by population."
        ),
        "method_2": (
            "The kommune is credited for its own agents' hours. Amounts are rounded to whole øre by the largest "
            "remainder method, so the balances of all kommuner add up to exactly zero."
        ),
        "page": "Page",
        "of": "of",
        "phone": "Phone",
        "logo_alt": "Logo",
        "per_call": "per call",
        "per_minute": "per handled minute",
        "population": "by population",
        "mix": "mixed",
    },
}


def key_text(settlement: Settlement, language: str) -> str:
    text = _TEXT[language]
    key = settlement.key
    if key.kind != "mix":
        return text[key.kind]
    calls, minutes, population = key.weights()
    return (
        f"{text['mix']}: {text['per_call']} {float(calls):.0%}, {text['per_minute']} {float(minutes):.0%}, "
        f"{text['population']} {float(population):.0%}"
    )


def statement_html(settlement: Settlement, balance: KommuneBalance, *, language: str, today: dt.date) -> str:
    language = language if language in _TEXT else "da"
    text = _TEXT[language]
    head, _ = letterhead()
    title = text["title"].format(start=settlement.start.isoformat(), end=settlement.end.isoformat())
    rows = [
        (text["hours"], hours_text(balance.worked_seconds, language)),
        (text["hourly_cost"], money(settlement.hourly_cost_ore, language)),
        (text["credit"], money(balance.credit_ore, language)),
        (text["key"], key_text(settlement, language)),
        (text["calls"], f"{balance.calls}"),
        (text["minutes"], f"{balance.handled_seconds / 60:.0f}"),
        (text["key_share"], f"{decimal(balance.key_share * 100, 2, language)} %"),
        (text["total_cost"], money(settlement.total_cost_ore, language)),
        (text["share"], money(balance.share_ore, language)),
    ]
    amount = money(abs(balance.balance_ore), language)
    verdict = (
        text["owed"].format(amount=amount)
        if balance.balance_ore > 0
        else text["owes"].format(amount=amount)
        if balance.balance_ore < 0
        else text["even"]
    )
    context: dict[str, Any] = {
        "language": language,
        "title": title,
        "federation": head.name if language == "da" else head.name_en,
        "kommune": f"{balance.name} ({balance.code})",
        "date_text": date_text(language, today),
        "letterhead": {
            "address": head.address,
            "phone": head.phone,
            "web": head.web,
            "legal_footer": head.legal_footer,
        },
        "colours": {"primary": head.primary_colour, "accent": head.accent_colour},
        "logo_url": LOGO_URL,
        "rows": [{"label": label, "value": value} for label, value in rows],
        "balance": money(balance.balance_ore, language),
        "verdict": verdict,
        "method": [text["method_1"], text["method_2"]],
        "signature": [line for line in head.signature.splitlines() if line.strip()],
        "text": text,
    }
    return _ENV.get_template("statement.html.j2").render(context)


async def statement_pdf(
    renderer: PdfRenderer, settlement: Settlement, code: str, *, language: str, today: dt.date
) -> bytes | None:
    """The statement of kommune ``code`` as a PDF, or None when it is not a member in the settlement."""
    balance = settlement.balance_of(code)
    if balance is None:
        return None
    _, logo = letterhead()
    return await renderer.render(statement_html(settlement, balance, language=language, today=today), logo)


# -- CSV ------------------------------------------------------------------------------------------------------------

CSV_COLUMNS: Final = (
    "kommune_code",
    "kommune_name",
    "period_start",
    "period_end",
    "allocation_key",
    "hourly_cost_ore",
    "worked_hours",
    "answered_calls",
    "handled_minutes",
    "population",
    "key_share",
    "credit_ore",
    "share_ore",
    "balance_ore",
    "credit_kr",
    "share_kr",
    "balance_kr",
)


def settlement_csv(settlement: Settlement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for k in settlement.kommuner:
        writer.writerow(
            [
                k.code,
                k.name,
                settlement.start.isoformat(),
                settlement.end.isoformat(),
                settlement.key.label(),
                settlement.hourly_cost_ore,
                f"{k.worked_seconds / 3600:.2f}",
                k.calls,
                f"{k.handled_seconds / 60:.1f}",
                k.population,
                f"{k.key_share:.6f}",
                k.credit_ore,
                k.share_ore,
                k.balance_ore,
                kroner_dot(k.credit_ore),
                kroner_dot(k.share_ore),
                kroner_dot(k.balance_ore),
            ]
        )
    return out.getvalue()
