"""The JSON bodies the API accepts, checked before anything reaches the core.

Unknown fields are refused (a misspelt ``window_end`` must not be silently ignored), times
must carry a time zone. Emptiness of a reason is left to the core, which answers with its
own stable code (``reason_required``).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from flask import request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from .errors import ApiError

Channel = Literal["shell", "exec", "sftp", "forward"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NewRequest(Body):
    technician: str | None = Field(None, max_length=64)
    target: str = Field(max_length=100)
    account: str | None = Field(None, max_length=64)
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime
    channels: list[Channel] = Field(min_length=1, max_length=4)
    reason: str = Field(max_length=2000)
    ticket: str | None = Field(None, max_length=100)


class Reason(Body):
    reason: str = Field(max_length=2000)


class Assertion(Body):
    # The browser's PublicKeyCredential JSON; the core parses and checks every part.
    credential: dict[str, Any]


class CertificateKey(Body):
    key_fingerprint: str | None = Field(None, max_length=100)


B = TypeVar("B", bound=Body)


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


def parse(model: type[B], *, optional: bool = False) -> B:
    """The request's JSON body as ``model``; ``optional``: an empty body means defaults."""
    if optional and not request.get_data(cache=True):
        return model()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError("invalid_input",
                       "send a JSON object with the header Content-Type: application/json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
        raise ApiError("invalid_input", f"the body is not usable: {problems[0]}",
                       reasons=problems) from None
