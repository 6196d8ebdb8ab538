"""Targets: what each kommune aims for (e.g. ASA ≤ 50 s, first-contact resolution ≥ 70 %), and how a figure
stands against its target. A kommune without its own target for a figure uses the federation default below."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Final

from hotline.figures import repository
from hotline.figures.service import FIGURES

COMPARISONS: Final = ("<=", ">=")


@dataclass(frozen=True)
class Target:
    figure: str
    comparison: str
    value: float
    own: bool = True  # False: the federation default

    def met(self, actual: float | None) -> bool | None:
        if actual is None:
            return None
        return actual <= self.value if self.comparison == "<=" else actual >= self.value


DEFAULTS: Final[dict[str, Target]] = {
    t.figure: t
    for t in (
        Target("asa", "<=", 50, own=False),
        Target("sl1", ">=", 80, own=False),
        Target("fcr", ">=", 70, own=False),
        Target("abandon_rate", "<=", 10, own=False),
        Target("callback_sl", ">=", 90, own=False),
        Target("letters_sl", ">=", 100, own=False),
        Target("handoff_week", ">=", 76, own=False),
        Target("csat", ">=", 80, own=False),
        Target("good_treatment", ">=", 90, own=False),
    )
}


class TargetError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def parse_targets(form: dict[str, Any]) -> dict[str, Target]:
    """Targets from a form or JSON body: ``<figure>`` = value (empty: use the default) and optionally
    ``<figure>__cmp`` = "<=" / ">=" (otherwise the figure's better direction decides). An unknown figure, a
    non-number, or a value outside the figure's range is refused naming the field; nothing is half-applied."""
    targets: dict[str, Target] = {}
    for key, raw in form.items():
        if key in {"_csrf_token", "lang"} or key.endswith("__cmp"):
            continue
        if key not in FIGURES:
            raise TargetError(key, f"{key}: there is no figure called {key[:40]!r}")
        info = FIGURES[key]
        text = str(raw[0] if isinstance(raw, list) else raw).strip().replace(",", ".")
        if text == "":
            continue
        try:
            value = float(text)
        except ValueError:
            raise TargetError(key, f"{key}: {text[:20]!r} is not a number") from None
        if not math.isfinite(value) or not info.low <= value <= info.high:
            raise TargetError(key, f"{key}: the target must be between {info.low:g} and {info.high:g}")
        comparison = str(form.get(f"{key}__cmp") or ("<=" if info.better == "low" else ">="))
        if comparison not in COMPARISONS:
            raise TargetError(f"{key}__cmp", f"{key}__cmp: the comparison must be '<=' or '>='")
        targets[key] = Target(key, comparison, value)
    return targets


async def targets_for(kommune: str) -> dict[str, Target]:
    """The kommune's own targets over the federation defaults."""
    merged = dict(DEFAULTS)
    for row in await repository.targets_of(kommune):
        merged[row["figure"]] = Target(row["figure"], row["comparison"], float(row["value"]))
    return merged


async def all_kommune_targets() -> dict[str, dict[str, Target]]:
    result: dict[str, dict[str, Target]] = {}
    for row in await repository.all_targets():
        result.setdefault(row["kommune_code"], dict(DEFAULTS))[row["figure"]] = Target(
            row["figure"], row["comparison"], float(row["value"])
        )
    return result


async def save_targets(kommune: str, targets: dict[str, Target], *, by: str, now: dt.datetime) -> None:
    """Replace the kommune's own targets in one transaction."""
    rows = [
        {
            "kommune_code": kommune,
            "figure": t.figure,
            "comparison": t.comparison,
            "value": t.value,
            "updated_by": by[:200],
            "updated_at": repository.utc(now),
        }
        for t in targets.values()
    ]
    async with repository.transaction():
        await repository.replace_targets(kommune, rows)
