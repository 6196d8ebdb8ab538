"""User-interface text in Danish (first) and English, and locale-aware formatting of times.

The language is chosen by ``?lang=`` (remembered in a cookie), else by the cookie, else Danish. Every message
exists in both languages; a test checks that, and that every key a template uses is defined.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

LANGUAGES: Final = ("da", "en")
DEFAULT_LANGUAGE: Final = "da"
COOKIE: Final = "hotline_lang"

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "da": {
        "app.name": "Den Fælleskommunale Aftenhotline",
        "app.tagline": "Fælles aften- og weekendhotline for kommunernes borgerservice",
        "nav.skip": "Spring til indhold",
        "nav.directory": "Kommuner",
        "nav.api": "API",
        "nav.language": "English",
        "nav.language_code": "en",
        "directory.title": "Kommuner i føderationen",
        "directory.lead": (
            "Alle 98 kommuner. Medlemmer stiller deres borgerservice om til hotlinen uden for åbningstid."
        ),
        "directory.filter": "Find kommune",
        "directory.filter_hint": "Skriv navn eller kommunekode",
        "directory.only_members": "Kun medlemmer",
        "directory.summary": "{members} medlemmer · {open} kommuner har åbent nu · {closed} er lukket",
        "directory.col.code": "Kode",
        "directory.col.name": "Kommune",
        "directory.col.region": "Region",
        "directory.col.member": "Medlem",
        "directory.col.status": "Borgerservice",
        "directory.updated": "Opdateret {time}",
        "member.yes": "Medlem",
        "member.no": "Ikke medlem",
        "status.open": "Åbent nu",
        "status.open_until": "Åbent til {time}",
        "status.closed": "Lukket",
        "status.opens": "Åbner {when}",
        "status.never": "Ingen kommende åbningstid",
        "when.today": "i dag kl. {time}",
        "when.tomorrow": "i morgen kl. {time}",
        "when.weekday": "{weekday} {date} kl. {time}",
        "tenant.numbers": "Telefonnumre",
        "tenant.hours": "Åbningstider",
        "tenant.closures": "Lukkedage de næste 60 dage",
        "tenant.no_closures": "Ingen lukkedage de næste 60 dage.",
        "tenant.whole_day": "hele dagen",
        "tenant.from": "fra kl. {time}",
        "tenant.departments": "Afdelinger",
        "tenant.topics": "Emner",
        "tenant.own_hours": "Egne åbningstider",
        "tenant.letterhead": "Brevpapir og afsender",
        "tenant.sender": "Afsender",
        "tenant.reply_to": "Svar til",
        "tenant.retention": "Kontaktoplysninger slettes efter {days} dage",
        "tenant.languages": "Sprog",
        "tenant.demo": "Demodata: kontaktoplysningerne er opdigtede og når ingen rigtig kommune.",
        "tenant.population": "Indbyggere",
        "tenant.back": "Tilbage til alle kommuner",
        "tenant.closed_day": "Lukket",
        "error.not_found": "Siden findes ikke",
        "error.title": "Der skete en fejl",
        "weekday.0": "mandag",
        "weekday.1": "tirsdag",
        "weekday.2": "onsdag",
        "weekday.3": "torsdag",
        "weekday.4": "fredag",
        "weekday.5": "lørdag",
        "weekday.6": "søndag",
    },
    "en": {
        "app.name": "The Joint Municipal Evening Hotline",
        "app.tagline": "Shared evening and weekend hotline for the kommuner's citizen services",
        "nav.skip": "Skip to content",
        "nav.directory": "Kommuner",
        "nav.api": "API",
        "nav.language": "Dansk",
        "nav.language_code": "da",
        "directory.title": "Kommuner in the federation",
        "directory.lead": (
            "All 98 kommuner. Members forward their citizen service to the hotline outside opening hours."
        ),
        "directory.filter": "Find a kommune",
        "directory.filter_hint": "Type a name or kommune code",
        "directory.only_members": "Members only",
        "directory.summary": "{members} members · {open} kommuner are open now · {closed} are closed",
        "directory.col.code": "Code",
        "directory.col.name": "Kommune",
        "directory.col.region": "Region",
        "directory.col.member": "Member",
        "directory.col.status": "Citizen service",
        "directory.updated": "Updated {time}",
        "member.yes": "Member",
        "member.no": "Not a member",
        "status.open": "Open now",
        "status.open_until": "Open until {time}",
        "status.closed": "Closed",
        "status.opens": "Opens {when}",
        "status.never": "No coming opening hours",
        "when.today": "today at {time}",
        "when.tomorrow": "tomorrow at {time}",
        "when.weekday": "{weekday} {date} at {time}",
        "tenant.numbers": "Phone numbers",
        "tenant.hours": "Opening hours",
        "tenant.closures": "Closing days in the next 60 days",
        "tenant.no_closures": "No closing days in the next 60 days.",
        "tenant.whole_day": "all day",
        "tenant.from": "from {time}",
        "tenant.departments": "Departments",
        "tenant.topics": "Topics",
        "tenant.own_hours": "Own opening hours",
        "tenant.letterhead": "Letterhead and sender",
        "tenant.sender": "Sender",
        "tenant.reply_to": "Reply to",
        "tenant.retention": "Contact data is deleted after {days} days",
        "tenant.languages": "Languages",
        "tenant.demo": "Demo data: the contact details are made up and reach no real kommune.",
        "tenant.population": "Population",
        "tenant.back": "Back to all kommuner",
        "tenant.closed_day": "Closed",
        "error.not_found": "Page not found",
        "error.title": "Something went wrong",
        "weekday.0": "Monday",
        "weekday.1": "Tuesday",
        "weekday.2": "Wednesday",
        "weekday.3": "Thursday",
        "weekday.4": "Friday",
        "weekday.5": "Saturday",
        "weekday.6": "Sunday",
    },
}


def pick_language(query: str | None, cookie: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def translate(language: str, key: str, **values: object) -> str:
    text = MESSAGES.get(language, MESSAGES[DEFAULT_LANGUAGE]).get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key, key)
    return text.format(**values) if values else text


def format_when(language: str, moment: dt.datetime, now: dt.datetime) -> str:
    """ "i dag kl. 10:00", "i morgen kl. 10:00", "mandag 30.11. kl. 10:00", in ``moment``'s own time zone."""
    local_now = now.astimezone(moment.tzinfo)
    time = moment.strftime("%H:%M")
    days = (moment.date() - local_now.date()).days
    if days == 0:
        return translate(language, "when.today", time=time)
    if days == 1:
        return translate(language, "when.tomorrow", time=time)
    weekday = translate(language, f"weekday.{moment.weekday()}")
    date = f"{moment.day}.{moment.month}." if language == "da" else moment.strftime("%-d %b")
    return translate(language, "when.weekday", weekday=weekday, date=date, time=time)
