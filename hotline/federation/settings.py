"""The coordinator's federation settings: the settlement's allocation key and hourly cost, and the forecast's
service-level target, threshold, shrinkage and occupancy cap. One row; defaults until the coordinator saves."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from hotline.federation import repository
from hotline.federation.schemas import KEY_KINDS, AllocationKey, FederationError, exact

MAX_HOURLY_COST_ORE = 100_000_00  # 100,000 kr. an hour: anything above is a typing error


@dataclass(frozen=True)
class FederationConfig:
    key: AllocationKey = field(default_factory=AllocationKey)
    hourly_cost_ore: int = 450_00
    service_level_permille: int = 800
    threshold_seconds: int = 30
    shrinkage_permille: int = 300
    max_occupancy_permille: int = 850

    @property
    def target(self) -> float:
        return self.service_level_permille / 1000

    @property
    def shrinkage(self) -> float:
        return self.shrinkage_permille / 1000

    @property
    def max_occupancy(self) -> float:
        return self.max_occupancy_permille / 1000


async def load() -> FederationConfig:
    row = await repository.settings_row()
    if row is None:
        return FederationConfig()
    return FederationConfig(
        key=AllocationKey(
            kind=row["allocation_key"],
            calls=row["weight_calls"],
            minutes=row["weight_minutes"],
            population=row["weight_population"],
        ),
        hourly_cost_ore=row["hourly_cost_ore"],
        service_level_permille=row["service_level_permille"],
        threshold_seconds=row["threshold_seconds"],
        shrinkage_permille=row["shrinkage_permille"],
        max_occupancy_permille=row["max_occupancy_permille"],
    )


def _text(form: dict[str, Any], name: str, default: str = "") -> str:
    value = form.get(name, default)
    if isinstance(value, list):
        value = value[0] if value else default
    return str(value).strip()[:40]


def kroner_to_ore(text: str, field: str) -> int:
    """``450``, ``450.50`` or ``450,50`` kroner as øre; refuses negatives and fractions of an øre."""
    value = exact(text, field) * 100
    if value < 0:
        raise FederationError(field, "must not be negative", key="negative")
    if value.denominator != 1:
        raise FederationError(field, "at most two decimals (whole øre)", key="whole_ore")
    if value > MAX_HOURLY_COST_ORE:
        raise FederationError(
            field, f"at most {MAX_HOURLY_COST_ORE // 100} kr. an hour", key="cost_max", most=MAX_HOURLY_COST_ORE // 100
        )
    return int(value)


def key_from_form(form: dict[str, Any], fallback: AllocationKey | None = None) -> AllocationKey:
    """The allocation key a form (or query) names; checked (weights sum to exactly 1 for a mix)."""
    base = fallback or AllocationKey()
    kind = _text(form, "key", base.kind)
    if kind not in KEY_KINDS:
        raise FederationError("key", f"must be one of {', '.join(KEY_KINDS)}", key="key_kind")
    key = AllocationKey(
        kind=kind,  # type: ignore[arg-type]
        calls=_text(form, "weight_calls", base.calls) or "0",
        minutes=_text(form, "weight_minutes", base.minutes) or "0",
        population=_text(form, "weight_population", base.population) or "0",
    )
    key.weights()
    return key


def _permille(text: str, field: str, low: Fraction, high: Fraction) -> int:
    value = exact(text, field)
    if value > 1:  # written as a percentage
        value /= 100
    if not low <= value <= high:
        raise FederationError(
            field,
            f"must be between {float(low):g} and {float(high):g} (or as a percentage)",
            key="share_range",
            low=f"{float(low) * 100:g}",
            high=f"{float(high) * 100:g}",
        )
    return round(value * 1000)


def from_form(form: dict[str, Any], current: FederationConfig) -> FederationConfig:
    """The settings a coordinator's form asks for; every field optional (unchanged when absent)."""
    changed = current
    if "key" in form:
        changed = replace(changed, key=key_from_form(form, current.key))
    if "hourly_cost" in form:
        changed = replace(changed, hourly_cost_ore=kroner_to_ore(_text(form, "hourly_cost"), "hourly_cost"))
    if "target" in form:
        changed = replace(
            changed,
            service_level_permille=_permille(_text(form, "target"), "target", Fraction(1, 2), Fraction(99, 100)),
        )
    if "threshold_seconds" in form:
        text = _text(form, "threshold_seconds")
        if not text.isdigit() or not 1 <= int(text) <= 600:
            raise FederationError(
                "threshold_seconds", "a whole number of seconds from 1 to 600", key="count_range", low=1, high=600
            )
        changed = replace(changed, threshold_seconds=int(text))
    if "shrinkage" in form:
        changed = replace(
            changed, shrinkage_permille=_permille(_text(form, "shrinkage"), "shrinkage", Fraction(0), Fraction(7, 10))
        )
    if "max_occupancy" in form:
        changed = replace(
            changed,
            max_occupancy_permille=_permille(
                _text(form, "max_occupancy"), "max_occupancy", Fraction(1, 2), Fraction(1)
            ),
        )
    return changed


async def save(config: FederationConfig, *, by: str, now: dt.datetime) -> None:
    """Store the settings (the caller owns the transaction)."""
    await repository.save_settings(
        {
            "allocation_key": config.key.kind,
            "weight_calls": config.key.calls,
            "weight_minutes": config.key.minutes,
            "weight_population": config.key.population,
            "hourly_cost_ore": config.hourly_cost_ore,
            "service_level_permille": config.service_level_permille,
            "threshold_seconds": config.threshold_seconds,
            "shrinkage_permille": config.shrinkage_permille,
            "max_occupancy_permille": config.max_occupancy_permille,
            "updated_at": now.astimezone(dt.UTC),
            "updated_by": by[:200],
        }
    )
