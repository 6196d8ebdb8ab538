"""The authoring form of the knowledge bank: turning what an author typed into an :class:`ArticleDraft`, with a
message next to every field that is wrong, and the preview exactly as agents will see the article.

Form values are plain strings. Times are entered as local wall-clock time (``datetime-local``) and read in the
federation's time zone; links are one per line as ``Title | https://address``. Parsing collects every problem
it can see on its own (dates, numbers, choices); the rules that need the database (known topic, the kommune's
departments) are the service's, which reports the first one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

from hotline.knowledge import service
from hotline.knowledge.schemas import ArticleDraft
from kb_sync.subjects import FEDERATION, SURGE_TOPIC, ArticleRecord, Handling, Link, Mode

ZONE = ZoneInfo("Europe/Copenhagen")
MODES: tuple[Mode, ...] = ("add", "replace", "not_offered")
HANDLINGS: tuple[Handling, ...] = ("solve", "handoff")
FIELDS = (
    "topic", "title", "body", "mode", "links", "department", "handling", "valid_from", "valid_to", "review_by",
    "language", "version",
)  # fmt: skip
_LINK_FIELD = re.compile(r"^links\[\d+\]\.\w+$")


@dataclass
class ArticleForm:
    """What the form shows: the values as typed, and a message per field that is wrong."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    draft: ArticleDraft | None = None
    base_version: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.draft is not None

    def refuse(self, error: service.KnowledgeError) -> None:
        """Put a service refusal next to its field (``links[2].url`` belongs to the links box)."""
        name = "links" if _LINK_FIELD.match(error.field) else error.field
        if name not in FIELDS:
            name = "form"
        self.errors[name] = error.message


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)


def local_input(moment: dt.datetime | None) -> str:
    """A UTC instant as the value of a ``datetime-local`` input in the federation's time zone."""
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M") if moment else ""


def values_of(record: ArticleRecord) -> dict[str, str]:
    """The form's values for an existing article."""
    return {
        "topic": record.topic,
        "title": record.title,
        "body": record.body,
        "mode": record.mode,
        "links": "\n".join(f"{link.title} | {link.url}" for link in record.links),
        "department": record.department,
        "handling": record.handling,
        "valid_from": local_input(record.valid_from),
        "valid_to": local_input(record.valid_to),
        "review_by": record.review_by.isoformat() if record.review_by else "",
        "language": record.language,
        "version": str(record.version),
    }


def blank_values(scope: str) -> dict[str, str]:
    values = dict.fromkeys(FIELDS, "")
    values.update(mode="add", handling="solve", language="da")
    if scope == FEDERATION:
        values["topic"] = SURGE_TOPIC
    return values


def _moment(text: str, name: str, errors: dict[str, str]) -> dt.datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        errors[name] = "must be a date and time, e.g. 2026-12-01T08:00"
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZONE)
    return moment.astimezone(dt.UTC)


def _links(text: str, errors: dict[str, str]) -> tuple[Link, ...]:
    links = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        title, separator, url = line.rpartition("|")
        if not separator or not title.strip() or not url.strip():
            errors["links"] = f"line {number}: write 'Title | https://address'"
            return ()
        links.append(Link(title=title.strip(), url=url.strip()))
    return tuple(links)


def parse(scope: str, data: Mapping[str, Any]) -> ArticleForm:
    """Read the submitted form for an article of ``scope``. ``form.draft`` is set when every value could be read;
    whether the draft is a valid article is the service's to say (:func:`service.validate`)."""
    values = {name: _text(data, name) for name in FIELDS}
    values["body"] = values["body"].replace("\r\n", "\n")
    values["links"] = values["links"].replace("\r\n", "\n")
    if scope == FEDERATION:
        values["topic"] = SURGE_TOPIC
    form = ArticleForm(values=values)
    errors = form.errors
    if not values["topic"].strip():
        errors["topic"] = "choose a topic"
    mode = values["mode"] or "add"
    if mode not in MODES:
        errors["mode"] = f"must be one of {', '.join(MODES)}"
    handling = values["handling"] or "solve"
    if handling not in HANDLINGS:
        errors["handling"] = f"must be one of {', '.join(HANDLINGS)}"
    valid_from = _moment(values["valid_from"], "valid_from", errors)
    valid_to = _moment(values["valid_to"], "valid_to", errors)
    review_by = None
    if values["review_by"].strip():
        try:
            review_by = dt.date.fromisoformat(values["review_by"].strip())
        except ValueError:
            errors["review_by"] = "must be a date, e.g. 2027-03-31"
    links = _links(values["links"], errors)
    if values["version"].strip():
        try:
            form.base_version = int(values["version"])
        except ValueError:
            errors["version"] = "must be a whole number"
    if errors:
        return form
    form.draft = ArticleDraft(
        topic=values["topic"].strip(),
        title=values["title"],
        body=values["body"],
        mode=cast(Mode, mode),
        links=links,
        department=values["department"].strip(),
        handling=cast(Handling, handling),
        valid_from=valid_from,
        valid_to=valid_to,
        review_by=review_by,
        language=values["language"] or "da",
    )
    return form


def preview(scope: str, data: Mapping[str, Any], author: str, now: dt.datetime) -> ArticleRecord:
    """The article as an agent would see it, from whatever the form holds right now (even if it is not yet
    valid): rendered by the same function that renders every published article."""
    values = {name: _text(data, name) for name in FIELDS}
    ignored: dict[str, str] = {}
    mode = values["mode"] if values["mode"] in MODES else "add"
    handling = values["handling"] if values["handling"] in HANDLINGS else "solve"
    draft = ArticleDraft(
        topic=SURGE_TOPIC if scope == FEDERATION else values["topic"],
        title=values["title"].strip()[: service.MAX_TITLE],
        body=values["body"].replace("\r\n", "\n")[: service.MAX_BODY],
        mode=mode,
        links=tuple(link for link in _links(values["links"], ignored) if link.url.startswith(("https://", "http://"))),
        department=values["department"],
        handling=handling,
        language=values["language"] or "da",
    )
    return service.preview_record(scope, draft, author=author, now=now)
