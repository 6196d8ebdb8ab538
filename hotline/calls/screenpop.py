"""The screen-pop: everything an agent needs the moment a call is offered, as one HTML fragment.

It is rendered by the process that holds the agent's live connection, from memory only: the kommune from the
routing index, its rules and the surge banner from the knowledge replica (never the database), the most asked
topics from a per-process cache. The kommune's part (rules, departments, opening status) is the same for every
call to that kommune, so it is rendered once per (kommune, language, replica revision, minute) and reused; only
the call's own header is rendered per call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Final

from jinja2 import Environment
from markupsafe import Markup

from hotline.calls.service import Offer
from hotline.tenancy.service import Tenant
from kb_sync.replica import Replica
from kb_sync.subjects import TopicRules

TOP_TOPICS: Final = 4
_PANEL_CACHE_SIZE: Final = 2000


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
    _panels: dict[tuple[str, str, int, int], Markup] = field(default_factory=dict)

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

    def render(self, offer: Offer, tenant: Tenant | None, now: dt.datetime, lang: str) -> str:
        context = {
            "request": _request_for(lang),
            "now": now,
            "offer": offer,
            "tenant": tenant,
            "waited": max(int((now - offer.offered_at).total_seconds()), 0),
            "panel": self.panel(tenant, now, lang),
            "surge": Markup(self.surge(lang, "pop-surge")),  # noqa: S704  (rendered by our own autoescaping template)
        }
        return self.environment.get_template("calls/_screen_pop.html").render(context)
