"""The DPO's four charts, from bastion.controls.trends, in the viewer's language: sessions
per vendor per week, hours on health or INS servers per week, flags per week, emergency
accesses per month."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask_babel import format_date, format_decimal, gettext

from bastion import controls
from bastion.controls.trends import JUSTIFIED, OPEN, UNJUSTIFIED, Monthly, Weekly

from .bars import BarChart, Bars

# Palette places (bars.PALETTE): justified green, not justified red, still open orange.
STATE_COLOURS = {JUSTIFIED: 2, UNJUSTIFIED: 4, OPEN: 1}


def _count(value: float) -> str:
    return format_decimal(value, "#,##0")


def _hours(value: float) -> str:
    return format_decimal(value, "#,##0.#")


def _weekly(trends: Weekly, *, id: str, title: str, description: str, series: tuple[Bars, ...],
            empty_text: str, value_text: Callable[[float], str]) -> BarChart:
    return BarChart(id=id, title=title, description=description,
                    bucket_heading=gettext("Week of"),
                    buckets=tuple(format_date(w, "d MMM") for w in trends.weeks),
                    bucket_keys=tuple(w.isoformat() for w in trends.weeks), series=series,
                    empty_text=empty_text, value_text=value_text)


def _span(weeks: tuple[date, ...]) -> str:
    if not weeks:
        return ""
    return gettext("from the week of %(first)s to the week of %(last)s",
                   first=format_date(weeks[0], "d MMMM yyyy"),
                   last=format_date(weeks[-1], "d MMMM yyyy"))


def sessions_chart(trends: Weekly) -> BarChart:
    total = sum(sum(s.values) for s in trends.sessions_by_vendor)
    return _weekly(
        trends, id="chart-sessions", title=gettext("Sessions per vendor per week"),
        description=gettext("Stacked bars, one colour per vendor, %(span)s: %(n)s session(s) "
                            "in all.", span=_span(trends.weeks), n=_count(total)),
        series=tuple(Bars(s.key, trends.vendor_names.get(s.key, s.key), s.values)
                     for s in trends.sessions_by_vendor),
        empty_text=gettext("No session in this period."), value_text=_count)


def sensitive_hours_chart(trends: Weekly) -> BarChart:
    return _weekly(
        trends, id="chart-sensitive-hours",
        title=gettext("Hours of access to servers holding health or INS data, per week"),
        description=gettext("Bars, %(span)s: %(hours)s hour(s) in all, counted in the week each "
                            "session started, with the data categories the server held then.",
                            span=_span(trends.weeks), hours=_hours(sum(trends.sensitive_hours))),
        series=(Bars("hours", gettext("Hours"), trends.sensitive_hours),),
        empty_text=gettext("No session on health or INS data in this period."),
        value_text=_hours)


def flags_chart(trends: Weekly, language: str) -> BarChart:
    total = sum(sum(s.values) for s in trends.flags_by_kind)
    return _weekly(
        trends, id="chart-flags", title=gettext("Flags per week"),
        description=gettext("Stacked bars, one colour per kind of flag, %(span)s: %(n)s flag(s) "
                            "in all.", span=_span(trends.weeks), n=_count(total)),
        series=tuple(Bars(s.key, controls.kind_name(s.key, language), s.values,
                          colour=controls.FLAG_KINDS.index(s.key))
                     for s in trends.flags_by_kind),
        empty_text=gettext("Nothing was flagged in this period."), value_text=_count)


def break_glass_chart(trends: Monthly) -> BarChart:
    months = [format_date(m, "MMM yyyy") for m in trends.months]
    names = {JUSTIFIED: gettext("Justified"), OPEN: gettext("Review open")}
    total = sum(sum(s.values) for s in trends.break_glass_by_state)
    return BarChart(
        id="chart-break-glass", title=gettext("Emergency accesses (break-glass) per month"),
        description=gettext("Stacked bars by the state of the review (justified, not justified, "
                            "open), from %(first)s to %(last)s: %(n)s emergency access(es) in all.",
                            first=months[0] if months else "", last=months[-1] if months else "",
                            n=_count(total)),
        bucket_heading=gettext("Month"), buckets=tuple(months),
        bucket_keys=tuple(m.isoformat() for m in trends.months),
        series=tuple(Bars(s.key, names.get(s.key, gettext("Not justified")), s.values,
                          colour=STATE_COLOURS[s.key])
                     for s in trends.break_glass_by_state),
        empty_text=gettext("No emergency access in this period."), value_text=_count)


def dpo_charts(weekly: Weekly, monthly: Monthly, language: str) -> list[BarChart]:
    return [sessions_chart(weekly), sensitive_hours_chart(weekly), flags_chart(weekly, language),
            break_glass_chart(monthly)]
