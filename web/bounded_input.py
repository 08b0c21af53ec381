"""Bounds on what a client can send, applied once for the whole console and API.

Hostile input used to reach the database or the standard library and come back as a 500:
an id above 2^63 in a URL (``/api/v1/requests/9223372036854775808``: SQLite and
PostgreSQL integers are 64-bit), a JSON body nested 100,000 deep (``RecursionError``), a
date in year 9999 (``OverflowError`` once shown in local time). Here: the ``int`` URL
converter stops at the database's range (a larger id matches no route: 404), JSON deeper
than any body we accept fails to parse (400 with the API's ``invalid_input``), and
:func:`db_int` / :func:`within_date_bounds` do the same for query strings and forms.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter, Map

# Signed 64-bit: BIGINT on PostgreSQL, INTEGER on SQLite.
DB_INT_MAX = 2**63 - 1
DB_INT_MIN = -(2**63)
# Our deepest body (a WebAuthn credential) nests 3 levels.
MAX_JSON_DEPTH = 32
# Dates the bastion can store, show in any time zone and compare.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` within the database's integer range."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = DB_INT_MAX, signed: bool = False) -> None:  # noqa: A002
        bounded = DB_INT_MAX if max is None or max > DB_INT_MAX else max
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=bounded, signed=signed)


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests deeper than ``limit``; iterative, so any depth
    the parser accepted is measured without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONProvider(DefaultJSONProvider):
    """Refuses (ValueError, which Flask turns into 400) JSON nested deeper than
    :data:`MAX_JSON_DEPTH`, including what the C parser gives up on (RecursionError)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        if json_depth_exceeds(value, MAX_JSON_DEPTH):
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return value


def db_int(raw: str) -> int:
    """``type=`` for ``request.args.get``: an int the database can compare, else
    ValueError (so ``get`` answers its default)."""
    value = int(raw)
    if not DB_INT_MIN <= value <= DB_INT_MAX:
        raise ValueError(f"{raw[:30]} is outside the database's integer range")
    return value


def within_date_bounds(moment: datetime | date | None) -> bool:
    """Whether a date or time can be stored and shown: between 2000 and 2200 (None: yes)."""
    if moment is None:
        return True
    if not isinstance(moment, datetime):
        return EARLIEST.date() <= moment < LATEST.date()
    try:
        instant = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        return False
    return EARLIEST <= instant < LATEST


def install(app: Flask) -> None:
    """Before any blueprint is registered: routes are compiled with the converter."""
    app.url_map.converters["int"] = DatabaseIdConverter
    app.json = BoundedJSONProvider(app)
