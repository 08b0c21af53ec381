"""Form pieces shared by the console's blueprints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget

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
