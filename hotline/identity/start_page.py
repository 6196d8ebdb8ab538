"""What the signed-in person's start page (``/me``) shows for each role they hold: where to go next, and the few
figures that say whether something waits for them there.

- an agent: the console, their next shifts (federation area), the rota and the knowledge bank;
- a kommune admin, per kommune administered: the hand-off inbox with its open and overdue hand-offs (hand-offs
  area), the figures, the knowledge articles and the agents' open reports (knowledge area), the letterhead, the
  machine credentials and the audit log;
- an auditor: the kommune's audit log;
- the coordinator: wallboard, federation figures, rota, forecast, settlement, overdue hand-offs across the
  federation and knowledge management with the open reports.

Counts come from the owning areas' services, one query each; the links are the pages the role can open (the
same guards decide, so a link never leads to a refusal).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from hotline.federation import rota
from hotline.handoffs import service as handoffs
from hotline.identity.schemas import EVERY_KOMMUNE
from hotline.identity.service import Principal
from hotline.knowledge import reports
from hotline.tenancy import service as tenancy


@dataclass(frozen=True)
class KommuneDesk:
    """What a kommune admin (or auditor) finds for one kommune."""

    code: str
    name: str
    admin: bool
    auditor: bool
    agent: bool
    handoffs: handoffs.HandOffCounts | None = None
    open_reports: int = 0


@dataclass(frozen=True)
class StartPage:
    agent: bool
    coordinator: bool
    next_shifts: list[rota.HeldShift] = field(default_factory=list)
    desks: list[KommuneDesk] = field(default_factory=list)
    overdue_handoffs: int = 0
    open_reports: int = 0


async def start_page(principal: Principal, now: dt.datetime) -> StartPage:
    """The start page of ``principal`` (a signed-in person) at ``now``."""
    agent = principal.has_role(("agent",)) is not None
    coordinator = any(g.role == "coordinator" and g.kommune == EVERY_KOMMUNE for g in principal.grants)
    codes = sorted(
        {g.kommune for g in principal.grants if g.role in ("kommune_admin", "auditor") and g.kommune != EVERY_KOMMUNE}
    )
    desks = []
    for code in codes:
        tenant = await tenancy.get_tenant(code)
        admin = principal.has_role(("kommune_admin",), code) is not None
        desks.append(
            KommuneDesk(
                code=code,
                name=tenant.name if tenant is not None else code,
                admin=admin,
                auditor=principal.has_role(("auditor",), code) is not None,
                agent=agent,
                handoffs=await handoffs.counts(code, now) if admin else None,
                open_reports=await reports.open_count(code) if admin else 0,
            )
        )
    return StartPage(
        agent=agent,
        coordinator=coordinator,
        next_shifts=await rota.upcoming_shifts(principal.user_id, now=now) if agent else [],
        desks=desks,
        overdue_handoffs=(await handoffs.counts(None, now)).overdue if coordinator else 0,
        open_reports=await reports.open_count(None) if coordinator else 0,
    )
