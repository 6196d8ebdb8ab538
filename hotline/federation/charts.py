"""Chart geometry for the federation screens, computed here and drawn by the templates as inline SVG (no chart
library, no inline styles: colours come from CSS classes). Every chart carries its figures as text too."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hotline.federation.schemas import HourForecast, Settlement


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    css: str = ""


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class ForecastChart:
    width: int
    height: int
    plot_top: float
    plot_bottom: float
    bars: list[Bar]
    points: list[Point]
    line: str
    """SVG ``points`` of the agents-needed line."""
    calls_ticks: list[Tick]
    agents_ticks: list[Tick]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def forecast_chart(hours: list[HourForecast], *, width: int = 640, height: int = 220) -> ForecastChart:
    """Bars: calls expected per hour (left axis); line with dots: agents needed (right axis)."""
    left, right, top, bottom = 44.0, 40.0, 12.0, 28.0
    plot_w, plot_h = width - left - right, height - top - bottom
    calls_max = _nice_max(max((h.calls for h in hours), default=0))
    agents_max = _nice_max(max((h.agents_needed for h in hours), default=0))
    slot = plot_w / max(len(hours), 1)
    bars, points = [], []
    for index, hour in enumerate(hours):
        bar_h = plot_h * hour.calls / calls_max
        x = left + index * slot
        bars.append(
            Bar(
                x=round(x + slot * 0.15, 1),
                y=round(top + plot_h - bar_h, 1),
                width=round(slot * 0.7, 1),
                height=round(bar_h, 1),
                label=f"{hour.start:%H}",
                value=f"{hour.calls:.1f}",
            )
        )
        points.append(
            Point(
                x=round(x + slot / 2, 1),
                y=round(top + plot_h - plot_h * hour.agents_needed / agents_max, 1),
                value=str(hour.agents_needed),
            )
        )
    return ForecastChart(
        width=width,
        height=height,
        plot_top=top,
        plot_bottom=top + plot_h,
        bars=bars,
        points=points,
        line=" ".join(f"{p.x},{p.y}" for p in points),
        calls_ticks=[Tick(round(top + plot_h * (1 - f), 1), f"{calls_max * f:g}") for f in (0, 0.5, 1)],
        agents_ticks=[Tick(round(top + plot_h * (1 - f), 1), f"{agents_max * f:g}") for f in (0, 0.5, 1)],
    )


@dataclass(frozen=True)
class BalanceChart:
    width: int
    height: int
    zero_x: float
    bars: list[Bar]


def balance_chart(settlement: Settlement, money: dict[str, str], *, width: int = 720, row: int = 18) -> BalanceChart:
    """A diverging bar per member kommune: right of the axis (owed money) or left (owes), largest first."""
    label_w, value_w = 170.0, 110.0
    plot_w = width - label_w - value_w
    zero_x = label_w + plot_w / 2
    largest = max((abs(k.balance_ore) for k in settlement.kommuner), default=0) or 1
    ordered = sorted(settlement.kommuner, key=lambda k: (-k.balance_ore, k.code))
    bars = []
    for index, k in enumerate(ordered):
        length = (plot_w / 2) * abs(k.balance_ore) / largest
        x = zero_x if k.balance_ore >= 0 else zero_x - length
        bars.append(
            Bar(
                x=round(x, 1),
                y=float(8 + index * row),
                width=round(max(length, 0.5 if k.balance_ore else 0), 1),
                height=float(row - 5),
                label=k.name,
                value=money[k.code],
                css="owed" if k.balance_ore > 0 else "owes" if k.balance_ore < 0 else "even",
            )
        )
    return BalanceChart(width=width, height=16 + len(bars) * row, zero_x=round(zero_x, 1), bars=bars)
