"""Records of the federation area: the forecast per hour, the allocation key, the settlement and what the API
returns. Money is integer øre throughout; shares of one are exact fractions until they are shown."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Final, Literal, get_args

import msgspec

KeyKind = Literal["per_call", "per_minute", "population", "mix"]
KEY_KINDS: Final[tuple[str, ...]] = get_args(KeyKind)


class FederationError(ValueError):
    """Refused input, naming the field it concerns (shown as 400 by the API, 422 on a form, or 403 when
    ``forbidden``). ``key`` and ``values`` name the same refusal for the people reading a form: the text
    ``federation.error.<key>`` of ``messages.py`` in their language."""

    def __init__(
        self,
        field: str,
        message: str,
        *,
        key: str,
        forbidden: bool = False,
        not_found: bool = False,
        **values: object,
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = f"{field}: {message}"
        self.key = key
        self.values = values
        self.forbidden = forbidden
        self.not_found = not_found


def exact(text: str, field: str) -> Fraction:
    """A decimal written by a person (``0.25`` or ``0,25``) as an exact fraction."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise FederationError(field, f"{text[:20]!r} is not a number", key="not_a_number") from None
    if not value.is_finite():
        raise FederationError(field, "must be a finite number", key="not_a_number")
    return Fraction(value)


class AllocationKey(msgspec.Struct, frozen=True):
    """How the cost of the hours worked is shared out: by answered calls of each kommune's citizens, by their
    handled minutes, by population, or a weighted mix of the three (weights as decimal text summing to 1)."""

    kind: KeyKind = "per_call"
    calls: str = "1"
    minutes: str = "0"
    population: str = "0"

    def weights(self) -> tuple[Fraction, Fraction, Fraction]:
        """The exact weights of (calls, minutes, population); raises :class:`FederationError` naming the field."""
        if self.kind == "per_call":
            return Fraction(1), Fraction(0), Fraction(0)
        if self.kind == "per_minute":
            return Fraction(0), Fraction(1), Fraction(0)
        if self.kind == "population":
            return Fraction(0), Fraction(0), Fraction(1)
        if self.kind != "mix":
            raise FederationError("key", f"must be one of {', '.join(KEY_KINDS)}", key="key_kind")
        values = (
            exact(self.calls, "weight_calls"),
            exact(self.minutes, "weight_minutes"),
            exact(self.population, "weight_population"),
        )
        for name, value in zip(("weight_calls", "weight_minutes", "weight_population"), values, strict=True):
            if value < 0 or value > 1:
                raise FederationError(name, "must be between 0 and 1", key="weight_range")
        if sum(values) != 1:
            raise FederationError(
                "weights",
                f"must sum to exactly 1 (they sum to {float(sum(values)):g})",
                key="weights_sum",
                total=f"{float(sum(values)):g}",
            )
        return values

    def label(self) -> str:
        if self.kind != "mix":
            return self.kind
        calls, minutes, population = self.weights()
        return f"mix(calls={float(calls):g}, minutes={float(minutes):g}, population={float(population):g})"


class HourForecast(msgspec.Struct, frozen=True):
    """One hour of a day: its start (aware, Europe/Copenhagen), the calls expected, the average handle time
    they are expected to take, and the agents to roster (Erlang C, with shrinkage and the occupancy cap)."""

    start: dt.datetime
    calls: float
    aht_seconds: float
    agents_needed: int


class KommuneBalance(msgspec.Struct, frozen=True):
    code: str
    name: str
    population: int
    worked_seconds: int
    calls: int
    """Answered calls of the kommune's citizens (member calls) in the period."""
    handled_seconds: int
    key_share: float
    """The kommune's share of the allocation key (of one), shown rounded; the øre are computed exactly."""
    credit_ore: int
    share_ore: int
    balance_ore: int

    @property
    def worked_hours(self) -> float:
        return self.worked_seconds / 3600


class Settlement(msgspec.Struct, frozen=True):
    """Who owes whom for a period. ``sum(k.balance_ore for k in kommuner) == 0`` always."""

    start: dt.date
    end: dt.date
    key: AllocationKey
    hourly_cost_ore: int
    total_seconds: int
    total_cost_ore: int
    other_calls: int
    """Answered calls of non-member and unknown numbers, shared among the members by population."""
    other_handled_seconds: int
    excluded_seconds: int
    """Worked seconds of agents whose home kommune is not a member (neither credited nor costed)."""
    kommuner: list[KommuneBalance]

    def balance_of(self, code: str) -> KommuneBalance | None:
        return next((k for k in self.kommuner if k.code == code), None)
