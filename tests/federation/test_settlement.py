"""The settlement on a small fixed history, computed by hand; the zero-sum property over random histories and
keys; and the refusals of bad periods, keys and costs."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.federation.schemas import AllocationKey, FederationError
from hotline.federation.settlement import Member, Usage, compute_settlement, largest_remainder, settle
from tests.federation.history import END, START, write_week
from tests.fixtures.databases import Database

COST = 450_00  # 450 kr. an hour

# The fixed week (tests/federation/history.py). Hours worked by members' agents: Aarhus 2.5 h, Horsens 4 h (3 h +
# the 1 h of a span inside the period), Odder 0.5 h = 7 h; Copenhagen's 1 h is not a member's.
# Total cost = 7 h × 45,000 øre = 315,000 øre. Credits: Aarhus 2.5 × 45,000 = 112,500; Horsens 180,000; Odder
# 22,500 (exact, no rounding needed).
# Population: 360,000 + 97,000 + 24,000 = 481,000, so population shares are 360/481, 97/481, 24/481. The one
# answered non-member call (4 minutes) is shared among the members by those shares.
CREDITS = {"0751": 112_500, "0615": 180_000, "0727": 22_500}

# per call: values Aarhus 3 + 360/481, Horsens 1 + 97/481, Odder 24/481 (sum 5).
#   quotas 315,000 × value / 5: 236,151.767 / 75,704.782 / 3,143.451; floors sum 314,998, the 2 øre left go to the
#   largest remainders (Horsens .782, Aarhus .767) → shares 236,152 / 75,705 / 3,143.
#   balances: 112,500 − 236,152 = −123,652; 180,000 − 75,705 = 104,295; 22,500 − 3,143 = 19,357 (sum 0).
PER_CALL = {"0751": (236_152, -123_652), "0615": (75_705, 104_295), "0727": (3_143, 19_357)}
# per handled minute: Aarhus 5 + 3 + 4 = 12 min, Horsens 5 talk + 1 wrap-up = 6 min, the non-member's 4 min by
#   population: values 12 + 4·360/481, 6 + 4·97/481, 4·24/481 (sum 22).
#   quotas 214,683.425 / 97,458.892 / 2,857.683; floors sum 314,998; +1 to Horsens (.892) and Odder (.683).
#   balances: 112,500 − 214,683 = −102,183; 180,000 − 97,459 = 82,541; 22,500 − 2,858 = 19,642.
PER_MINUTE = {"0751": (214_683, -102_183), "0615": (97_459, 82_541), "0727": (2_858, 19_642)}
# population: quotas 235,758.836 / 63,523.909 / 15,717.256; floors sum 314,998; +1 to Horsens (.909), Aarhus (.836).
#   balances: 112,500 − 235,759 = −123,259; 180,000 − 63,524 = 116,476; 22,500 − 15,717 = 6,783.
POPULATION = {"0751": (235_759, -123_259), "0615": (63_524, 116_476), "0727": (15_717, 6_783)}
# mix, half calls and half population: quotas are the means of the two above: 235,955.301 / 69,614.345 /
#   9,430.353; floors sum 314,999; +1 to Odder (.353, the largest remainder).
MIX = {"0751": (235_955, 112_500 - 235_955), "0615": (69_614, 180_000 - 69_614), "0727": (9_431, 22_500 - 9_431)}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (AllocationKey("per_call"), PER_CALL),
        (AllocationKey("per_minute"), PER_MINUTE),
        (AllocationKey("population"), POPULATION),
        (AllocationKey("mix", calls="0.5", minutes="0", population="0.5"), MIX),
    ],
    ids=["per_call", "per_minute", "population", "mix"],
)
async def test_settlement_of_the_fixed_week_matches_the_hand_computation(
    kommuner: Database, key: AllocationKey, expected: dict[str, tuple[int, int]]
) -> None:
    await write_week()
    result = await compute_settlement(START, END, key, COST)
    assert result.total_seconds == 7 * 3600
    assert result.total_cost_ore == 315_000
    assert result.excluded_seconds == 3600  # Copenhagen's agent
    assert result.other_calls == 1
    assert [k.code for k in result.kommuner] == ["0615", "0727", "0751"]
    for k in result.kommuner:
        assert k.credit_ore == CREDITS[k.code]
        assert (k.share_ore, k.balance_ore) == expected[k.code], k.code
    assert sum(k.balance_ore for k in result.kommuner) == 0
    aarhus = result.balance_of("0751")
    assert aarhus is not None
    assert aarhus.calls == 3
    assert aarhus.handled_seconds == 12 * 60


async def test_a_period_without_anything_settles_to_zero(kommuner: Database) -> None:
    result = await compute_settlement(dt.date(2025, 1, 1), dt.date(2025, 1, 31), AllocationKey(), COST)
    assert result.total_cost_ore == 0
    assert all(k.balance_ore == 0 and k.share_ore == 0 for k in result.kommuner)


async def test_bad_periods_keys_and_costs_are_refused_naming_the_field(kommuner: Database) -> None:
    with pytest.raises(FederationError) as error:
        await compute_settlement(dt.date(2026, 11, 8), dt.date(2026, 11, 2), AllocationKey(), COST)
    assert error.value.field == "end"
    with pytest.raises(FederationError) as error:
        await compute_settlement(START, END, AllocationKey("mix", calls="0.5", minutes="0.2", population="0.2"), COST)
    assert error.value.field == "weights"
    with pytest.raises(FederationError) as error:
        await compute_settlement(START, END, AllocationKey("mix", calls="1.5", minutes="-0.5"), COST)
    assert error.value.field == "weight_calls"
    with pytest.raises(FederationError) as error:
        await compute_settlement(START, END, AllocationKey("mix", calls="x"), COST)
    assert error.value.field == "weight_calls"
    with pytest.raises(FederationError) as error:
        await compute_settlement(START, END, AllocationKey(), -1)
    assert error.value.field == "hourly_cost"
    # 0.1 + 0.2 + 0.7 is exactly 1 as typed (no floating-point surprise)
    assert AllocationKey("mix", calls="0.1", minutes="0.2", population="0.7").weights() == (
        Fraction(1, 10),
        Fraction(1, 5),
        Fraction(7, 10),
    )


def test_largest_remainder_hands_out_exactly_the_total() -> None:
    assert largest_remainder(10, {"a": Fraction(1), "b": Fraction(1), "c": Fraction(1)}) == {"a": 4, "b": 3, "c": 3}
    assert largest_remainder(100, {"a": Fraction(2, 3), "b": Fraction(1, 3), "z": Fraction(0)}) == {
        "a": 67,
        "b": 33,
        "z": 0,
    }


codes = st.sampled_from([f"0{n}" for n in range(101, 131)])
histories = st.fixed_dictionaries(
    {
        "members": st.dictionaries(codes, st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=12),
        "worked": st.dictionaries(codes, st.floats(min_value=0, max_value=500_000, allow_nan=False), max_size=14),
        "calls": st.dictionaries(codes, st.integers(min_value=0, max_value=5_000), max_size=14),
        "handled": st.dictionaries(codes, st.floats(min_value=0, max_value=3_000_000, allow_nan=False), max_size=14),
        "other_calls": st.integers(min_value=0, max_value=500),
        "other_handled": st.floats(min_value=0, max_value=100_000, allow_nan=False),
    }
)
weights = st.integers(min_value=0, max_value=1000).flatmap(
    lambda a: st.integers(min_value=0, max_value=1000 - a).map(lambda b: (a, b, 1000 - a - b))
)
keys = st.one_of(
    st.sampled_from([AllocationKey("per_call"), AllocationKey("per_minute"), AllocationKey("population")]),
    weights.map(
        lambda w: AllocationKey("mix", calls=f"{w[0] / 1000}", minutes=f"{w[1] / 1000}", population=f"{w[2] / 1000}")
    ),
)


@settings(max_examples=300, deadline=None)
@given(history=histories, key=keys, cost=st.integers(min_value=0, max_value=2_000_00))
def test_balances_always_sum_to_exactly_zero(history: dict, key: AllocationKey, cost: int) -> None:  # type: ignore[type-arg]
    members = [Member(code, f"K{code}", population) for code, population in history["members"].items()]
    usage = Usage(
        worked_seconds=history["worked"],
        calls=history["calls"],
        handled_seconds=history["handled"],
        other_calls=history["other_calls"],
        other_handled_seconds=history["other_handled"],
    )
    result = settle(members, usage, key, cost, START, END)
    assert sum(k.balance_ore for k in result.kommuner) == 0
    assert sum(k.credit_ore for k in result.kommuner) == result.total_cost_ore
    assert sum(k.share_ore for k in result.kommuner) == result.total_cost_ore
    assert all(k.share_ore >= 0 and k.credit_ore >= 0 for k in result.kommuner)
    # every share is within one øre of its exact quota
    for k in result.kommuner:
        assert abs(k.share_ore - result.total_cost_ore * k.key_share) <= 1 + 1e-6 * result.total_cost_ore
