"""Every query of the tenancy area. The caller owns the transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from piccolo.columns import Column

from hotline.tenancy.tables import Department, DialledNumber, Federation, Kommune, Topic


async def federation_row() -> dict[str, Any] | None:
    return await Federation.select().first().run()


async def save_federation(name: str, name_en: str, coordinator_email: str) -> None:
    existing = await Federation.select(Federation._meta.primary_key).first().run()
    values: dict[Column | str, Any] = {
        Federation.name: name,
        Federation.name_en: name_en,
        Federation.coordinator_email: coordinator_email,
    }
    if existing is None:
        await Federation.insert(Federation(name=name, name_en=name_en, coordinator_email=coordinator_email)).run()
    else:
        await Federation.update(values).where(Federation._meta.primary_key == existing["id"]).run()


async def topics() -> list[dict[str, Any]]:
    return await Topic.select().order_by(Topic.code).run()


async def upsert_topics(rows: Iterable[tuple[str, str, str]]) -> None:
    """Add or rename topics. Topics are never deleted here: articles and hand-offs may still refer to them."""
    existing = {row["code"]: row for row in await Topic.select().run()}
    for code, name_da, name_en in rows:
        row = existing.get(code)
        if row is None:
            await Topic.insert(Topic(code=code, name_da=name_da, name_en=name_en)).run()
        elif (row["name_da"], row["name_en"]) != (name_da, name_en):
            await Topic.update({Topic.name_da: name_da, Topic.name_en: name_en}).where(Topic.code == code).run()


async def retention_days() -> dict[str, int]:
    """Each kommune's ``retention_days`` (code -> days), in one query."""
    rows = await Kommune.select(Kommune.code, Kommune.retention_days).run()
    return {row["code"]: int(row["retention_days"]) for row in rows}


async def kommune_digests() -> dict[str, str]:
    rows = await Kommune.select(Kommune.code, Kommune.config_digest).run()
    return {row["code"]: row["config_digest"] for row in rows}


async def number_owners(numbers: Iterable[str]) -> dict[str, str]:
    """Which kommune (code) owns each of ``numbers`` today."""
    wanted = list(numbers)
    if not wanted:
        return {}
    rows = (
        await DialledNumber.select(DialledNumber.number, DialledNumber.kommune.code)
        .where(DialledNumber.number.is_in(wanted))
        .run()
    )
    return {row["number"]: row["kommune.code"] for row in rows}


async def save_kommune(values: dict[str, Any]) -> int:
    """Insert or update the kommune row with this code; returns its id."""
    existing = await Kommune.select(Kommune._meta.primary_key).where(Kommune.code == values["code"]).first().run()
    values = {**values, "updated_at": dt.datetime.now(dt.UTC)}
    if existing is None:
        rows = await Kommune.insert(Kommune(**values)).returning(Kommune._meta.primary_key).run()
        return int(rows[0]["id"])
    await (
        Kommune.update({getattr(Kommune, key): value for key, value in values.items()})
        .where(Kommune._meta.primary_key == existing["id"])
        .run()
    )
    return int(existing["id"])


async def delete_numbers_of(kommune_ids: list[int]) -> None:
    if kommune_ids:
        await DialledNumber.delete().where(DialledNumber.kommune.is_in(kommune_ids)).run()


async def insert_numbers(kommune_id: int, numbers: Iterable[tuple[str, str]]) -> None:
    rows = [DialledNumber(number=number, label=label, kommune=kommune_id) for number, label in numbers]
    if rows:
        await DialledNumber.insert(*rows).run()


async def replace_departments(kommune_id: int, departments: list[dict[str, Any]]) -> None:
    await Department.delete().where(Department.kommune == kommune_id).run()
    rows = [Department(kommune=kommune_id, position=index, **values) for index, values in enumerate(departments)]
    if rows:
        await Department.insert(*rows).run()


async def kommuner(code: str | None = None) -> list[dict[str, Any]]:
    """Kommune rows (without the logo bytes), ordered by code."""
    columns = [column for column in Kommune._meta.columns if column._meta.name != "logo"]
    query = Kommune.select(*columns).order_by(Kommune.code)
    if code is not None:
        query = query.where(Kommune.code == code)
    return await query.run()


async def departments(kommune_ids: list[int] | None = None) -> list[dict[str, Any]]:
    query = Department.select().order_by(Department.kommune, Department.position)
    if kommune_ids is not None:
        query = query.where(Department.kommune.is_in(kommune_ids or [-1]))
    return await query.run()


async def numbers(kommune_ids: list[int] | None = None) -> list[dict[str, Any]]:
    query = DialledNumber.select().order_by(DialledNumber.number)
    if kommune_ids is not None:
        query = query.where(DialledNumber.kommune.is_in(kommune_ids or [-1]))
    return await query.run()


async def logo(code: str) -> tuple[bytes, str] | None:
    row = await Kommune.select(Kommune.logo, Kommune.logo_media_type).where(Kommune.code == code).first().run()
    if row is None or not row["logo"]:
        return None
    return bytes(row["logo"]), row["logo_media_type"]


async def logos() -> dict[str, tuple[bytes, str]]:
    rows = await Kommune.select(Kommune.code, Kommune.logo, Kommune.logo_media_type).run()
    return {row["code"]: (bytes(row["logo"]), row["logo_media_type"]) for row in rows if row["logo"]}
