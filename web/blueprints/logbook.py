"""The intervention logbook (*main courante*) in the console: filtered by vendor, target
and period, exported as CSV or as a printable page for the maintenance contract's
follow-up meetings. Built by ``bastion.logbook``; exports are audited (they leave the
console), the list is not (like the sessions history).
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from bastion.logbook import (
    LogbookFilter,
    build_logbook,
    describe_flag,
    export_logbook,
    stylesheet_text,
)
from bastion.models import Target, Vendor, utcnow

from ..access import requires
from ..forms import DateBounds, choices
from ..identity import core, signed_in_principal

blueprint = Blueprint("logbook", __name__, url_prefix="/logbook")

READERS = ("approver", "admin", "dpo")
DEFAULT_DAYS = 31  # without dates: the last month, the usual follow-up meeting's period


class LogbookForm(FlaskForm):
    class Meta:
        csrf = False  # GET forms: they change nothing

    vendor = SelectField(lazy_gettext("Vendor"), validators=[Optional()])
    target = SelectField(lazy_gettext("Target"), validators=[Optional()])
    start = DateField(lazy_gettext("From"), validators=[Optional(), DateBounds()])
    end = DateField(lazy_gettext("To (included)"), validators=[Optional(), DateBounds()])

    def __init__(self, vendors: list[tuple[str, str]], targets: list[str], *args: Any,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.vendor.choices = choices([("", lazy_gettext("All vendors")), *vendors])
        self.target.choices = choices([("", lazy_gettext("All targets")),
                                       *((name, name) for name in targets)])

    def validate_end(self, field: DateField) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(lazy_gettext("The end is before the start."))

    def query(self) -> LogbookFilter:
        """Days in the hospital's zone (the logbook's), the last month by default."""
        today = utcnow().astimezone(ZoneInfo(core().settings.web.time_zone)).date()
        end: date = self.end.data or today
        start: date = self.start.data or end - timedelta(days=DEFAULT_DAYS - 1)
        return LogbookFilter(start, end, self.vendor.data or None, self.target.data or None)


def _form() -> LogbookForm:
    with core().db.session() as db:
        vendors = [(v.slug, v.name) for v in db.scalars(select(Vendor).order_by(Vendor.name))]
        targets = list(db.scalars(select(Target.name).order_by(Target.name)))
    return LogbookForm(vendors, targets, request.args)


def _args(query: LogbookFilter) -> dict[str, str]:
    """The filter as query arguments, for the export links (dates made explicit)."""
    args = {"start": query.since.isoformat() if query.since else "",
            "end": query.until.isoformat() if query.until else "",
            "vendor": query.vendor or "", "target": query.target or ""}
    return {key: value for key, value in args.items() if value}


@blueprint.get("")
@requires(*READERS)
def index() -> ResponseReturnValue:
    form = _form()
    if not form.validate():
        return render_template("logbook/index.html", form=form, entries=[], args={},
                               flag_text=_flag_text), 400
    query = form.query()
    # Newest first on screen; exports keep the logbook's chronological order.
    entries = list(reversed(build_logbook(core(), query, base_url="")))
    return render_template("logbook/index.html", form=form, entries=entries, query=query,
                           args=_args(query), flag_text=_flag_text)


def _flag_text(flag: Any) -> str:
    return describe_flag(flag, str(get_locale()))


def _validated() -> LogbookFilter:
    form = _form()
    if not form.validate():
        abort(400)
    return form.query()


@blueprint.get("/export.csv")
@requires(*READERS)
def export_csv() -> ResponseReturnValue:
    query = _validated()
    out = io.StringIO()
    export_logbook(core(), query, format="csv", out=out, actor=signed_in_principal().actor(),
                   language=str(get_locale()))
    name = "-".join(filter(None, ("logbook", query.vendor, query.target,
                                  f"{query.since:%Y%m%d}", f"{query.until:%Y%m%d}")))
    # A BOM so spreadsheet software opens the accents of French names correctly.
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@blueprint.get("/print")
@requires(*READERS)
def printable() -> ResponseReturnValue:
    query = _validated()
    out = io.StringIO()
    export_logbook(core(), query, format="html", out=out, actor=signed_in_principal().actor(),
                   language=str(get_locale()), stylesheet_href=url_for("logbook.stylesheet"),
                   back_href=url_for("logbook.index", **_args(query)))
    return Response(out.getvalue(), mimetype="text/html")


@blueprint.get("/print.css")
@requires(*READERS)
def stylesheet() -> ResponseReturnValue:
    # The printable page's stylesheet lives with bastion.logbook (the CLI inlines it).
    return Response(stylesheet_text(), mimetype="text/css")
