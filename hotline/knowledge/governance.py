"""What the coordinator (and a kommune's admins) need to keep the knowledge bank honest, computed from this
process's replica, never from the database:

* **Divergence** of one topic: for each member kommune, what its agents are told, side by side. Its status is
  ``not_offered`` (the kommune marked the topic not offered here), ``replaced`` (its own articles replace the
  general ones), ``added`` (its own articles come before the general ones), ``general`` (no article of its own:
  agents see only the general rule) or ``none`` (nothing at all: agents have no answer).
* **Stale** articles: review-by date before today (in the federation's time zone), per scope.
* **Missing** topics of a kommune, defined as the topics of the federation's taxonomy on which the kommune has no
  article in force, in two groups: ``uncovered`` (there is no general article either, so an agent has nothing to
  say: the urgent kind) and ``general_only`` (agents fall back on the general rule, which may not fit the
  kommune). Surge banners are not a topic.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from hotline.knowledge.service import is_active
from kb_sync.subjects import FEDERATION, GENERAL, SURGE_TOPIC, ArticleRecord

ZONE = ZoneInfo("Europe/Copenhagen")
Status = Literal["not_offered", "replaced", "added", "general", "none"]


class ArticleSource(Protocol):
    """What governance reads from a replica (:class:`kb_sync.replica.Replica`)."""

    def records(self) -> list[ArticleRecord]: ...

    def topic_articles(self, scope: str, topic: str) -> tuple[ArticleRecord, ...]: ...

    def topics_of(self, scope: str) -> frozenset[str]: ...


@dataclass(frozen=True)
class DivergenceRow:
    code: str
    name: str
    status: Status
    articles: tuple[ArticleRecord, ...]
    """The kommune's own articles in force on the topic."""


@dataclass(frozen=True)
class Divergence:
    topic: str
    general: tuple[ArticleRecord, ...]
    rows: tuple[DivergenceRow, ...]

    def count(self, status: Status) -> int:
        return sum(1 for row in self.rows if row.status == status)


@dataclass(frozen=True)
class Coverage:
    code: str
    name: str
    uncovered: tuple[str, ...]
    general_only: tuple[str, ...]
    stale: int


def today(now: dt.datetime) -> dt.date:
    return now.astimezone(ZONE).date()


def _active(records: Iterable[ArticleRecord], now: dt.datetime) -> tuple[ArticleRecord, ...]:
    return tuple(sorted((r for r in records if is_active(r, now)), key=lambda r: (r.title.casefold(), r.id)))


def status_of(local: tuple[ArticleRecord, ...], has_general: bool) -> Status:
    if any(record.mode == "not_offered" for record in local):
        return "not_offered"
    if any(record.mode == "replace" for record in local):
        return "replaced"
    if local:
        return "added"
    return "general" if has_general else "none"


def divergence(source: ArticleSource, topic: str, kommuner: Iterable[tuple[str, str]], now: dt.datetime) -> Divergence:
    """``kommuner`` are (code, name) of the kommuner to compare, in the order to show them."""
    general = _active(source.topic_articles(GENERAL, topic), now)
    rows = []
    for code, name in kommuner:
        local = _active(source.topic_articles(code, topic), now)
        rows.append(DivergenceRow(code=code, name=name, status=status_of(local, bool(general)), articles=local))
    return Divergence(topic=topic, general=general, rows=tuple(rows))


def stale(source: ArticleSource, now: dt.datetime, scope: str | None = None) -> dict[str, list[ArticleRecord]]:
    """Articles past their review-by date, by scope (only ``scope``'s when given), oldest review date first.
    Surge banners are left out: they end by themselves."""
    day = today(now)
    found: dict[str, list[ArticleRecord]] = defaultdict(list)
    for record in source.records():
        if record.scope == FEDERATION or (scope is not None and record.scope != scope):
            continue
        if record.review_by is not None and record.review_by < day:
            found[record.scope].append(record)
    for records in found.values():
        records.sort(key=lambda r: (r.review_by or day, r.title.casefold()))
    return dict(found)


def coverage(
    source: ArticleSource, kommuner: Iterable[tuple[str, str]], topics: Iterable[str], now: dt.datetime
) -> list[Coverage]:
    """Missing topics (see the module docstring) and the number of stale articles, per kommune."""
    wanted = sorted(topic for topic in set(topics) if topic != SURGE_TOPIC)
    with_general = {topic for topic in wanted if _active(source.topic_articles(GENERAL, topic), now)}
    stale_by_scope = stale(source, now)
    result = []
    for code, name in kommuner:
        own = source.topics_of(code)
        covered = {topic for topic in own if _active(source.topic_articles(code, topic), now)}
        missing = [topic for topic in wanted if topic not in covered]
        result.append(
            Coverage(
                code=code,
                name=name,
                uncovered=tuple(topic for topic in missing if topic not in with_general),
                general_only=tuple(topic for topic in missing if topic in with_general),
                stale=len(stale_by_scope.get(code, ())),
            )
        )
    return result
