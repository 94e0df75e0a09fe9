"""Geometry of the inline SVG bar chart drawn above each leaderboard table.

Only numbers and plain strings come out of here; the template draws them, so every label is escaped
by Jinja like any other text.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 720
LABEL_WIDTH = 280
VALUE_WIDTH = 70
ROW_HEIGHT = 22
TOP = 24
BOTTOM = 8
MAX_LABEL_CHARS = 40


@dataclass(frozen=True)
class Bar:
    """One horizontal bar with its 95% interval whisker; x positions in SVG user units."""

    x: float
    y: float
    label: str
    full_label: str
    width: float
    low_x: float
    high_x: float
    value_text: str
    baseline: bool


@dataclass(frozen=True)
class Chart:
    """A whole chart: size, the plot's left edge and width, bars and axis ticks ``(x, text)``."""

    width: int
    height: int
    plot_x: int
    plot_width: int
    metric: str
    bars: list[Bar]
    ticks: list[tuple[float, str]]


def short(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10.0 ** int(f"{value:e}".split("e")[1])
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def bar_chart(metric: str, rows: list[tuple[str, float, float, float, bool]]) -> Chart:
    """A chart of ``rows``: ``(label, value, low, high, is_baseline)``, drawn in the given order.

    The axis runs from 0 (or the lowest negative value) to a round number above the highest interval.
    """
    plot_x = LABEL_WIDTH
    plot_width = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    top = _nice_max(max((high for _, _, _, high, _ in rows), default=1.0))
    bottom = min(0.0, min((low for _, _, low, _, _ in rows), default=0.0))
    span = (top - bottom) or 1.0

    def x(v: float) -> float:
        return round(plot_x + (v - bottom) / span * plot_width, 2)

    zero = x(0.0)
    bars = [
        Bar(
            x=min(zero, x(value)),
            y=TOP + i * ROW_HEIGHT,
            label=short(label),
            full_label=label,
            width=round(abs(x(value) - zero), 2),
            low_x=x(low),
            high_x=x(high),
            value_text=f"{value:.3f}",
            baseline=baseline,
        )
        for i, (label, value, low, high, baseline) in enumerate(rows)
    ]
    ticks = [(x(bottom + span * k / 4), f"{bottom + span * k / 4:g}") for k in range(5)]
    height = TOP + len(rows) * ROW_HEIGHT + BOTTOM
    return Chart(WIDTH, height, plot_x, plot_width, metric, bars, ticks)
