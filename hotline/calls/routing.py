"""After-hours routing: the dialled number tells which kommune the caller belongs to, and that kommune's status
decides how the call is served.

- a member kommune that is open right now: the call should not be here (``misrouted``): the agent sees its
  departments' numbers to send the caller back;
- a member kommune that is closed: the normal case;
- a kommune that is not a member: general guidance (``non_member``, counted apart);
- a number no kommune owns: general guidance (``unknown``).

The number index is held in memory and reloaded after a short time-to-live (or at once after :func:`invalidate`),
so a tenant apply reaches routing within seconds without a query per call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from typing import Final, Literal

from hotline.tenancy import service as tenancy
from hotline.tenancy.service import Tenant

INDEX_TTL: Final = 15.0  # seconds

Mode = Literal["member", "non_member", "unknown"]


@dataclass(frozen=True)
class Route:
    mode: Mode
    kommune_code: str
    misrouted: bool


class TenantIndex:
    """Every kommune by code and by dialled number, reloaded after :data:`INDEX_TTL` seconds."""

    def __init__(self, ttl: float = INDEX_TTL) -> None:
        self.ttl = ttl
        self._by_code: dict[str, Tenant] = {}
        self._by_number: dict[str, str] = {}
        self._loaded_at = -1.0e9
        self._lock = asyncio.Lock()
        self.generation = 0

    def invalidate(self) -> None:
        self._loaded_at = -1.0e9

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at < self.ttl:
            return
        async with self._lock:
            if time.monotonic() - self._loaded_at < self.ttl:
                return
            tenants = await tenancy.load_tenants()
            self._by_code = {t.code: t for t in tenants}
            self._by_number = {n.number: t.code for t in tenants for n in t.definition.numbers}
            self._loaded_at = time.monotonic()
            self.generation += 1

    async def tenant(self, code: str) -> Tenant | None:
        await self._fresh()
        return self._by_code.get(code)

    async def route(self, dialled_number: str, now: dt.datetime) -> Route:
        await self._fresh()
        code = self._by_number.get(dialled_number)
        tenant = self._by_code.get(code) if code else None
        if tenant is None:
            return Route(mode="unknown", kommune_code="", misrouted=False)
        if not tenant.definition.member:
            return Route(mode="non_member", kommune_code=tenant.code, misrouted=False)
        return Route(mode="member", kommune_code=tenant.code, misrouted=tenant.calendar.is_open(now))
