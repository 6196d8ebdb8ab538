"""Applying tenants as code: idempotent upserts in one transaction, all or nothing, and a faithful export."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.tenancy import service
from hotline.tenancy.files import TenantFilesError, load_tenant_set
from hotline.tenancy.tables import DialledNumber, Kommune, Topic
from tests.fixtures.app import TENANTS, apply_folder
from tests.fixtures.databases import Database
from tests.tenancy.conftest_helpers import AARHUS, HORSENS, copy_federation, edit


async def snapshot() -> list[tuple[str, str, str]]:
    rows = await Kommune.select(Kommune.code, Kommune.config_digest, Kommune.opening_hours).order_by(Kommune.code).run()
    return [(row["code"], row["config_digest"], str(row["opening_hours"])) for row in rows]


async def test_applying_the_demo_federation_twice_changes_nothing_the_second_time(db: Database) -> None:
    first = await apply_folder(TENANTS)
    assert (len(first.created), len(first.updated), len(first.unchanged)) == (98, 0, 0)
    before = await snapshot()
    second = await apply_folder(TENANTS)
    assert (len(second.created), len(second.updated), len(second.unchanged)) == (0, 0, 98)
    assert await snapshot() == before
    assert await Kommune.count().where(Kommune.member == True).run() >= 50  # noqa: E712 - Piccolo's query syntax
    assert await DialledNumber.count().run() == 98
    assert await Topic.count().run() >= 18


async def test_a_changed_kommune_is_updated_and_the_others_are_left_alone(db: Database, tmp_path: Path) -> None:
    folder = copy_federation(tmp_path / "tenants", AARHUS, HORSENS)
    await apply_folder(folder)
    edit(
        folder / HORSENS / "kommune.toml",
        'thursday = [\n    "10:00-17:30",\n]',
        'thursday = ["10:00-12:00", "13:00-18:00"]',
    )
    report = await apply_folder(folder)
    assert (report.updated, report.unchanged) == (["0615"], ["0751"])
    horsens = await service.get_tenant("0615")
    assert horsens is not None
    assert horsens.calendar.week_texts()["thursday"] == ["10:00-12:00", "13:00-18:00"]


async def test_a_failure_inside_the_transaction_leaves_nothing_applied(db: Database, tmp_path: Path) -> None:
    folder = copy_federation(tmp_path / "tenants", AARHUS, HORSENS)
    await apply_folder(folder)
    before = await snapshot()
    edit(folder / HORSENS / "kommune.toml", "retention_days = 90", "retention_days = 30")
    tenant_set = load_tenant_set(folder)
    # The crash must come after the writes, inside the same transaction: hence more than one statement.
    with pytest.raises(RuntimeError, match="crash after the writes"):  # noqa: PT012
        async with Kommune._meta.db.transaction():
            report = await service.apply_definitions(tenant_set)
            assert report.updated == ["0615"]
            raise RuntimeError("crash after the writes")
    assert await snapshot() == before


async def test_a_number_owned_by_a_kommune_outside_the_folder_is_refused_and_nothing_changes(
    db: Database, tmp_path: Path
) -> None:
    await apply_folder(TENANTS)
    before = await snapshot()
    folder = copy_federation(tmp_path / "tenants", HORSENS)
    edit(folder / HORSENS / "kommune.toml", 'number = "+4570615000"', 'number = "+4570751000"')
    edit(folder / HORSENS / "kommune.toml", "retention_days = 90", "retention_days = 30")
    with pytest.raises(TenantFilesError) as caught:
        await apply_folder(folder)
    assert [str(p) for p in caught.value.problems] == [
        f"{folder / HORSENS / 'kommune.toml'}: numbers[0].number: +4570751000 is already owned by kommune 0751"
    ]
    assert await snapshot() == before


async def test_a_number_can_move_between_two_kommuner_of_the_same_folder(db: Database, tmp_path: Path) -> None:
    folder = copy_federation(tmp_path / "tenants", AARHUS, HORSENS)
    await apply_folder(folder)
    edit(folder / AARHUS / "kommune.toml", 'number = "+4570751000"', 'number = "+4570751999"')
    edit(folder / HORSENS / "kommune.toml", 'number = "+4570615000"', 'number = "+4570751000"')
    await apply_folder(folder)
    owners = {
        row["number"]: row["kommune.code"]
        for row in await DialledNumber.select(DialledNumber.number, DialledNumber.kommune.code).run()
    }
    assert owners == {"+4570751000": "0615", "+4570751999": "0751"}


async def test_a_single_kommune_folder_is_checked_against_the_stored_topics(db: Database, tmp_path: Path) -> None:
    await apply_folder(TENANTS)
    lone = tmp_path / HORSENS
    copy_federation(tmp_path / "full", HORSENS)
    (tmp_path / "full" / HORSENS).rename(lone)
    edit(lone / "kommune.toml", '"rotter",', '"rotter",\n    "astrologi",')
    with pytest.raises(TenantFilesError, match="unknown topic 'astrologi'"):
        await apply_folder(lone)


async def test_export_writes_files_that_apply_takes_back_unchanged(db: Database, tmp_path: Path) -> None:
    await apply_folder(TENANTS)
    exported = tmp_path / "exported"
    assert await service.export_definitions(exported) == 98
    again = load_tenant_set(exported)
    original = {t.kommune.code: t for t in load_tenant_set(TENANTS).tenants}
    for tenant in again.tenants:
        assert tenant.kommune == original[tenant.kommune.code].kommune
        assert tenant.logo == original[tenant.kommune.code].logo
    report = await apply_folder(exported)
    assert len(report.unchanged) == 98
