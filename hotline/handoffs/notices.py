"""The escalation notices' words: the e-mail to a department whose hand-offs went overdue, and the coordinator's
digest of a sweep's overdue hand-offs grouped by kommune. Danish, plain text and simple HTML.

Pure functions of :class:`OverdueItem`, which carries no personal data by construction: kommune, department,
topic name, the hand-off's reference, its created and due times and how long it is overdue. The citizen's contact,
the agent's description and the kommune's notes are shown only in the admin inbox, behind sign-in, which every
notice links to. Times are Copenhagen wall time.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from hotline.letters.rendering import date_text

CPH: Final = ZoneInfo("Europe/Copenhagen")
NO_PERSONAL_DATA: Final = (
    "Af hensyn til borgerens data står henvendelsens indhold og borgerens kontaktoplysninger kun i indbakken, "
    "ikke i denne e-mail."
)


@dataclass(frozen=True)
class OverdueItem:
    """One newly escalated hand-off as a notice may show it."""

    handoff_id: str
    kommune_code: str
    kommune_name: str
    department: str
    department_name: str
    topic_name: str
    created_at: dt.datetime
    due_at: dt.datetime


@dataclass(frozen=True)
class ComposedNotice:
    subject: str
    text: str
    html: str


def when(moment: dt.datetime) -> str:
    """``26. november 2026 kl. 09:00`` in Copenhagen time."""
    local = moment.astimezone(CPH)
    return f"{date_text('da', local.date())} kl. {local:%H:%M}"


def _count(value: int, one: str, many: str) -> str:
    return f"{value} {one if value == 1 else many}"


def overdue_for(due_at: dt.datetime, now: dt.datetime) -> str:
    """How long past due, in whole minutes: ``1 dag, 2 timer og 5 minutter``."""
    minutes = int((now - due_at).total_seconds() // 60)
    if minutes < 1:
        return "under 1 minut"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        text
        for value, text in (
            (days, _count(days, "dag", "dage")),
            (hours, _count(hours, "time", "timer")),
            (minutes, _count(minutes, "minut", "minutter")),
        )
        if value
    ]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} og {parts[-1]}"


def inbox_url(base_url: str, kommune_code: str, department: str = "") -> str:
    """The kommune admin's inbox, filtered on overdue hand-offs (and on ``department`` when given)."""
    query = {"overdue": "1", **({"department": department} if department else {})}
    return f"{base_url.rstrip('/')}/admin/{kommune_code}/handoffs?{urlencode(query)}"


def overdue_page_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/handoffs/overdue"


def _henvendelser(count: int) -> str:
    return _count(count, "henvendelse", "henvendelser")


def _text_item(item: OverdueItem, now: dt.datetime, *, with_department: bool) -> list[str]:
    lines = [f"Reference: {item.handoff_id}"]
    if with_department:
        lines.append(f"Afdeling: {item.department_name}")
    lines += [
        f"Emne: {item.topic_name}",
        f"Givet videre: {when(item.created_at)}",
        f"Frist: {when(item.due_at)}",
        f"Overskredet med: {overdue_for(item.due_at, now)}",
    ]
    return lines


_HEADINGS: Final = ("Reference", "Emne", "Givet videre", "Frist", "Overskredet med")


def _html_table(items: Sequence[OverdueItem], now: dt.datetime, *, with_department: bool) -> str:
    headings = ("Reference", "Afdeling", *_HEADINGS[1:]) if with_department else _HEADINGS
    head = "".join(f'<th scope="col" align="left">{html.escape(h)}</th>' for h in headings)
    rows = []
    for item in items:
        cells = [f"<code>{html.escape(item.handoff_id)}</code>"]
        if with_department:
            cells.append(html.escape(item.department_name))
        cells += [
            html.escape(item.topic_name),
            html.escape(when(item.created_at)),
            html.escape(when(item.due_at)),
            html.escape(overdue_for(item.due_at, now)),
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return (
        f'<table cellpadding="4" cellspacing="0" border="1"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _html_document(subject: str, body: str, sender: str) -> str:
    return (
        f'<!doctype html><html lang="da"><head><meta charset="utf-8"><title>{html.escape(subject)}</title></head>'
        f"<body>{body}<p>Med venlig hilsen<br>{html.escape(sender)}</p></body></html>"
    )


def _link(url: str, label: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'


def department_notice(
    items: Sequence[OverdueItem],
    *,
    kommune_name: str,
    department_name: str,
    sender: str,
    base_url: str,
    now: dt.datetime,
) -> ComposedNotice:
    """To one department: its hand-offs that this sweep escalated (``items``, all of that department)."""
    count = len(items)
    first = items[0]
    subject = f"Overskredet: {_henvendelser(count)} fra aftenhotlinen venter på {department_name}"
    intro = (
        f"{_henvendelser(count).capitalize()}, som aftenhotlinen har givet videre til {department_name}, "
        f"{kommune_name}, er ikke kvitteret for inden fristen. "
        f"{'De' if count > 1 else 'Den'} er nu eskaleret til kommunens administrator og aftenhotlinens koordinator."
    )
    url = inbox_url(base_url, first.kommune_code, first.department) if base_url else ""
    text = [f"Til {department_name}, {kommune_name}", "", intro, ""]
    for item in items:
        text += [*_text_item(item, now, with_department=False), ""]
    if url:
        text += ["Se og kvitter for henvendelserne i indbakken:", url, ""]
    text += [NO_PERSONAL_DATA, "", "Med venlig hilsen", sender]
    body = f"<p>Til {html.escape(department_name)}, {html.escape(kommune_name)}</p><p>{html.escape(intro)}</p>"
    body += _html_table(items, now, with_department=False)
    if url:
        body += f"<p>{_link(url, 'Se og kvitter for henvendelserne i indbakken')}</p>"
    body += f"<p>{html.escape(NO_PERSONAL_DATA)}</p>"
    return ComposedNotice(subject=subject, text="\n".join(text) + "\n", html=_html_document(subject, body, sender))


def coordinator_digest(items: Sequence[OverdueItem], *, sender: str, base_url: str, now: dt.datetime) -> ComposedNotice:
    """To the coordinator: every hand-off this sweep escalated, grouped by kommune (by name), oldest due first."""
    by_kommune: dict[str, list[OverdueItem]] = {}
    for item in sorted(items, key=lambda i: (i.kommune_name, i.kommune_code, i.due_at, i.handoff_id)):
        by_kommune.setdefault(item.kommune_code, []).append(item)
    kommuner = len(by_kommune)
    subject = f"Overskredet: {_henvendelser(len(items))} fra aftenhotlinen i {_count(kommuner, 'kommune', 'kommuner')}"
    intro = (
        f"{_henvendelser(len(items)).capitalize()} i {_count(kommuner, 'kommune', 'kommuner')} er ikke kvitteret "
        "for af den ansvarlige afdeling inden fristen og er nu eskaleret. Afdelingerne har fået besked."
    )
    text = ["Til aftenhotlinens koordinator", "", intro, ""]
    body = f"<p>Til aftenhotlinens koordinator</p><p>{html.escape(intro)}</p>"
    for code, group in by_kommune.items():
        heading = f"{group[0].kommune_name} ({code}): {_henvendelser(len(group))}"
        text += [heading, "-" * len(heading)]
        for item in group:
            text += [*_text_item(item, now, with_department=True), ""]
        body += f"<h2>{html.escape(heading)}</h2>" + _html_table(group, now, with_department=True)
        if base_url:
            url = inbox_url(base_url, code)
            text += [f"Kommunens indbakke: {url}", ""]
            body += f"<p>{_link(url, f'Kommunens indbakke ({group[0].kommune_name})')}</p>"
    if base_url:
        text += ["Alle overskredne henvendelser på tværs af kommunerne:", overdue_page_url(base_url), ""]
        body += f"<p>{_link(overdue_page_url(base_url), 'Alle overskredne henvendelser på tværs af kommunerne')}</p>"
    text += [NO_PERSONAL_DATA, "", "Med venlig hilsen", sender]
    body += f"<p>{html.escape(NO_PERSONAL_DATA)}</p>"
    return ComposedNotice(subject=subject, text="\n".join(text) + "\n", html=_html_document(subject, body, sender))
