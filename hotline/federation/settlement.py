"""The settlement: for a period, what the hours worked cost, each member kommune's share of that cost by the
allocation key, its credit for the hours its own agents worked, and the net balance (credit − share).

Everything is integer øre. The total cost is the members' agents' worked seconds × the hourly cost (rounded to
the øre once); both the credits and the shares distribute that same total with the largest-remainder method
(ties broken by kommune code), so credits and shares each sum to the total and the balances sum to exactly zero.

The key values per kommune:

- per call: the answered calls its citizens made to its member number in the period;
- per handled minute: their handled time (answered → wrapped up, or → ended without a wrap-up);
- population: its population from its tenant definition;
- mix: ``w_calls × call share + w_minutes × minute share + w_population × population share``.

Answered calls of non-member and unknown numbers (general guidance given to everyone) are shared among the members
by population: each member's call (minute) value gets ``others × its population / all members' population``.
A period without any calls falls back to population; without population figures, to equal parts. Hours worked
by agents whose home kommune is not a member are reported (``excluded_seconds``) but neither costed nor credited.
The period is the Copenhagen calendar days ``start``..``end`` inclusive; calls count by when they were offered,
presence spans by the part of them inside the period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from hotline.federation import repository
from hotline.federation.forecast import local_midnight
from hotline.federation.schemas import AllocationKey, FederationError, KommuneBalance, Settlement
from hotline.tenancy import service as tenancy

MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Member:
    code: str
    name: str
    population: int


@dataclass(frozen=True)
class Usage:
    """What the period recorded, already summed per kommune."""

    worked_seconds: Mapping[str, float]
    calls: Mapping[str, int]
    handled_seconds: Mapping[str, float]
    other_calls: int = 0
    other_handled_seconds: float = 0.0


def largest_remainder(total: int, weights: Mapping[str, Fraction]) -> dict[str, int]:
    """``total`` split in proportion to ``weights`` into integers that sum to exactly ``total``: everyone gets
    the floor of their quota, and the remaining units go to the largest fractional parts (ties: by key)."""
    positive = {key: value for key, value in weights.items() if value > 0}
    whole = sum(positive.values(), Fraction(0))
    if whole == 0:
        if total != 0:
            raise ValueError("cannot distribute a non-zero total over zero weights")
        return dict.fromkeys(weights, 0)
    quotas = {key: total * value / whole for key, value in positive.items()}
    parts = {key: int(quota // 1) for key, quota in quotas.items()}
    left = total - sum(parts.values())
    by_remainder = sorted(positive, key=lambda key: (-(quotas[key] - parts[key]), key))
    for key in by_remainder[:left]:
        parts[key] += 1
    return {key: parts.get(key, 0) for key in weights}


def _normalised(values: Mapping[str, Fraction]) -> dict[str, Fraction]:
    whole = sum(values.values(), Fraction(0))
    return {key: (value / whole if whole else Fraction(0)) for key, value in values.items()}


def key_shares(members: Sequence[Member], usage: Usage, key: AllocationKey) -> dict[str, Fraction]:
    """Each member's exact share (summing to 1) of the cost under ``key``."""
    w_calls, w_minutes, w_population = key.weights()
    codes = [member.code for member in members]
    population = {member.code: Fraction(max(member.population, 0)) for member in members}
    if sum(population.values()) == 0:
        population = dict.fromkeys(codes, Fraction(1))
    population_share = _normalised(population)
    calls = {code: Fraction(usage.calls.get(code, 0)) + usage.other_calls * population_share[code] for code in codes}
    minutes = {
        code: Fraction(usage.handled_seconds.get(code, 0.0))
        + Fraction(usage.other_handled_seconds) * population_share[code]
        for code in codes
    }
    # A period without calls (or without handled time) cannot be shared by them: fall back to population.
    call_share = _normalised(calls) if sum(calls.values()) else population_share
    minute_share = _normalised(minutes) if sum(minutes.values()) else population_share
    return {
        code: w_calls * call_share[code] + w_minutes * minute_share[code] + w_population * population_share[code]
        for code in codes
    }


def settle(
    members: Sequence[Member],
    usage: Usage,
    key: AllocationKey,
    hourly_cost_ore: int,
    start: dt.date,
    end: dt.date,
) -> Settlement:
    """The settlement from sums already taken (pure: the hypothesis test drives it with random histories)."""
    if hourly_cost_ore < 0:
        raise FederationError("hourly_cost", "must not be negative", key="negative")
    codes = {member.code for member in members}
    worked = {code: Fraction(max(usage.worked_seconds.get(code, 0.0), 0.0)) for code in codes}
    excluded = sum(seconds for code, seconds in usage.worked_seconds.items() if code not in codes)
    total_seconds = sum(worked.values(), Fraction(0))
    total_cost = round(total_seconds * hourly_cost_ore / 3600)
    credits = largest_remainder(total_cost, worked) if total_cost else dict.fromkeys(codes, 0)
    shares_of_key = key_shares(members, usage, key)
    shares = largest_remainder(total_cost, shares_of_key) if total_cost else dict.fromkeys(codes, 0)
    balances = [
        KommuneBalance(
            code=member.code,
            name=member.name,
            population=member.population,
            worked_seconds=round(worked[member.code]),
            calls=int(usage.calls.get(member.code, 0)),
            handled_seconds=round(usage.handled_seconds.get(member.code, 0.0)),
            key_share=float(shares_of_key[member.code]),
            credit_ore=credits[member.code],
            share_ore=shares[member.code],
            balance_ore=credits[member.code] - shares[member.code],
        )
        for member in sorted(members, key=lambda m: m.code)
    ]
    return Settlement(
        start=start,
        end=end,
        key=key,
        hourly_cost_ore=hourly_cost_ore,
        total_seconds=round(total_seconds),
        total_cost_ore=total_cost,
        other_calls=usage.other_calls,
        other_handled_seconds=round(usage.other_handled_seconds),
        excluded_seconds=round(excluded),
        kommuner=balances,
    )


def check_period(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise FederationError("end", "the period ends before it starts", key="backwards")
    if (end - start).days + 1 > MAX_DAYS:
        raise FederationError("end", f"a period is at most {MAX_DAYS} days", key="too_many_days", days=MAX_DAYS)


async def members() -> list[Member]:
    return [
        Member(code=t.code, name=t.name, population=t.definition.population)
        for t in await tenancy.load_tenants()
        if t.definition.member
    ]


async def usage(start: dt.date, end: dt.date, member_codes: set[str]) -> Usage:
    """The period's sums, aggregated in SQL (two grouped queries, whatever the number of calls)."""
    first = local_midnight(start)
    after = local_midnight(end + dt.timedelta(days=1))
    worked = await repository.worked_seconds_by_kommune(first, after)
    calls: dict[str, int] = {}
    handled: dict[str, float] = {}
    other_calls = 0
    other_handled = 0.0
    for row in await repository.answered_calls_by_kommune(first, after):
        count, seconds = int(row["calls"]), float(row["handled"] or 0)
        if row["mode"] == "member" and row["kommune_code"] in member_codes:
            calls[row["kommune_code"]] = calls.get(row["kommune_code"], 0) + count
            handled[row["kommune_code"]] = handled.get(row["kommune_code"], 0.0) + seconds
        else:
            other_calls += count
            other_handled += seconds
    return Usage(
        worked_seconds=worked,
        calls=calls,
        handled_seconds=handled,
        other_calls=other_calls,
        other_handled_seconds=other_handled,
    )


async def compute_settlement(start: dt.date, end: dt.date, key: AllocationKey, hourly_cost_ore: int) -> Settlement:
    """The settlement of the member kommuner for the days ``start``..``end`` (inclusive, Copenhagen time)."""
    check_period(start, end)
    key.weights()  # refuses a bad key before any query
    if hourly_cost_ore < 0:
        raise FederationError("hourly_cost", "must not be negative", key="negative")
    found = await members()
    if not found:
        raise FederationError("members", "the federation has no member kommuner", key="no_members")
    recorded = await usage(start, end, {member.code for member in found})
    return settle(found, recorded, key, hourly_cost_ore, start, end)
