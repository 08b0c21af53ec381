"""A stacked bar chart as an SVG element, from plain values.

Why our own and not a charting library: the console's policy admits styles from its own
origin only, and the libraries that draw SVG on the server (pygal, matplotlib's SVG
backend) style it with an inline ``<style>`` element, which that policy blocks, and add
script for tooltips; what the DPO needs is one kind of chart (bars, stacked by series),
which fits in this module and its tests. Everything here is pure: no Flask, no database.

Accessibility: the SVG is ``role="img"`` named by its ``<title>`` and described by its
``<desc>``; every bar has a ``<title>`` (the browser's tooltip) saying series, bucket and
value; the page shows the same numbers as a table beside it. Colours have at least 3:1
contrast with white (WCAG 1.4.11) and stacked segments are parted by a white line, so
they stay apart in grey print. Every bar carries its numbers as ``data-*`` attributes,
which the tests read back and compare with the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

# Dark enough for 3:1 against white, and of different lightness from one to the next.
PALETTE = ("#1d3b5c", "#c45c00", "#2e7d32", "#8e3b8e", "#a61b1b", "#0a7c86", "#5c6b7a",
           "#7a5c00")

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP = 52, 12, 22
AXIS_BOTTOM = 44  # room for the bucket labels under the bars
LEGEND_ROW = 18
FONT = 12
CHAR = 6.6  # an average glyph's width at FONT px: enough to lay the legend out


@dataclass(frozen=True)
class Bars:
    """One series: a label for the legend and one value per bucket."""

    key: str
    label: str
    values: tuple[float, ...]
    # A fixed place in the palette, so that a kind keeps its colour from chart to chart;
    # None: the series' own position.
    colour: int | None = None


def _plain(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class BarChart:
    id: str  # unique within the page: the ids of the title and description derive from it
    title: str
    description: str  # what the chart shows, in a sentence; the renderer adds no words
    bucket_heading: str  # what a bucket is ("Week of", "Month"): the table's first column
    buckets: tuple[str, ...]  # one label per bar position (a week, a month)
    bucket_keys: tuple[str, ...]  # the same positions, machine-readable (ISO dates)
    series: tuple[Bars, ...]
    empty_text: str  # said in the middle of a chart with nothing to show
    value_text: Callable[[float], str] = field(default=_plain, compare=False)

    def __post_init__(self) -> None:
        if len(self.buckets) != len(self.bucket_keys):
            raise ValueError("one key per bucket label")
        for bars in self.series:
            if len(bars.values) != len(self.buckets):
                raise ValueError(f"series {bars.key} has {len(bars.values)} values "
                                 f"for {len(self.buckets)} buckets")
            if any(v < 0 or not math.isfinite(v) for v in bars.values):
                raise ValueError(f"series {bars.key} has a negative or non-finite value")

    def totals(self) -> tuple[float, ...]:
        return tuple(sum(s.values[i] for s in self.series) for i in range(len(self.buckets)))

    @property
    def is_empty(self) -> bool:
        return not any(self.totals())


def nice_ticks(top: float, most: int = 5) -> list[float]:
    """Axis ticks from 0 to at least ``top``, spaced 1, 2 or 5 times a power of ten, at
    most ``most`` steps; whole numbers once ``top`` is 1 or more."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if top >= 1:
        step = max(step, 1.0)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def _attrs(**values: object) -> str:
    return "".join(f' {name.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
                   for name, value in values.items())


def _tag(name: str, text: str | None = None, **attrs: object) -> str:
    """One element; ``text`` is escaped, attribute values too."""
    if text is None:
        return f"<{name}{_attrs(**attrs)}/>"
    return f"<{name}{_attrs(**attrs)}>{escape(text)}</{name}>"


def _n(value: float) -> str:
    return f"{value:.1f}"


def _legend_rows(labels: Sequence[str], width: float) -> list[list[tuple[int, str]]]:
    rows: list[list[tuple[int, str]]] = [[]]
    used = 0.0
    for index, label in enumerate(labels):
        needed = 14 + len(label) * CHAR + 18
        if rows[-1] and used + needed > width:
            rows.append([])
            used = 0.0
        rows[-1].append((index, label))
        used += needed
    return rows


def render(chart: BarChart) -> Markup:
    """The chart as one ``<svg>`` element, ready to put in a page. Every piece of text in
    it goes through ``_tag``/``_attrs``, which escape it: the result is safe markup."""
    colours = [(s.colour if s.colour is not None else n) % len(PALETTE)
               for n, s in enumerate(chart.series)]
    legend = _legend_rows([s.label for s in chart.series], WIDTH - LEFT - RIGHT) \
        if len(chart.series) > 1 else []
    height = HEIGHT + LEGEND_ROW * len(legend)
    bottom = HEIGHT - AXIS_BOTTOM
    plot_height, plot_width = bottom - TOP, WIDTH - LEFT - RIGHT
    ticks = nice_ticks(max(chart.totals(), default=0))
    scale = plot_height / ticks[-1]
    title_id, desc_id = f"{chart.id}-title", f"{chart.id}-desc"
    out = ["<svg" + _attrs(xmlns="http://www.w3.org/2000/svg", class_="chart", role="img",
                           id=chart.id, viewBox=f"0 0 {WIDTH} {height}",
                           aria_labelledby=title_id, aria_describedby=desc_id,
                           font_size=FONT) + ">",
           _tag("title", chart.title, id=title_id), _tag("desc", chart.description, id=desc_id)]

    out.append('<g class="axis" fill="#4b5560" stroke="#8a96a3">')
    for tick in ticks:
        y = bottom - tick * scale
        out.append(_tag("line", x1=LEFT, x2=WIDTH - RIGHT, y1=_n(y), y2=_n(y),
                        stroke_width=0.5 if tick else 1))
        out.append(_tag("text", chart.value_text(tick), x=LEFT - 6, y=_n(y + 4),
                        text_anchor="end", stroke="none"))
    out.append("</g>")

    slot = plot_width / max(len(chart.buckets), 1)
    bar = max(min(slot * 0.7, 48), 1)
    # A label every `every` buckets, so that they never overlap.
    longest = max((len(b) for b in chart.buckets), default=1)
    every = max(1, math.ceil((longest * CHAR + 6) / slot))
    out.append('<g class="buckets" fill="#4b5560">')
    for index, label in enumerate(chart.buckets):
        if index % every == 0:
            out.append(_tag("text", label, x=_n(LEFT + slot * index + slot / 2), y=bottom + 16,
                            text_anchor="middle"))
    out.append("</g>")

    if chart.is_empty:
        out.append(_tag("text", chart.empty_text, class_="empty", x=LEFT + plot_width / 2,
                        y=TOP + plot_height / 2, text_anchor="middle", fill="#4b5560"))
    for number, series in enumerate(chart.series):
        colour = colours[number]
        out.append("<g" + _attrs(class_=f"series s{colour}", fill=PALETTE[colour],
                                 stroke="#ffffff", data_series=series.key) + ">")
        for index, value in enumerate(series.values):
            if not value:
                continue
            below = sum(s.values[index] for s in chart.series[:number])
            tip = f"{series.label}, {chart.buckets[index]}: {chart.value_text(value)}"
            out.append("<rect" + _attrs(
                x=_n(LEFT + slot * index + (slot - bar) / 2), y=_n(bottom - (below + value) * scale),
                width=_n(bar), height=_n(value * scale), data_bucket=chart.bucket_keys[index],
                data_value=_plain(value)) + ">" + _tag("title", tip) + "</rect>")
        out.append("</g>")
    out.append('<g class="totals" fill="#1a1d21" text-anchor="middle">')
    for index, total in enumerate(chart.totals()):
        if total and bar >= 14:  # no room above thinner bars: the table has the numbers
            out.append(_tag("text", chart.value_text(total), x=_n(LEFT + slot * index + slot / 2),
                            y=_n(bottom - total * scale - 4), data_bucket=chart.bucket_keys[index],
                            data_total=_plain(total)))
    out.append("</g>")

    if legend:
        out.append('<g class="legend" fill="#1a1d21">')
        for row, entries in enumerate(legend):
            y, x = HEIGHT - 8 + row * LEGEND_ROW, float(LEFT)
            for index, label in entries:
                out.append(_tag("rect", x=_n(x), y=y - 10, width=12, height=12,
                                fill=PALETTE[colours[index]]))
                out.append(_tag("text", label, x=_n(x + 16), y=y))
                x += 14 + len(label) * CHAR + 18
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text and attribute above is escaped)
