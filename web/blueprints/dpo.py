"""The DPO's pages: a home with emergency accesses to review (overdue ones first), the
flags of a period with a link to each moment in the recordings, a break-glass review
closed with a verdict, and reports per vendor and period (CSV and printable).

The DPO audits and never changes access. Admins do not read these pages: they keep the
inventory and the accounts, and least privilege keeps them out of the review of what
technicians did (CNIL, fiche traçabilité). Exports and printable reports are audited:
they leave the console.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, get_timezone, gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.routing import BuildError
from wtforms import DateField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from bastion import breakglass, controls
from bastion.controls import Flag, Moment, trends
from bastion.hds_certificates import hds_deadlines
from bastion.models import Vendor, utcnow
from bastion.second_factor_exceptions import second_factor_exceptions

from ..access import requires
from ..charts import BarChart, render
from ..charts.dpo import dpo_charts
from ..forms import DateBounds, choices
from ..i18n import refusal_text
from ..identity import core, signed_in_principal
from .audit import _day_start

blueprint = Blueprint("dpo", __name__, url_prefix="/dpo")

READERS = ("dpo",)
FLAG_DAYS = 7  # the flags page and the home's counts: the last week by default
REPORT_DAYS = 30
TREND_WEEKS = 12  # the home's weekly charts; its break-glass chart covers 12 months


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False  # GET forms: they change nothing

    start = DateField(lazy_gettext("From"), validators=[Optional(), DateBounds()])
    end = DateField(lazy_gettext("To (included)"), validators=[Optional(), DateBounds()])
    vendor = SelectField(lazy_gettext("Vendor"), validators=[Optional()])

    def __init__(self, vendors: list[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.vendor.choices = choices([("", lazy_gettext("All vendors")), *vendors])

    def period(self, default_days: int) -> tuple[datetime, datetime]:
        """[since, until) in the viewer's zone: 'to 3 March' includes their 3 March."""
        zone = ZoneInfo(str(get_timezone()))
        today = utcnow().astimezone(zone).date()
        end = self.end.data or today
        start = self.start.data or end - timedelta(days=default_days - 1)
        return _day_start(start, zone), _day_start(end + timedelta(days=1), zone)

    def validate_end(self, field: DateField) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(gettext("The end comes before the start."))


class FlagsForm(PeriodForm):
    kind = SelectField(lazy_gettext("Kind"), validators=[Optional()])

    def __init__(self, vendors: list[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        super().__init__(vendors, *args, **kwargs)
        language = str(get_locale())
        self.kind.choices = choices([("", lazy_gettext("Any")),
                                     *[(k, controls.kind_name(k, language))
                                       for k in controls.FLAG_KINDS]])


class CloseForm(FlaskForm):
    verdict = RadioField(lazy_gettext("Verdict"), validators=[DataRequired()])
    comment = TextAreaField(lazy_gettext("Comment"), validators=[DataRequired(), Length(max=4000)],
                            description=lazy_gettext("What was checked, and why the emergency "
                                                     "was or was not justified."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verdict.choices = choices([("justified", lazy_gettext("Justified")),
                                        ("unjustified", lazy_gettext("Not justified"))])


def _vendors() -> list[tuple[str, str]]:
    with core().db.session() as db:
        return [(v.slug, v.name) for v in db.scalars(select(Vendor).order_by(Vendor.name))]


def moment_url(moment: Moment | None) -> str | None:
    """The replay at that moment, or the session's page when it has no recording. None
    when the console has no such page (an older console without the replay pages)."""
    if moment is None:
        return None
    try:
        if moment.recording_id is not None:
            return url_for("replay.show", recording_id=moment.recording_id,
                           t=moment.offset_seconds)
        return url_for("sessions.show", session_id=moment.session_id)
    except BuildError:
        return None


@blueprint.app_template_filter("bar_chart")
def bar_chart(chart: BarChart) -> str:
    return render(chart)


def _charts(since: datetime, until: datetime, months_since: datetime,
            vendor: str | None = None) -> list[BarChart]:
    zone = ZoneInfo(str(get_timezone()))
    weekly = trends.weekly(core(), since=since, until=until, zone=zone, vendor=vendor)
    monthly = trends.monthly(core(), since=months_since, until=until, zone=zone, vendor=vendor)
    return dpo_charts(weekly, monthly, str(get_locale()))


def _home_charts(now: datetime) -> list[BarChart]:
    """The last TREND_WEEKS weeks, this one included, and the last twelve months."""
    zone = ZoneInfo(str(get_timezone()))
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday() + 7 * (TREND_WEEKS - 1))
    months_back = today.year * 12 + today.month - 1 - 11
    first_month = date(months_back // 12, months_back % 12 + 1, 1)
    return _charts(_day_start(monday, zone), now + timedelta(seconds=1),
                   _day_start(first_month, zone))


@blueprint.app_template_filter("flag_kind")
def flag_kind(kind: str) -> str:
    return controls.kind_name(kind, str(get_locale()))


def _flag_rows(flags: list[Flag]) -> list[dict[str, Any]]:
    language = str(get_locale())
    return [{"flag": f, "kind": controls.kind_name(f.kind, language),
             "text": controls.describe(f, language), "url": moment_url(f.moment)}
            for f in flags]


def _audit_export(kind: str, **details: Any) -> None:
    bastion = core()
    with bastion.db.session() as db:
        bastion.audit.append(db, action="report.exported", outcome="ok",
                             actor=signed_in_principal().actor(),
                             details={"report": kind, **details})


@blueprint.get("")
@requires(*READERS)
def home() -> ResponseReturnValue:
    now = utcnow()
    reviews = breakglass.list_reviews(core(), state="open", now=now)
    flags = controls.compute_flags(core(), since=now - timedelta(days=FLAG_DAYS), until=now,
                                   now=now)
    language = str(get_locale())
    counts: dict[str, int] = {}
    for flag in flags:
        counts[flag.kind] = counts.get(flag.kind, 0) + 1
    with core().db.session() as session:
        exceptions = second_factor_exceptions(session, core().settings.ssh, now)
        deadlines = hds_deadlines(session, now)
    return render_template(
        "dpo/home.html", overdue=[r for r in reviews if r.is_overdue(now)],
        second_factor_exceptions=exceptions, hds_deadlines=deadlines,
        open_reviews=[r for r in reviews if not r.is_overdue(now)],
        counts=[(k, controls.kind_name(k, language), counts[k])
                for k in controls.FLAG_KINDS if k in counts],
        days=FLAG_DAYS, charts=_home_charts(now), weeks=TREND_WEEKS)


@blueprint.get("/flags")
@requires(*READERS)
def flags() -> ResponseReturnValue:
    form = FlagsForm(_vendors(), request.args)
    rows: list[dict[str, Any]] = []
    if form.validate():
        since, until = form.period(FLAG_DAYS)
        found = controls.compute_flags(core(), since=since, until=until,
                                       vendor=form.vendor.data or None,
                                       kinds=[form.kind.data] if form.kind.data else None)
        rows = _flag_rows(found)
    return render_template("dpo/flags.html", form=form, rows=rows,
                           args=request.args.to_dict()), 400 if form.errors else 200


@blueprint.get("/flags.csv")
@requires(*READERS)
def flags_csv() -> ResponseReturnValue:
    form = FlagsForm(_vendors(), request.args)
    if not form.validate():
        abort(400)
    since, until = form.period(FLAG_DAYS)
    found = controls.compute_flags(core(), since=since, until=until,
                                   vendor=form.vendor.data or None,
                                   kinds=[form.kind.data] if form.kind.data else None)
    out = io.StringIO()
    count = controls.write_flags_csv(found, out, ZoneInfo(core().settings.web.time_zone),
                                     str(get_locale()))
    _audit_export("flags", format="csv", rows=count, since=since.isoformat(),
                  until=until.isoformat(), vendor=form.vendor.data or None)
    return _csv(out.getvalue(), f"flags-{since:%Y%m%d}-{until:%Y%m%d}.csv")


def _csv(text: str, name: str) -> Response:
    # A BOM so spreadsheet software opens the accents of French names correctly.
    return Response("\ufeff" + text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blueprint.get("/break-glass")
@requires(*READERS)
def reviews() -> ResponseReturnValue:
    return render_template("dpo/reviews.html", reviews=breakglass.list_reviews(core()))


def _review_page(review_id: int, form: CloseForm, status: int = 200) -> ResponseReturnValue:
    try:
        review = breakglass.get_review(core(), review_id)
    except breakglass.ReviewNotFound:
        abort(404)
    principal = signed_in_principal()
    may_close = (review.is_open and principal.kind == "staff" and principal.has_role("dpo")
                 and review.declared_by != principal.username)
    return render_template("dpo/review.html", review=review, form=form,
                           may_close=may_close), status


@blueprint.get("/break-glass/<int:review_id>")
@requires(*READERS)
def review(review_id: int) -> ResponseReturnValue:
    return _review_page(review_id, CloseForm())


@blueprint.post("/break-glass/<int:review_id>")
@requires("dpo")
def close(review_id: int) -> ResponseReturnValue:
    form = CloseForm()
    if not form.validate():
        return _review_page(review_id, form, 400)
    try:
        breakglass.close_review(core(), review_id, staff=signed_in_principal().db_id,
                                verdict=form.verdict.data or "", comment=form.comment.data or "")
    except breakglass.ReviewNotFound:
        abort(404)
    except breakglass.BreakGlassError as refusal:
        flash(refusal_text(refusal), "error")
        return _review_page(review_id, form, refusal.status)
    flash(gettext("The review is closed."), "success")
    return redirect(url_for("dpo.review", review_id=review_id))


def _reports(form: PeriodForm) -> tuple[list[controls.VendorReport], datetime, datetime]:
    since, until = form.period(REPORT_DAYS)
    found = controls.vendor_reports(core(), since=since, until=until,
                                    vendor=form.vendor.data or None)
    return found, since, until


@blueprint.get("/reports")
@requires(*READERS)
def reports() -> ResponseReturnValue:
    form = PeriodForm(_vendors(), request.args)
    found: list[controls.VendorReport] = []
    period: tuple[datetime, datetime] | None = None
    charts: list[BarChart] = []
    if form.validate():
        found, since, until = _reports(form)
        period = (since, until - timedelta(seconds=1))
        charts = _charts(since, until, since, form.vendor.data or None)
    return render_template("dpo/reports.html", form=form, reports=found, period=period,
                           charts=charts,
                           args=request.args.to_dict(),
                           flag_rows={r.vendor: _flag_rows(list(r.flags)) for r in found}
                           ), 400 if form.errors else 200


@blueprint.get("/reports/sessions.csv")
@requires(*READERS)
def report_csv() -> ResponseReturnValue:
    form = PeriodForm(_vendors(), request.args)
    if not form.validate():
        abort(400)
    found, since, until = _reports(form)
    out = io.StringIO()
    count = controls.write_sessions_csv(found, out, ZoneInfo(core().settings.web.time_zone))
    _audit_export("vendor_sessions", format="csv", rows=count, since=since.isoformat(),
                  until=until.isoformat(), vendor=form.vendor.data or None)
    return _csv(out.getvalue(), f"sessions-{since:%Y%m%d}-{until:%Y%m%d}.csv")


@blueprint.get("/reports/print")
@requires(*READERS)
def report_print() -> ResponseReturnValue:
    form = PeriodForm(_vendors(), request.args)
    if not form.validate():
        abort(400)
    found, since, until = _reports(form)
    _audit_export("vendor_report", format="print", since=since.isoformat(),
                  until=until.isoformat(), vendor=form.vendor.data or None)
    return render_template("dpo/print.html", reports=found,
                           charts=_charts(since, until, since, form.vendor.data or None),
                           period=(since, until - timedelta(seconds=1)),
                           flag_rows={r.vendor: _flag_rows(list(r.flags)) for r in found},
                           printed_at=utcnow(), args=request.args.to_dict())
