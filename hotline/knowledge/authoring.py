"""The authoring form of the knowledge bank: turning what an author typed into an :class:`ArticleDraft`, with a
message next to every field that is wrong, and the preview exactly as agents will see the article.

Form values are plain strings. Times are entered as local wall-clock time (``datetime-local``) and read in the
federation's time zone; links are one per line as ``Title | https://address``. Parsing collects every problem
it can see on its own (dates, numbers, choices); the rules of an article (known topic, the kommune's departments,
lengths, the validity window) are the service's, which reports every one a save breaks. A form with both kinds of
problem shows both at once (:meth:`ArticleForm.check`), so an author never fixes one field only to meet the next.

Each problem is a :class:`service.Violation`: a message key and its values, put into words in the reader's
language by the page (texts in :mod:`hotline.knowledge.messages`).
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
_WINDOW_RULES = frozenset({"kb.error.ends_before_start", "kb.error.surge_window"})


@dataclass
class ArticleForm:
    """What the form shows: the values as typed, and the problems of each field that is wrong."""

    values: dict[str, str]
    errors: dict[str, list[service.Violation]] = field(default_factory=dict)
    draft: ArticleDraft | None = None
    base_version: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.draft is not None

    def add(self, violation: service.Violation) -> None:
        """Put a problem next to its field (``links[2].url`` belongs to the links box)."""
        name = "links" if _LINK_FIELD.match(violation.field) else violation.field
        if name not in FIELDS:
            name = "form"
        self.errors.setdefault(name, []).append(violation)

    def refuse(self, error: service.KnowledgeError) -> None:
        """Put every problem of a service refusal next to its field."""
        for violation in error.violations:
            self.add(violation)

    async def check(self, scope: str) -> None:
        """Add the service's problems with what could be read to the problems found while reading the form. A field
        that could not be read is left with its own message (its value was left out, so the service's opinion of
        it would mislead)."""
        if self.draft is None:
            return
        _, violations = await service.check(scope, self.draft)
        unread = set(self.errors)
        for violation in violations:
            name = "links" if _LINK_FIELD.match(violation.field) else violation.field
            if name in unread or (violation.key in _WINDOW_RULES and unread & {"valid_from", "valid_to"}):
                continue
            self.add(violation)


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


def _refuse(errors: dict[str, list[service.Violation]], name: str, key: str, **params: str | int) -> None:
    errors.setdefault(name, []).append(service.violation(name, key, **params))


def _moment(text: str, name: str, errors: dict[str, list[service.Violation]]) -> dt.datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        _refuse(errors, name, "kb.error.date_time")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZONE)
    return moment.astimezone(dt.UTC)


def _links(text: str, errors: dict[str, list[service.Violation]]) -> tuple[Link, ...]:
    links = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        title, separator, url = line.rpartition("|")
        if not separator or not title.strip() or not url.strip():
            _refuse(errors, "links", "kb.error.link_line", number=number)
            return ()
        links.append(Link(title=title.strip(), url=url.strip()))
    return tuple(links)


def parse(scope: str, data: Mapping[str, Any]) -> ArticleForm:
    """Read the submitted form for an article of ``scope``. ``form.draft`` holds whatever could be read (a value
    that could not be read is left at its default, with a message in ``form.errors``); whether the draft is a
    valid article is the service's to say (:func:`service.validate`, or :meth:`ArticleForm.check` when reading
    the form already found problems)."""
    values = {name: _text(data, name) for name in FIELDS}
    values["body"] = values["body"].replace("\r\n", "\n")
    values["links"] = values["links"].replace("\r\n", "\n")
    if scope == FEDERATION:
        values["topic"] = SURGE_TOPIC
    form = ArticleForm(values=values)
    errors = form.errors
    if not values["topic"].strip():
        _refuse(errors, "topic", "kb.error.choose_topic")
    mode = values["mode"] or "add"
    if mode not in MODES:
        _refuse(errors, "mode", "kb.error.choice", choices=", ".join(MODES))
        mode = "add"
    handling = values["handling"] or "solve"
    if handling not in HANDLINGS:
        _refuse(errors, "handling", "kb.error.choice", choices=", ".join(HANDLINGS))
        handling = "solve"
    valid_from = _moment(values["valid_from"], "valid_from", errors)
    valid_to = _moment(values["valid_to"], "valid_to", errors)
    review_by = None
    if values["review_by"].strip():
        try:
            review_by = dt.date.fromisoformat(values["review_by"].strip())
        except ValueError:
            _refuse(errors, "review_by", "kb.error.date")
    links = _links(values["links"], errors)
    if values["version"].strip():
        try:
            form.base_version = int(values["version"])
        except ValueError:
            _refuse(errors, "version", "kb.error.whole_number")
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
    ignored: dict[str, list[service.Violation]] = {}
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
