"""The routing index: a tenant apply reaches routing at the next refresh, and a refresh with nothing changed
reloads no kommune (it reads only their digests)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import msgspec

from hotline.calls.routing import TenantIndex
from hotline.tenancy import service as tenancy
from hotline.tenancy.files import TenantSet, load_tenant_set
from hotline.tenancy.schemas import DialledNumber
from hotline.tenancy.tables import Kommune
from tests.calls.conftest import AARHUS_NUMBER, EVENING
from tests.fixtures.app import TENANTS, apply_folder
from tests.fixtures.databases import Database

NEW_NUMBER = "+4570751999"


async def _give_aarhus_a_new_number() -> tenancy.ApplyReport:
    tenant_set = load_tenant_set(TENANTS, known_topics=await tenancy.known_topic_codes())
    definitions = []
    for definition in tenant_set.tenants:
        if definition.kommune.code == "0751":
            numbers = [*definition.kommune.numbers, DialledNumber(number=NEW_NUMBER, label="Ny linje")]
            kommune = msgspec.structs.replace(definition.kommune, numbers=numbers)
            definition = dataclasses.replace(definition, kommune=kommune)
        definitions.append(definition)
    async with Kommune._meta.db.transaction():
        return await tenancy.apply_definitions(TenantSet(federation=tenant_set.federation, tenants=definitions))


async def test_unchanged_tenants_are_not_reloaded_and_a_changed_one_is(demo_federation: Database) -> None:
    index = TenantIndex(ttl=0.0)  # every call refreshes: the test decides when tenants change
    assert (await index.route(AARHUS_NUMBER, EVENING)).kommune_code == "0751"
    aarhus, horsens = await index.tenant("0751"), await index.tenant("0615")
    generation = index.generation

    # Nothing changed: the digests match, no kommune is rebuilt (the very same objects are served).
    assert (await index.route(NEW_NUMBER, EVENING)).mode == "unknown"
    assert index.generation == generation
    assert await index.tenant("0751") is aarhus

    # Aarhus gets a new number: only Aarhus is loaded again.
    assert (await _give_aarhus_a_new_number()).updated == ["0751"]

    route = await index.route(NEW_NUMBER, EVENING)
    assert (route.mode, route.kommune_code) == ("member", "0751")
    assert index.generation == generation + 1
    assert await index.tenant("0751") is not aarhus
    assert await index.tenant("0615") is horsens

    # Back to the files: the number is gone again.
    await apply_folder(TENANTS)
    assert (await index.route(NEW_NUMBER, EVENING)).mode == "unknown"


async def test_the_index_is_held_for_its_ttl_and_invalidate_refreshes_it_at_once(demo_federation: Database) -> None:
    index = TenantIndex(ttl=3600.0)
    await index.route(AARHUS_NUMBER, EVENING)
    await _give_aarhus_a_new_number()
    assert (await index.route(NEW_NUMBER, EVENING + dt.timedelta(minutes=1))).mode == "unknown"  # held
    index.invalidate()
    assert (await index.route(NEW_NUMBER, EVENING)).kommune_code == "0751"
    await apply_folder(TENANTS)
