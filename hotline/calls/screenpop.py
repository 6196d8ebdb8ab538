"""The screen-pop: everything an agent needs the moment a call is offered, as one HTML fragment.

It is rendered by the process that holds the agent's live connection, from memory only: the kommune from the
routing index, its rules and the surge banner from the knowledge replica (never the database), the most asked
topics and the taxonomy's topic names from a per-process cache (loaded at start and refreshed with the topic
counts, see :mod:`hotline.calls.runtime`). The kommune's part (rules, departments, opening status) is the same for
every call to that kommune, so it is rendered once per (kommune, language, replica revision, minute) and reused;
only the call's own header is rendered per call.

A call already answered (a console that reconnects mid-call) is rendered with the time it was answered instead
of the answer button.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

from jinja2 import Environment
from markupsafe import Markup

from hotline.calls.service import Offer
from hotline.tenancy.service import Tenant
from kb_sync.replica import Replica
from kb_sync.subjects import TopicRules

TOP_TOPICS: Final = 4
_PANEL_CACHE_SIZE: Final = 2000
CPH: Final = ZoneInfo("Europe/Copenhagen")


class TopicName(NamedTuple):
    """A topic of the shared taxonomy as people read it, in both page languages."""

    da: str
    en: str


async def load_topics() -> dict[str, TopicName]:
    """The taxonomy (code -> names), read once per refresh: never per screen-pop."""
    from hotline.tenancy import repository as tenancy_repository  # the taxonomy's only query

    return {row["code"]: TopicName(row["name_da"], row["name_en"]) for row in await tenancy_repository.topics()}


def _request_for(lang: str) -> Any:
    # The templates' t() reads the language from ``request.state.lang``; a screen-pop is rendered outside a request.
    return SimpleNamespace(state=SimpleNamespace(lang=lang))


@dataclass
class ScreenPopRenderer:
    environment: Environment
    replica: Replica | None
    topic_order: list[str] = field(default_factory=list)
    """The taxonomy order: the fallback when a kommune has no recent calls with topics."""
    topic_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """kommune code -> topic -> calls in the recent past (refreshed by the runtime)."""
    topic_names: dict[str, TopicName] = field(default_factory=dict)
    """topic code -> its names (refreshed by the runtime with the counts)."""
    _panels: dict[tuple[str, str, int, int], Markup] = field(default_factory=dict)

    def set_topics(self, topics: dict[str, TopicName]) -> None:
        """Take a fresh copy of the taxonomy; cached panels are dropped only when a name changed."""
        self.topic_order = sorted(topics)
        if topics != self.topic_names:
            self.topic_names = dict(topics)
            self._panels.clear()

    def topic_name(self, code: str, lang: str) -> str:
        """The topic's name in ``lang`` (the code itself for a topic the taxonomy does not know)."""
        names = self.topic_names.get(code)
        if names is None:
            return code
        return (names.en if lang == "en" else names.da) or names.da or code

    def topic_choices(self, lang: str) -> list[tuple[str, str]]:
        """(code, name) of every topic, in the order people read them: alphabetical by name."""
        return sorted(((code, self.topic_name(code, lang)) for code in self.topic_names), key=lambda c: c[1].casefold())

    def most_asked(self, kommune: str, rules: tuple[TopicRules, ...]) -> list[TopicRules]:
        counts = self.topic_counts.get(kommune, {})
        order = {topic: index for index, topic in enumerate(self.topic_order)}
        offered = [r for r in rules if r.articles]
        ranked = sorted(offered, key=lambda r: (-counts.get(r.topic, 0), order.get(r.topic, 10_000), r.topic))
        return ranked[:TOP_TOPICS]

    def panel(self, tenant: Tenant | None, now: dt.datetime, lang: str) -> Markup:
        replica = self.replica if self.replica is not None and self.replica.ready else None
        revision = replica.revision if replica is not None else -1
        code = tenant.code if tenant is not None else ""
        key = (code, lang, revision, int(now.timestamp() // 60))
        cached = self._panels.get(key)
        if cached is not None:
            return cached
        rules = replica.rules(code) if replica is not None and code else None
        open_now = tenant.calendar.is_open(now) if tenant is not None else False
        context = {
            "request": _request_for(lang),
            "now": now,
            "tenant": tenant,
            "member": tenant is not None and tenant.definition.member,
            "open_now": open_now,
            "next_opening": tenant.calendar.next_opening(now) if tenant is not None and not open_now else None,
            "closes_at": tenant.calendar.next_closing(now) if tenant is not None and open_now else None,
            "departments": [(d, d.calendar.is_open(now)) for d in tenant.departments] if tenant is not None else [],
            "topics": self.most_asked(code, rules.topics) if rules is not None else [],
            "topic_name": lambda topic: self.topic_name(topic, lang),
            "replica_ready": replica is not None,
        }
        html = Markup(self.environment.get_template("calls/_kommune_panel.html").render(context))  # noqa: S704
        if len(self._panels) > _PANEL_CACHE_SIZE:
            self._panels.clear()
        self._panels[key] = html
        return html

    def surge(self, lang: str, element_id: str = "surge") -> str:
        replica = self.replica if self.replica is not None and self.replica.ready else None
        banners = replica.surge() if replica is not None else ()
        return self.environment.get_template("calls/_surge.html").render(
            {"request": _request_for(lang), "surge": banners, "surge_id": element_id}
        )

    def render(
        self,
        offer: Offer,
        tenant: Tenant | None,
        now: dt.datetime,
        lang: str,
        *,
        answered_at: dt.datetime | None = None,
    ) -> str:
        """The screen-pop of ``offer``; ``answered_at`` (a call already in hand) replaces the answer button by
        the time it was answered and how long the call has lasted."""
        context = {
            "request": _request_for(lang),
            "now": now,
            "offer": offer,
            "tenant": tenant,
            "waited": max(int(((answered_at or now) - offer.offered_at).total_seconds()), 0),
            "answered_hhmm": answered_at.astimezone(CPH).strftime("%H:%M") if answered_at is not None else "",
            "talked": max(int((now - answered_at).total_seconds()), 0) if answered_at is not None else 0,
            "panel": self.panel(tenant, now, lang),
            "surge": Markup(self.surge(lang, "pop-surge")),  # noqa: S704  (rendered by our own autoescaping template)
        }
        return self.environment.get_template("calls/_screen_pop.html").render(context)
