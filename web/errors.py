"""Error pages in the console's look (and JSON for the JSON endpoints)."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.is_json or (
        request.accept_mimetypes.best == "application/json"
    )


def _messages() -> dict[int, str]:
    return {
        400: gettext("The request could not be understood."),
        403: gettext("You do not have access to this page."),
        404: gettext("This page does not exist."),
        405: gettext("This action is not possible here."),
        413: gettext("What was sent is too large."),
        429: gettext("Too many attempts. Wait a few minutes, then try again."),
        500: gettext("Something went wrong on the bastion. The action was not carried out."),
    }


def render_error(status: int, message: str | None = None) -> ResponseReturnValue:
    text = message or _messages().get(status, _messages()[500])
    if wants_json():
        return jsonify(error={"code": f"http_{status}", "message": text}), status
    return render_template("error.html", status=status, message=text), status


def install(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> ResponseReturnValue:
        return render_error(400, gettext(
            "The form has expired or did not come from this console. Reload the page and try again."
        ))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> ResponseReturnValue:
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> ResponseReturnValue:
        # Fail closed, say nothing about internals; the traceback goes to the log.
        if app.testing:
            raise error
        app.logger.exception("unhandled error on %s", request.path)
        return render_error(500)
