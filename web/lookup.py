"""Rows named in the URL: the row, or a 404 page."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort
from sqlalchemy.orm import Session

Row = TypeVar("Row")


def get_or_404(db: Session, model: type[Row], row_id: Any) -> Row:
    row = db.get(model, row_id)
    if row is None:
        abort(404)
    return row
