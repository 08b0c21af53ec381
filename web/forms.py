"""Form pieces shared by the console's blueprints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import Field, SelectMultipleField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .bounded_input import EARLIEST, LATEST, within_date_bounds

try:  # wtforms 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older wtforms
    SelectChoice = None


def choices(pairs: Iterable[tuple[str, Any]]) -> list[Any]:
    if SelectChoice is None:  # pragma: no cover
        return list(pairs)
    return [SelectChoice(value=value, label=label) for value, label in pairs]


class CheckboxesField(SelectMultipleField):
    """Several choices shown as checkboxes (labelled one by one, in a fieldset)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def csrf_field(form: FlaskForm) -> Markup:
    """The form's hidden CSRF input, without an id (several forms share a page), or
    nothing when CSRF is switched off (some tests)."""
    field = getattr(form, "csrf_token", None)
    # wtforms renders escaped Markup already.
    return field(id=False) if field is not None else Markup()


class DateBounds:
    """A date the bastion can store and show in any time zone (2000 to 2199): year 9999
    or year 1 overflowed the conversion to UTC or local time (web.bounded_input)."""

    message = lazy_gettext("Enter a date between %(first)s and %(last)s.")

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not within_date_bounds(field.data):
            raise ValidationError(self.message % {"first": EARLIEST.year, "last": LATEST.year - 1})
