"""create_handoff: what it refuses (naming the field), what it stores (CPR masked), when it is due, and that it
writes all or nothing, alone or inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hotline.handoffs import repository
from hotline.handoffs.service import HandOffError, create_handoff
from hotline.handoffs.tables import HandOff, HandOffOutbox, HandOffUpdate
from hotline.letters import repository as letters_repository
from tests.fixtures.app import TENANTS, apply_folder
from tests.fixtures.databases import Database

CPH = ZoneInfo("Europe/Copenhagen")
EVENING = dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH)  # a Wednesday evening


async def make(**changes: Any) -> Any:
    values: dict[str, Any] = {
        "call_id": "call-1",
        "kommune_code": "0751",
        "topic": "storskrald",
        "description": "Storskrald blev ikke hentet i dag.",
        "citizen_email": "borger@example.org",
        "citizen_phone": "+45 12 34 56 78",
        "created_by": "agent|1",
        "now": EVENING,
    }
    values.update(changes)
    return await create_handoff(**values)


async def counts() -> tuple[int, int, int]:
    return (await HandOff.count().run(), await HandOffUpdate.count().run(), await HandOffOutbox.count().run())


async def test_a_handoff_goes_to_the_department_that_owns_the_topic(demo_federation: Database) -> None:
    handoff = await make()
    assert (handoff.kommune_code, handoff.department, handoff.department_name) == (
        "0751",
        "affald-og-genbrug",
        "Affald og Genbrug",
    )
    assert handoff.status == "open"
    assert handoff.created_at == EVENING
    assert await counts() == (1, 1, 1)
    outbox = await HandOffOutbox.select().first().run()
    assert outbox is not None
    assert outbox["subject"] == "handoffs.0751.created"
    assert handoff.handoff_id in outbox["payload"]


async def test_cpr_in_the_description_is_masked_before_it_is_stored(demo_federation: Database) -> None:
    handoff = await make(description="Borgeren oplyste 010190-1234 og 0101901234 i samtalen")
    row = await HandOff.select().first().run()
    assert row is not None
    for text in (handoff.description, row["description"]):
        assert "010190-1234" not in text
        assert "0101901234" not in text
        assert "XXXXXX-XXXX" in text
    outbox = await HandOffOutbox.select().first().run()
    assert outbox is not None
    assert "0101901234" not in outbox["payload"]
    assert "010190-1234" not in outbox["payload"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kommune_code": "9999"}, "kommune_code"),
        ({"kommune_code": "0101"}, "kommune_code"),  # København is not a member in the demo
        ({"topic": "no-such-topic"}, "topic"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 4001}, "description"),
        ({"citizen_email": "not an address"}, "citizen_email"),
        ({"citizen_email": "a@b"}, "citizen_email"),
        ({"citizen_email": "0101901234@example.org"}, "citizen_email"),
        ({"citizen_phone": "010190-1234"}, "citizen_phone"),
        ({"citizen_phone": "call me"}, "citizen_phone"),
        ({"language": "Danish!"}, "language"),
        ({"now": dt.datetime(2026, 11, 25, 19, 30)}, "now"),  # noqa: DTZ001 - the naive instant is the point
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    demo_federation: Database, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(HandOffError) as refused:
        await make(**changes)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}:")
    assert await counts() == (0, 0, 0)


async def test_a_topic_no_department_of_the_kommune_owns_is_refused(db: Database, tmp_path: Path) -> None:
    # Every demo member owns every topic, so apply Aarhus with "storskrald" taken from its departments.
    shutil.copy(TENANTS / "federation.toml", tmp_path / "federation.toml")
    folder = next(TENANTS.glob("0751-*"))
    shutil.copytree(folder, tmp_path / folder.name)
    definition = tmp_path / folder.name / "kommune.toml"
    text = definition.read_text(encoding="utf-8")
    assert '    "storskrald",\n' in text
    definition.write_text(text.replace('    "storskrald",\n', ""), encoding="utf-8")
    await apply_folder(tmp_path)
    with pytest.raises(HandOffError) as refused:
        await make(topic="storskrald")
    assert refused.value.field == "topic"
    assert "Aarhus" in refused.value.message
    assert await counts() == (0, 0, 0)


async def test_a_failure_after_create_inside_the_callers_transaction_stores_nothing(demo_federation: Database) -> None:
    class WrapUpFailed(Exception):
        pass

    seen: list[int] = []

    async def wrap_up() -> None:
        async with letters_repository.transaction():  # another area's transaction, as the calls area holds one
            handoff = await make()
            seen.append(await HandOff.count().where(HandOff.handoff_id == handoff.handoff_id).run())
            raise WrapUpFailed

    with pytest.raises(WrapUpFailed):
        await wrap_up()
    assert seen == [1]
    assert await counts() == (0, 0, 0)


async def test_create_inside_the_callers_transaction_commits_with_it(demo_federation: Database) -> None:
    async with repository.transaction():
        first = await make(call_id="a")
        second = await make(call_id="b", topic="flytning")
    assert await counts() == (2, 2, 2)
    assert {first.department, second.department} == {"affald-og-genbrug", "borgerservice"}


async def test_a_refused_handoff_inside_the_callers_transaction_leaves_the_callers_writes(
    demo_federation: Database,
) -> None:
    async with repository.transaction():
        await make(call_id="a")
        with pytest.raises(HandOffError):
            await make(call_id="b", description="")
    assert await counts() == (1, 1, 1)


async def test_control_characters_are_dropped_so_every_backend_stores_the_text(demo_federation: Database) -> None:
    handoff = await make(description="Linje 1\x00\nLinje 2\x07", call_id="call\x00-9")
    row = await HandOff.select().first().run()
    assert row is not None
    assert handoff.description == row["description"] == "Linje 1\nLinje 2"
    assert row["call_id"] == "call-9"
