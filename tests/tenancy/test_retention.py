"""Each kommune's retention of personal data, as the sweeps of calls, hand-offs and letters read it: one query,
kommuner grouped by their ``retention_days``, and the default for every code that is not a configured kommune."""

from __future__ import annotations

import datetime as dt

import pytest

from hotline.tenancy import service
from hotline.tenancy.service import NO_KOMMUNE_RETENTION_DAYS, Retention
from tests.fixtures.databases import Database

NOW = dt.datetime(2026, 11, 25, 19, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
NOW_UTC = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)


async def test_the_retention_of_each_kommune_comes_from_its_definition(kommuner: Database) -> None:
    # Aarhus keeps contact data 30 days, Horsens and Odder 90 (tenants/*/kommune.toml).
    assert (await service.retention()).days == {"0751": 30, "0615": 90, "0727": 90}


def test_kommuner_are_grouped_by_retention_and_every_other_code_gets_the_default() -> None:
    cutoffs = Retention(days={"0751": 30, "0615": 90, "0727": 90, "0101": 180}).cutoffs(NOW)
    assert cutoffs.groups == (
        (NOW_UTC - dt.timedelta(days=30), ("0751",)),
        (NOW_UTC - dt.timedelta(days=90), ("0615", "0727")),
        (NOW_UTC - dt.timedelta(days=180), ("0101",)),
    )
    assert cutoffs.other == NOW_UTC - dt.timedelta(days=NO_KOMMUNE_RETENTION_DAYS)
    assert set(cutoffs.known) == {"0751", "0615", "0727", "0101"}
    assert all(cutoff.tzinfo == dt.UTC for cutoff, _ in cutoffs.groups)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Retention(days={}).cutoffs(dt.datetime(2026, 11, 25, 18, 0))  # noqa: DTZ001 - the point of the test
