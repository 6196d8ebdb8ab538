"""Server-rendered SVG charts for the dashboards: no chart library, no script, no inline style (the strict CSP
holds); colours are SVG attributes. Every chart has a title and a description for screen readers, and the pages
show the same numbers as a table beside it (the text alternative)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

from hotline.figures.service import DayPoint, Heatmap
from hotline.figures.targets import Target

OFFERED: Final = "#1f5f8b"
ANSWERED: Final = "#5fa8d3"
LINE: Final = "#1b6e3a"
TARGET: Final = "#b3261e"
GRID: Final = "#c8ccd0"
TEXT: Final = "#222222"
# Sequential blues for the heatmap, light (few) to dark (many); the legend shows the same steps.
STEPS: Final = ("#f1f6fb", "#cfe1f2", "#93c3df", "#4a98c9", "#1764ab", "#08306b")


_ids = itertools.count(1)


def _svg(width: int, height: int, title: str, desc: str, body: str) -> Markup:
    n = next(_ids)
    return Markup(  # noqa: S704 - every text in it went through escape()
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="chart-t{n} chart-d{n}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-t{n}">{escape(title)}</title><desc id="chart-d{n}">{escape(desc)}</desc>{body}</svg>'
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 11, fill: str = TEXT) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{escape(text)}</text>'
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step * 4:
            return float(step * 4)
    return float(value)


def day_bars(days: Sequence[DayPoint], *, title: str, offered_label: str, answered_label: str) -> Markup:
    """Offered and answered per day, side by side, with a legend."""
    width, height, left, bottom, top = 720, 240, 40, 36, 28
    plot_w, plot_h = width - left - 10, height - bottom - top
    top_value = _nice_max(max((d.offered for d in days), default=0))
    slot = plot_w / max(len(days), 1)
    bar = max(slot / 2 - 1, 0.5)
    parts = [
        f'<rect x="{left}" y="4" width="12" height="12" fill="{OFFERED}"/>',
        _text(left + 16, 14, offered_label),
        f'<rect x="{left + 140}" y="4" width="12" height="12" fill="{ANSWERED}"/>',
        _text(left + 156, 14, answered_label),
    ]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(left - 4, y + 4, f"{value:g}", anchor="end", size=10))
    label_every = max(1, len(days) // 10)
    for index, point in enumerate(days):
        x = left + index * slot
        for offset, value, colour, name in (
            (0.0, point.offered, OFFERED, offered_label),
            (bar + 1, point.answered, ANSWERED, answered_label),
        ):
            h = plot_h * value / top_value
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(f"{point.day.isoformat()}: {name} {value}")}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(_text(x + bar, height - bottom + 14, point.day.strftime("%d.%m"), anchor="middle", size=10))
    total_offered = sum(d.offered for d in days)
    total_answered = sum(d.answered for d in days)
    desc = f"{len(days)} days; {offered_label} {total_offered}, {answered_label} {total_answered}"
    return _svg(width, height, title, desc, "".join(parts))


def line_vs_target(
    days: Sequence[DayPoint], target: float | None, *, title: str, line_label: str, target_label: str
) -> Markup:
    """The daily service level (per cent) as a line, with the target as a dashed line."""
    width, height, left, bottom, top = 720, 220, 40, 30, 28
    plot_w, plot_h = width - left - 10, height - bottom - top
    slot = plot_w / max(len(days) - 1, 1)
    parts = [
        f'<line x1="{left}" x2="{left + 14}" y1="10" y2="10" stroke="{LINE}" stroke-width="3"/>',
        _text(left + 18, 14, line_label),
        f'<line x1="{left + 200}" x2="{left + 214}" y1="10" y2="10" stroke="{TARGET}" stroke-width="2" '
        'stroke-dasharray="4 3"/>',
        _text(left + 218, 14, target_label),
    ]
    for value in (0, 25, 50, 75, 100):
        y = top + plot_h - plot_h * value / 100
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(left - 4, y + 4, f"{value} %", anchor="end", size=10))
    points = [
        (left + i * slot, top + plot_h - plot_h * d.sl1 / 100, d) for i, d in enumerate(days) if d.sl1 is not None
    ]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2.5"/>')
        for x, y, d in points:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE}">'
                f"<title>{escape(f'{d.day.isoformat()}: {d.sl1} %')}</title></circle>"
            )
    if target is not None:
        y = top + plot_h - plot_h * target / 100
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="{TARGET}" stroke-width="2" '
            'stroke-dasharray="4 3"/>'
        )
    label_every = max(1, len(days) // 10)
    for index, d in enumerate(days):
        if index % label_every == 0:
            parts.append(_text(left + index * slot, height - 8, d.day.strftime("%d.%m"), anchor="middle", size=10))
    measured = [d.sl1 for d in days if d.sl1 is not None]
    desc = f"{len(measured)} days measured" + (f"; target {target:g} %" if target is not None else "")
    return _svg(width, height, title, desc, "".join(parts))


def hbars(items: Sequence[tuple[str, float]], *, title: str, unit: str = "", colour: str = OFFERED) -> Markup:
    """Horizontal bars with their labels and values (topics, CSAT per topic)."""
    row, label_w, width = 24, 190, 540
    height = max(row * len(items) + 8, 30)
    top_value = max((v for _, v in items), default=0) or 1
    parts = []
    for index, (label, value) in enumerate(items):
        y = 4 + index * row
        w = (width - label_w - 80) * value / top_value
        parts.append(_text(label_w - 6, y + 15, label[:28], anchor="end", size=13))
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{colour}"/>')
        parts.append(_text(label_w + w + 6, y + 15, f"{value:g}{unit}", size=13))
    return _svg(width, height, title, f"{len(items)} rows", "".join(parts))


def inline_bar(value: float | None, top: float, *, label: str) -> Markup:
    """A small bar for a table cell (the number is in the cell's text too). Kept tiny, since a federation table has
    one per kommune and figure: colours come from the stylesheet (``.inline-bar``)."""
    if value is None or top <= 0:
        return Markup("")
    w = max(0.0, min(100.0, 100.0 * value / top))
    hidden = f'<span class="visually-hidden">{escape(label)}</span>' if label else ""
    return Markup(  # noqa: S704 - numbers and escaped text only
        f'<svg class="inline-bar" viewBox="0 0 100 8" aria-hidden="true">'
        f'<rect width="{w:.0f}" height="8"/></svg>{hidden}'
    )


def _step(value: float, top: float) -> int:
    if top <= 0 or value <= 0:
        return 0
    return min(len(STEPS) - 1, 1 + int((len(STEPS) - 2) * value / top))


def heatmap(
    grid: Heatmap,
    *,
    weekdays: Sequence[str],
    title: str,
    measure: str,
    unit: str,
    legend_label: str,
) -> Markup:
    """Weekday × hour cells; ``measure`` "offered" (calls) or "wait" (average seconds). Darker = more."""
    cell_w, cell_h, left, top = 26, 22, 70, 22
    width, height = left + 24 * cell_w + 10, top + 7 * cell_h + 56

    def value(weekday: int, hour: int) -> float | None:
        if measure == "offered":
            return float(grid.offered[weekday][hour])
        return grid.average_wait(weekday, hour)

    values = [value(d, h) for d in range(7) for h in range(24)]
    top_value = max((v for v in values if v is not None), default=0.0)
    parts = []
    for hour in range(0, 24, 2):
        parts.append(_text(left + hour * cell_w + cell_w / 2, top - 6, f"{hour:02d}", anchor="middle", size=10))
    for weekday in range(7):
        y = top + weekday * cell_h
        parts.append(_text(left - 6, y + cell_h / 2 + 4, weekdays[weekday], anchor="end", size=11))
        for hour in range(24):
            v = value(weekday, hour)
            colour = STEPS[_step(v or 0.0, top_value)]
            shown = "–" if v is None else f"{v:g}{unit}"
            parts.append(
                f'<rect x="{left + hour * cell_w}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                f'fill="{colour}"><title>{escape(f"{weekdays[weekday]} {hour:02d}:00: {shown}")}</title></rect>'
            )
    legend_y = top + 7 * cell_h + 16
    parts.append(_text(left, legend_y + 11, legend_label, size=11))
    for index, colour in enumerate(STEPS):
        low = 0 if index == 0 else top_value * (index - 1) / (len(STEPS) - 2)
        x = left + 150 + index * 70
        parts.append(f'<rect x="{x}" y="{legend_y}" width="16" height="14" fill="{colour}" stroke="{GRID}"/>')
        label = "0" if index == 0 else ("> 0" if index == 1 else f"≥ {low:.0f}{unit}")
        parts.append(_text(x + 20, legend_y + 11, label, size=10))
    busiest = max(range(len(values)), key=lambda i: values[i] or 0.0) if top_value else None
    desc = (
        "no calls"
        if busiest is None
        else f"highest {top_value:g}{unit} on {weekdays[busiest // 24]} {busiest % 24:02d}:00"
    )
    return _svg(width, height, title, desc, "".join(parts))


def weekday_names(language: str) -> list[str]:
    if language == "en":
        return ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    return ["man", "tir", "ons", "tor", "fre", "lør", "søn"]


def period_label(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()} – {(end - dt.timedelta(days=1)).isoformat()}"


@dataclass(frozen=True)
class Panel:
    """One small multiple of :func:`kommune_panels`: a figure's heading, its unit and, per kommune row, the
    value and that kommune's target (``None``: no target, or no value in the period)."""

    title: str
    unit: str
    values: Sequence[float | None]
    targets: Sequence[Target | None]


def kommune_panels(
    names: Sequence[str],
    panels: Sequence[Panel],
    *,
    title: str,
    met_label: str,
    missed_label: str,
    target_label: str,
    no_value: str = "–",
) -> Markup:
    """Small multiples: one row per kommune (in the order given) and one column of bars per figure, each bar with
    its number and a tick at the kommune's own target. A bar that misses its target is red *and* marked ✗, so
    the colour is never the only sign."""
    row, label_w, panel_w, gap, head = 18, 170, 250, 16, 40
    width = label_w + len(panels) * (panel_w + gap)
    height = head + row * len(names) + 8
    parts = []
    summaries = []
    for index, name in enumerate(names):
        y = head + index * row
        if index % 2 == 0:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{row}" fill="#f4f6f8"/>')
        parts.append(_text(label_w - 6, y + 13, name[:26], anchor="end", size=11))
    for column, panel in enumerate(panels):
        x0 = label_w + column * (panel_w + gap) + gap / 2
        bar_w = panel_w - 70
        known = [v for v in panel.values if v is not None]
        goals = [t.value for t in panel.targets if t is not None]
        top = _nice_max(max([*known, *goals], default=0.0))
        parts.append(_text(x0, 14, panel.title, size=12))
        parts.append(_text(x0, 30, f"0 – {top:g}{panel.unit}", size=10, fill="#555555"))
        parts.append(f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{head - 2}" y2="{height - 6}" stroke="{GRID}"/>')
        missed = 0
        for index, (name, value, goal) in enumerate(zip(names, panel.values, panel.targets, strict=True)):
            y = head + index * row
            if value is None:
                parts.append(_text(x0 + 4, y + 13, no_value, size=11))
                continue
            met = goal.met(value) if goal is not None else None
            missed += met is False
            w = bar_w * value / top
            goal_text = (
                f" ({target_label} {goal.comparison.replace('<=', '≤').replace('>=', '≥')} {goal.value:g}{panel.unit})"
                if goal
                else ""
            )
            verdict = f", {missed_label}" if met is False else (f", {met_label}" if met else "")
            parts.append(
                f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                f'fill="{TARGET if met is False else OFFERED}">'
                f"<title>{escape(f'{name}: {panel.title} {value:g}{panel.unit}{goal_text}{verdict}')}</title></rect>"
            )
            mark = " ✗" if met is False else ""
            # The number goes after the bar or the target tick, whichever ends later, so neither hides it.
            end = x0 + w
            if goal is not None:
                gx = x0 + bar_w * goal.value / top
                end = max(end, gx + 2)
                parts.append(
                    f'<line x1="{gx:.1f}" x2="{gx:.1f}" y1="{y + 1}" y2="{y + row - 1}" stroke="{TEXT}" '
                    'stroke-width="2"/>'
                )
            parts.append(_text(end + 4, y + 13, f"{value:g}{panel.unit}{mark}", size=11))
        summaries.append(f"{panel.title}: {missed} {missed_label.lower()}" if goals else panel.title)
    desc = f"{len(names)} kommuner; " + "; ".join(summaries)
    return _svg(width, height, title, desc, "".join(parts))
