"""The SVG bar chart renderer (web.charts.bars), pure: tables of cases and properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.web.test_accessibility import contrast
from web.charts import PALETTE, BarChart, Bars, nice_ticks, render
from web.charts.bars import HEIGHT, LEGEND_ROW

SVG = "{http://www.w3.org/2000/svg}"


def chart(series: tuple[Bars, ...], buckets: tuple[str, ...] = ("W1", "W2", "W3"),
          **changes: object) -> BarChart:
    fields: dict[str, object] = dict(
        id="c1", title="Sessions <per> week", description="Stacked bars & numbers",
        bucket_heading="Week", buckets=buckets,
        bucket_keys=tuple(f"2026-03-0{i + 1}" for i in range(len(buckets))), series=series,
        empty_text="Nothing here")
    fields.update(changes)
    return BarChart(**fields)  # type: ignore[arg-type]


def parsed(c: BarChart) -> ET.Element:
    return ET.fromstring(str(render(c)))


def bars_of(svg: ET.Element) -> dict[tuple[str, str], ET.Element]:
    found = {}
    for group in svg.iter(SVG + "g"):
        for rect in group.iter(SVG + "rect"):
            if group.get("data-series"):
                found[(group.get("data-series"), rect.get("data-bucket"))] = rect
    return found


@pytest.mark.parametrize(("top", "ticks"), [
    (0, [0, 1]),
    (1, [0, 1]),
    (3, [0, 1, 2, 3]),
    (5, [0, 1, 2, 3, 4, 5]),
    (7, [0, 2, 4, 6, 8]),
    (10, [0, 2, 4, 6, 8, 10]),
    (23, [0, 5, 10, 15, 20, 25]),
    (0.35, [0, 0.1, 0.2, 0.3, 0.4]),
    (1200, [0, 500, 1000, 1500]),
])
def test_axis_ticks(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top) == pytest.approx(ticks)


@given(st.floats(min_value=0.001, max_value=1e9, allow_nan=False))
def test_ticks_cover_the_top_in_round_even_steps(top: float) -> None:
    ticks = nice_ticks(top)
    assert ticks[0] == 0 and ticks[-1] >= top * (1 - 1e-9)
    step = ticks[1]
    assert len(ticks) <= 6
    assert all(t == pytest.approx(i * step) for i, t in enumerate(ticks))
    assert f"{step:.3e}"[0] in "125" and f"{step:.3e}"[1:5] == ".000", step
    if top >= 1:
        assert step == int(step)


def test_bars_stack_with_their_values_and_totals() -> None:
    c = chart((Bars("acme", "Acme", (2, 0, 1)), Bars("medi", "Médilogic", (3, 4, 0))))
    svg = parsed(c)
    bars = bars_of(svg)
    assert {k: float(b.get("data-value")) for k, b in bars.items()} == {
        ("acme", "2026-03-01"): 2, ("acme", "2026-03-03"): 1,
        ("medi", "2026-03-01"): 3, ("medi", "2026-03-02"): 4}  # zeros are not drawn
    lower, upper = bars[("acme", "2026-03-01")], bars[("medi", "2026-03-01")]
    # Stacked: the second series sits on the first, heights in proportion to values.
    assert float(upper.get("y")) + float(upper.get("height")) == pytest.approx(
        float(lower.get("y")), abs=0.11)
    assert float(upper.get("height")) / float(lower.get("height")) == pytest.approx(1.5, rel=0.02)
    totals = {t.get("data-bucket"): float(t.get("data-total"))
              for t in svg.iter(SVG + "text") if t.get("data-total")}
    assert totals == {"2026-03-01": 5, "2026-03-02": 4, "2026-03-03": 1}
    assert c.totals() == (5, 4, 1)
    tips = [t.text for t in upper.iter(SVG + "title")]
    assert tips == ["Médilogic, W1: 3"]
    legend = [t.text for g in svg.iter(SVG + "g") if g.get("class") == "legend"
              for t in g.iter(SVG + "text")]
    assert legend == ["Acme", "Médilogic"]


def test_accessible_names_and_no_inline_style() -> None:
    c = chart((Bars("a", "A", (1, 2, 3)),))
    text = str(render(c))
    svg = ET.fromstring(text)
    assert svg.get("role") == "img"
    assert svg.find(SVG + "title").text == "Sessions <per> week"  # escaped, read back
    assert svg.find(SVG + "desc").text == "Stacked bars & numbers"
    assert svg.get("aria-labelledby") == "c1-title" and svg.get("aria-describedby") == "c1-desc"
    # The console's policy blocks inline styles: presentation attributes only.
    assert "style" not in text and "<script" not in text
    assert not [g for g in svg.iter(SVG + "g") if g.get("class") == "legend"]  # one series


def test_an_empty_chart_says_so() -> None:
    svg = parsed(chart((Bars("a", "A", (0, 0, 0)),)))
    assert [t.text for t in svg.iter(SVG + "text") if t.get("class") == "empty"] == ["Nothing here"]
    assert bars_of(svg) == {}
    assert parsed(chart((), buckets=())).get("role") == "img"


def test_hostile_labels_are_escaped() -> None:
    c = chart((Bars("x\"><script>", "<b>&amp;</b>", (1, 0, 0)),),
              buckets=("<i>", "2", "3"))
    svg = parsed(c)  # still well-formed XML
    assert ("x\"><script>", "2026-03-01") in bars_of(svg)
    assert "<script>" not in str(render(c))


@pytest.mark.parametrize(("changes", "error"), [
    ({"bucket_keys": ("a",)}, "one key per bucket"),
    ({"series": (Bars("a", "A", (1, 2)),)}, "has 2 values for 3 buckets"),
    ({"series": (Bars("a", "A", (1, -2, 0)),)}, "negative"),
    ({"series": (Bars("a", "A", (1, float("nan"), 0)),)}, "non-finite"),
])
def test_bad_input_is_refused(changes: dict[str, object], error: str) -> None:
    series = changes.pop("series", (Bars("a", "A", (1, 2, 3)),))
    with pytest.raises(ValueError, match=error):
        chart(series, **changes)  # type: ignore[arg-type]


def test_many_series_wrap_the_legend_and_many_buckets_thin_the_labels() -> None:
    series = tuple(Bars(f"v{i}", f"A vendor with a long name {i}", (1,) * 52) for i in range(9))
    c = chart(series, buckets=tuple(f"{i} Mar" for i in range(52)),
              bucket_keys=tuple(f"k{i}" for i in range(52)))
    svg = parsed(c)
    height = float(svg.get("viewBox").split()[3])
    assert height > HEIGHT + LEGEND_ROW  # more than one legend row
    labels = [t.text for g in svg.iter(SVG + "g") if g.get("class") == "buckets"
              for t in g.iter(SVG + "text")]
    assert 0 < len(labels) < 52 and labels[0] == "0 Mar"
    assert len(bars_of(svg)) == 9 * 52
    # Colours cycle through the palette after the eighth series.
    groups = [g for g in svg.iter(SVG + "g") if g.get("data-series")]
    assert groups[8].get("fill") == groups[0].get("fill") == PALETTE[0]


def test_a_series_may_keep_a_fixed_colour() -> None:
    svg = parsed(chart((Bars("a", "A", (1, 0, 0), colour=4), Bars("b", "B", (0, 1, 0)))))
    groups = {g.get("data-series"): g.get("fill") for g in svg.iter(SVG + "g") if g.get("data-series")}
    assert groups == {"a": PALETTE[4], "b": PALETTE[1]}
    swatches = [r.get("fill") for g in svg.iter(SVG + "g") if g.get("class") == "legend"
                for r in g.iter(SVG + "rect")]
    assert swatches == [PALETTE[4], PALETTE[1]]


@pytest.mark.parametrize("colour", PALETTE)
def test_every_colour_stands_out_from_white(colour: str) -> None:
    assert contrast(colour, "#ffffff") >= 3  # WCAG 1.4.11, graphical objects
