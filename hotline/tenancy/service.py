"""The rules of the tenancy area: applying kommune definitions, reading them back as calendars, and answering
"is this kommune open?" for the directory, the API, routing and hand-offs.

No HTTP and no SQL here: queries live in :mod:`hotline.tenancy.repository`, and the caller owns the transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from hotline.tenancy import repository
from hotline.tenancy.files import TenantFilesError, TenantProblem, TenantSet
from hotline.tenancy.opening_hours import Closure, OpeningCalendar, _parse_time
from hotline.tenancy.schemas import (
    ClosureEntry,
    Closures,
    DepartmentFile,
    DepartmentOut,
    DialledNumber,
    FederationFile,
    KommuneFile,
    Letterhead,
    SenderIdentity,
    TenantDetail,
    TenantSummary,
    TopicFile,
    WeeklyHours,
)

_json = msgspec.json.Encoder(order="deterministic")


# -- the domain view of a kommune ----------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentInfo:
    key: str
    name: str
    topics: tuple[str, ...]
    phone: str
    email: str
    calendar: OpeningCalendar
    own_hours: WeeklyHours | None


@dataclass(frozen=True)
class Tenant:
    """A kommune as the rest of the service sees it: settings plus ready-made opening calendars."""

    id: int
    definition: KommuneFile
    calendar: OpeningCalendar
    departments: tuple[DepartmentInfo, ...] = field(default=())
    has_logo: bool = False
    digest: str = ""
    """The configuration digest it was loaded at (see :func:`tenant_digests`)."""

    @property
    def code(self) -> str:
        return self.definition.code

    @property
    def name(self) -> str:
        return self.definition.name

    def department_for_topic(self, topic: str) -> DepartmentInfo | None:
        """The department that owns ``topic``: where a hand-off on it goes."""
        return next((d for d in self.departments if topic in d.topics), None)


def _closures(closures: Closures) -> tuple[Closure, ...]:
    return tuple(
        Closure(
            date=entry.date,
            reason=entry.reason,
            start=_parse_time(entry.from_) if entry.from_ else None,
            end=_parse_time(entry.to, allow_24=True) if entry.to else None,
        )
        for entry in closures.dates
    )


def calendar_for(kommune: KommuneFile) -> OpeningCalendar:
    return OpeningCalendar.from_texts(
        kommune.opening_hours.as_mapping(),
        closures=_closures(kommune.closures),
        country=kommune.country,
        timezone=kommune.timezone,
        public_holidays=kommune.closures.public_holidays,
    )


def _definition_from_rows(
    row: dict[str, Any], departments: list[dict[str, Any]], numbers: list[dict[str, Any]]
) -> KommuneFile:
    def decoded(value: Any) -> Any:
        return msgspec.json.decode(value) if isinstance(value, str | bytes) else value

    return msgspec.convert(
        {
            "code": row["code"],
            "name": row["name"],
            "slug": row["slug"],
            "region_code": row["region_code"],
            "region_name": row["region_name"],
            "country": row["country"],
            "timezone": row["timezone"],
            "member": row["member"],
            "population": row["population"],
            "languages": decoded(row["languages"]),
            "retention_days": row["retention_days"],
            "demo": row["demo"],
            "numbers": [{"number": n["number"], "label": n["label"]} for n in numbers],
            "opening_hours": decoded(row["opening_hours"]),
            "closures": decoded(row["closures"]),
            "departments": [
                {
                    "key": d["key"],
                    "name": d["name"],
                    "topics": decoded(d["topics"]),
                    "phone": d["phone"],
                    "email": d["email"],
                    "opening_hours": decoded(d["opening_hours"]),
                }
                for d in departments
            ],
            "letterhead": decoded(row["letterhead"]),
            "sender": decoded(row["sender"]),
            "identity": decoded(row["identity"]),
        },
        KommuneFile,
    )


def _tenant(row: dict[str, Any], departments: list[dict[str, Any]], numbers: list[dict[str, Any]]) -> Tenant:
    definition = _definition_from_rows(row, departments, numbers)
    calendar = calendar_for(definition)
    return Tenant(
        id=row["id"],
        definition=definition,
        calendar=calendar,
        departments=tuple(
            DepartmentInfo(
                key=d.key,
                name=d.name,
                topics=tuple(d.topics),
                phone=d.phone,
                email=d.email,
                calendar=calendar.with_weekly(d.opening_hours.as_mapping()) if d.opening_hours else calendar,
                own_hours=d.opening_hours,
            )
            for d in definition.departments
        ),
        has_logo=bool(row["logo_media_type"]),
        digest=row["config_digest"],
    )


async def load_tenants(code: str | None = None) -> list[Tenant]:
    """All kommuner (or the one with ``code``) with their departments and numbers, in three queries."""
    rows = await repository.kommuner(code)
    ids = [row["id"] for row in rows]
    departments = await repository.departments(ids if code else None)
    numbers = await repository.numbers(ids if code else None)
    by_kommune: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {row["id"]: ([], []) for row in rows}
    for department in departments:
        if department["kommune"] in by_kommune:
            by_kommune[department["kommune"]][0].append(department)
    for number in numbers:
        if number["kommune"] in by_kommune:
            by_kommune[number["kommune"]][1].append(number)
    return [_tenant(row, *by_kommune[row["id"]]) for row in rows]


async def tenant_digests() -> dict[str, str]:
    """Each kommune's configuration digest (code -> digest): one cheap query that tells whether, and which, tenants
    changed since they were loaded. Only :func:`apply_definitions` writes tenants, and it always sets the digest."""
    return await repository.kommune_digests()


# -- retention of personal data ------------------------------------------------------------------------

NO_KOMMUNE_RETENTION_DAYS: Final = 30
"""Retention of personal data on a record that belongs to no configured kommune: a call to a number no kommune
owns (kommune code ``""``), an event of a call that never arrived, or a record of a kommune since removed from the
federation. 30 days, the shortest retention the demo kommuner choose: such a caller got general guidance only and
no kommune follows the contact up, so nothing argues for keeping it longer, and a number with no owner must not be
kept for ever."""


@dataclass(frozen=True)
class RetentionCutoffs:
    """The instants before which a record's personal data is past its kommune's retention, grouped by retention so
    that a sweep's query needs one condition per distinct ``retention_days`` (a handful), not one per kommune.

    ``groups`` pairs a cutoff with the kommuner that share it; every other kommune code (``""`` included) uses
    ``other`` (:data:`NO_KOMMUNE_RETENTION_DAYS`)."""

    groups: tuple[tuple[dt.datetime, tuple[str, ...]], ...]
    other: dt.datetime

    @property
    def known(self) -> tuple[str, ...]:
        return tuple(code for _, codes in self.groups for code in codes)


@dataclass(frozen=True)
class Retention:
    """How many days each kommune keeps its citizens' personal data (``retention_days`` of its definition)."""

    days: dict[str, int]

    def cutoffs(self, now: dt.datetime) -> RetentionCutoffs:
        """A record of a kommune of ``groups`` dated before that group's cutoff, or of any other code dated before
        ``other``, is past retention at ``now``."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        by_days: dict[int, list[str]] = {}
        for code, days in sorted(self.days.items()):
            by_days.setdefault(days, []).append(code)
        moment = now.astimezone(dt.UTC)
        return RetentionCutoffs(
            groups=tuple((moment - dt.timedelta(days=days), tuple(codes)) for days, codes in sorted(by_days.items())),
            other=moment - dt.timedelta(days=NO_KOMMUNE_RETENTION_DAYS),
        )


async def retention() -> Retention:
    """Every kommune's ``retention_days``, in one query (the retention sweeps of calls, hand-offs and letters)."""
    return Retention(days=await repository.retention_days())


async def get_tenant(code: str) -> Tenant | None:
    found = await load_tenants(code)
    return found[0] if found else None


# -- what the directory and the API show -----------------------------------------------------------------


def summary(tenant: Tenant, now: dt.datetime) -> TenantSummary:
    calendar = tenant.calendar
    open_now = calendar.is_open(now)
    return TenantSummary(
        code=tenant.code,
        name=tenant.name,
        region_name=tenant.definition.region_name,
        member=tenant.definition.member,
        open_now=open_now,
        next_opening=None if open_now else calendar.next_opening(now),
        closes_at=calendar.next_closing(now) if open_now else None,
    )


def detail(tenant: Tenant, now: dt.datetime, *, base_url: str = "") -> TenantDetail:
    definition, calendar = tenant.definition, tenant.calendar
    open_now = calendar.is_open(now)
    local_today = calendar.local(now).date()
    upcoming = [
        ClosureEntry(
            date=c.date,
            reason=c.reason,
            from_=c.start.strftime("%H:%M") if c.start else None,
            to=c.end.strftime("%H:%M") if c.end and c.end != dt.time.max else None,
        )
        for c in calendar.upcoming_closures(local_today, 60)
    ]
    return TenantDetail(
        code=definition.code,
        name=definition.name,
        slug=definition.slug,
        region_code=definition.region_code,
        region_name=definition.region_name,
        country=definition.country,
        member=definition.member,
        population=definition.population,
        languages=list(definition.languages),
        retention_days=definition.retention_days,
        numbers=list(definition.numbers),
        open_now=open_now,
        next_opening=None if open_now else calendar.next_opening(now),
        closes_at=calendar.next_closing(now) if open_now else None,
        opening_hours=calendar.week_texts(),
        upcoming_closures=upcoming,
        departments=[
            DepartmentOut(
                key=d.key,
                name=d.name,
                topics=list(d.topics),
                phone=d.phone,
                email=d.email,
                open_now=d.calendar.is_open(now),
                next_opening=None if d.calendar.is_open(now) else d.calendar.next_opening(now),
                opening_hours=d.calendar.week_texts(),
            )
            for d in tenant.departments
        ],
        letterhead=definition.letterhead,
        sender=definition.sender,
        logo_url=f"{base_url}/tenants/{definition.code}/logo" if tenant.has_logo else "",
    )


def filter_directory(rows: list[TenantSummary], query: str, *, members_only: bool) -> list[TenantSummary]:
    """Rows whose name, code or region contains ``query`` (case-insensitive)."""
    needle = query.strip().casefold()
    return [
        row
        for row in rows
        if (not members_only or row.member)
        and (
            not needle
            or needle in row.name.casefold()
            or row.code.startswith(needle)
            or needle in row.region_name.casefold()
        )
    ]


async def logo(code: str) -> tuple[bytes, str] | None:
    """The kommune's logo and its media type, if it has one."""
    return await repository.logo(code)


# -- applying and exporting definitions ------------------------------------------------------------------


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"


def digest(kommune: KommuneFile, logo: bytes | None) -> str:
    """A fingerprint of a definition, so applying the same files twice changes nothing."""
    hasher = hashlib.sha256(_json.encode(kommune))
    hasher.update(logo or b"")
    return hasher.hexdigest()


@dataclass(frozen=True)
class FederationInfo:
    """The federation as ``tenants/federation.toml`` names it: who the hotline speaks for when it writes to staff
    (the hand-offs' escalation notices), and the coordinator's address (``""`` when none is set)."""

    name: str
    coordinator_email: str


async def federation() -> FederationInfo | None:
    """The applied federation definition, or None before the first ``hotline tenants apply``."""
    row = await repository.federation_row()
    if row is None:
        return None
    return FederationInfo(name=row["name"], coordinator_email=row["coordinator_email"].strip())


async def known_topic_codes() -> set[str]:
    return {row["code"] for row in await repository.topics()}


async def check_against_database(tenant_set: TenantSet) -> None:
    """Problems only the live configuration reveals: a dialled number owned by a kommune outside this set,
    or a department topic unknown to the stored taxonomy when the set brings none."""
    problems: list[TenantProblem] = []
    codes = {t.kommune.code for t in tenant_set.tenants}
    wanted = {n.number: t for t in tenant_set.tenants for n in t.kommune.numbers}
    for number, owner in (await repository.number_owners(wanted)).items():
        if owner not in codes:
            tenant = wanted[number]
            index = [n.number for n in tenant.kommune.numbers].index(number)
            problems.append(
                TenantProblem(
                    tenant.source, f"numbers[{index}].number", f"{number} is already owned by kommune {owner}"
                )
            )
    if tenant_set.federation is None:
        topics = await known_topic_codes()
        for tenant in tenant_set.tenants:
            for d_index, department in enumerate(tenant.kommune.departments):
                for t_index, topic in enumerate(department.topics):
                    if topic not in topics:
                        problems.append(
                            TenantProblem(
                                tenant.source, f"departments[{d_index}].topics[{t_index}]", f"unknown topic {topic!r}"
                            )
                        )
    if problems:
        raise TenantFilesError(problems)


async def apply_definitions(tenant_set: TenantSet) -> ApplyReport:
    """Upsert the federation, its topics and every kommune of ``tenant_set``. Idempotent: a kommune whose
    definition is unchanged is not touched. Call inside a transaction: on any error nothing is applied."""
    await check_against_database(tenant_set)
    if tenant_set.federation is not None:
        federation = tenant_set.federation
        await repository.save_federation(federation.name, federation.name_en, federation.coordinator_email)
        await repository.upsert_topics((t.code, t.name_da, t.name_en) for t in federation.topics)

    report = ApplyReport()
    stored = await repository.kommune_digests()
    changed = []
    for tenant in tenant_set.tenants:
        code = tenant.kommune.code
        fingerprint = digest(tenant.kommune, tenant.logo.content if tenant.logo else None)
        if stored.get(code) == fingerprint:
            report.unchanged.append(code)
            continue
        (report.updated if code in stored else report.created).append(code)
        changed.append((tenant, fingerprint))

    # Write every changed kommune first and move numbers only after all old ones are released, so a number can
    # change owner between two kommuner of the same set.
    ids: dict[str, int] = {}
    for tenant, fingerprint in changed:
        ids[tenant.kommune.code] = await repository.save_kommune(_row_values(tenant.kommune, tenant.logo, fingerprint))
    await repository.delete_numbers_of(list(ids.values()))
    for tenant, _ in changed:
        kommune = tenant.kommune
        kommune_id = ids[kommune.code]
        await repository.insert_numbers(kommune_id, ((n.number, n.label) for n in kommune.numbers))
        await repository.replace_departments(kommune_id, [_department_values(d) for d in kommune.departments])
    return report


def _row_values(kommune: KommuneFile, logo: Any, fingerprint: str) -> dict[str, Any]:
    builtins = msgspec.to_builtins
    return {
        "code": kommune.code,
        "name": kommune.name,
        "slug": kommune.slug,
        "region_code": kommune.region_code,
        "region_name": kommune.region_name,
        "country": kommune.country,
        "timezone": kommune.timezone,
        "member": kommune.member,
        "population": kommune.population,
        "retention_days": kommune.retention_days,
        "demo": kommune.demo,
        "languages": _json.encode(list(kommune.languages)).decode(),
        "opening_hours": _json.encode(kommune.opening_hours).decode(),
        "closures": _json.encode(builtins(kommune.closures)).decode(),
        "letterhead": _json.encode(kommune.letterhead).decode() if kommune.letterhead else None,
        "sender": _json.encode(kommune.sender).decode() if kommune.sender else None,
        "identity": _json.encode(kommune.identity).decode() if kommune.identity else None,
        "logo": logo.content if logo else None,
        "logo_media_type": logo.media_type if logo else "",
        "config_digest": fingerprint,
    }


def _department_values(department: DepartmentFile) -> dict[str, Any]:
    return {
        "key": department.key,
        "name": department.name,
        "topics": _json.encode(list(department.topics)).decode(),
        "phone": department.phone,
        "email": department.email,
        "opening_hours": _json.encode(department.opening_hours).decode() if department.opening_hours else None,
    }


def _without_none(value: Any) -> Any:
    """TOML has no null: an absent key is how a file says "not set"."""
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


async def export_definitions(target: Path) -> int:
    """Write the live configuration as a tenants folder that ``apply`` takes back unchanged; returns the count."""
    files: dict[Path, bytes] = {}
    federation = await repository.federation_row()
    topics = await repository.topics()
    if federation is not None:
        document = FederationFile(
            name=federation["name"],
            name_en=federation["name_en"],
            coordinator_email=federation["coordinator_email"],
            topics=[TopicFile(code=t["code"], name_da=t["name_da"], name_en=t["name_en"]) for t in topics],
        )
        files[target / "federation.toml"] = msgspec.toml.encode(document)
    logos = await repository.logos()
    tenants = await load_tenants()
    header = b"# Exported by `hotline tenants export`: the live configuration of this kommune.\n"
    for tenant in tenants:
        definition = tenant.definition
        folder = target / f"{definition.code}-{definition.slug}"
        logo = logos.get(definition.code)
        if logo is not None and definition.letterhead is not None:
            files[folder / definition.letterhead.logo] = logo[0]
        document_bytes = msgspec.toml.encode(_without_none(msgspec.to_builtins(definition, builtin_types=(dt.date,))))
        files[folder / "kommune.toml"] = header + document_bytes
    await asyncio.to_thread(_write_files, files)
    return len(tenants)


def _write_files(files: dict[Path, bytes]) -> None:
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


__all__ = [
    "ApplyReport",
    "DepartmentInfo",
    "DialledNumber",
    "FederationInfo",
    "Letterhead",
    "SenderIdentity",
    "Tenant",
    "apply_definitions",
    "calendar_for",
    "detail",
    "export_definitions",
    "federation",
    "get_tenant",
    "load_tenants",
    "summary",
    "tenant_digests",
]
