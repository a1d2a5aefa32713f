"""TAXII errors and the handlers that render every failure as a TAXII error body."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

import orjson
from flask import Flask, Response, current_app, request
from flask.sansio.app import App
from werkzeug.exceptions import HTTPException

from config.errors import CyberlabError
from config.media import TAXII_MEDIA_TYPE
from indexer.errors import StoreCause, StoreError
from indexer.search.model import SearchTimeout

log = logging.getLogger(__name__)

REALM = 'Basic realm="CyberLab TAXII", charset="UTF-8"'


class TaxiiError(CyberlabError):
    """A client-visible error with its HTTP status, rendered as a TAXII 2.1 error message."""

    def __init__(
        self, status: int, title: str, description: str = "", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {title}: {description}")
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}


class ClientError(TaxiiError):
    """A 4xx named by its class (as in Datasette's NotFound, Forbidden, BadRequest): the class
    carries the status and a default title, so a call site says only what went wrong."""

    STATUS: ClassVar[int] = 400
    TITLE: ClassVar[str] = "Bad request"

    def __init__(
        self, description: str = "", title: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(self.STATUS, title or self.TITLE, description, headers)


class BadRequest(ClientError):
    STATUS, TITLE = 400, "Bad request"


class Unauthorized(ClientError):
    """401 with a Basic challenge; pass headers={} where a challenge must not be sent (a web page:
    browsers answer one with their own login dialog)."""

    STATUS, TITLE = 401, "Unauthorized"

    def __init__(
        self, description: str = "", title: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description, title, {"WWW-Authenticate": REALM} if headers is None else headers)


class Forbidden(ClientError):
    STATUS, TITLE = 403, "Forbidden"


class NotFound(ClientError):
    STATUS, TITLE = 404, "Not found"


class NotAcceptable(ClientError):
    STATUS, TITLE = 406, "Not Acceptable"


class Conflict(ClientError):
    STATUS, TITLE = 409, "Conflict"


class PayloadTooLarge(ClientError):
    STATUS, TITLE = 413, "Too large"


class UnsupportedMediaType(ClientError):
    STATUS, TITLE = 415, "Unsupported Media Type"


class Unprocessable(ClientError):
    STATUS, TITLE = 422, "Unprocessable"


class TooManyRequests(ClientError):
    """429 with Retry-After (seconds)."""

    STATUS, TITLE = 429, "Too Many Requests"

    def __init__(self, description: str, retry_after: str, title: str | None = None) -> None:
        super().__init__(description, title, {"Retry-After": retry_after})


def error_response(
    status: int, title: str, description: str = "", headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, str] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    # TAXII clients get TAXII's media type; the JSON API and everything else plain JSON.
    media_type = TAXII_MEDIA_TYPE if request.path.startswith("/taxii2") else "application/json"
    response = Response(orjson.dumps(body), status=status, content_type=media_type)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# What a client (and the admin reading its report) can act on, by the store's cause: never the
# raw driver error, which names files and hosts. And how long to wait before trying again.
_STORE_CAUSES: dict[StoreCause, tuple[str, int]] = {
    "disk_full": ("the store's disk is full", 60),
    "read_only": ("the store is read-only", 60),
    "not_initialized": ("the store has not been initialized", 60),
    "busy": ("the store is busy with other writes", 5),
    "timeout": ("the store did not answer in time", 10),
    "unavailable": ("the store cannot be reached", 30),
    "corrupt": ("the store's data is damaged", 300),
    "conflict": ("another write changed the same records at the same time", 1),
    "error": ("the store cannot be used right now", 60),
}


def store_cause_text(cause: StoreCause) -> str:
    """The fixed sentence for a store fault's cause, safe to show anyone (/readyz, TAXII 503s)."""
    return _STORE_CAUSES[cause][0]


def _store_problem(exc: StoreError) -> str:
    cause = store_cause_text(exc.cause)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return f"{cause}; nothing was changed. Try again later."
    # A write may have stored part of the request before the fault (earlier batches of a large
    # envelope; all its objects when only its status could not be saved). Ids are deterministic,
    # so sending it again stores the rest and reports the rest as already present.
    return (
        f"{cause}; the request did not complete, and what it stored before the failure is kept"
        " (sent again, those objects come back as already present). Try again later."
    )


# (exception) -> (HTML body, status): how a blueprint with pages shows an error.
PageRenderer = Callable[[TaxiiError | HTTPException], tuple[str, int]]
_RENDERERS = "cyberlab.error_pages"


def register_error_page(app: App, blueprint: str, render: PageRenderer) -> None:
    """Errors raised under `blueprint` render through `render` (the web blueprints fill this in,
    so this module never imports the web layer)."""
    app.extensions.setdefault(_RENDERERS, {})[blueprint] = render


def _page(exc: TaxiiError | HTTPException) -> Response | None:
    """People using the web pages get an HTML page, not JSON."""
    render = current_app.extensions.get(_RENDERERS, {}).get(request.blueprint or "")
    if render is None:
        return None
    body, status = render(exc)
    response = Response(body, status=status, content_type="text/html; charset=utf-8")
    for name, value in (exc.headers if isinstance(exc, TaxiiError) else {}).items():
        response.headers[name] = value
    return response


def render_taxii_error(exc: TaxiiError) -> Response:
    """An HTML page on the web pages, a TAXII or JSON error body everywhere else."""
    return _page(exc) or error_response(exc.status, exc.title, exc.description, exc.headers)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(TaxiiError, render_taxii_error)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        status = exc.code or 500
        if status < 400:  # routing redirects (a missing trailing slash -> 308) pass through as they are
            return exc
        if status == 413:
            exc.description = (
                f"the request body is larger than this server's max_content_length "
                f"({app.config.get('MAX_CONTENT_LENGTH')} bytes)"
            )
        page = _page(exc)
        if page is not None:
            return page
        response = error_response(status, exc.name, exc.description or "")
        if status == 405 and exc.response is None:
            valid = getattr(exc, "valid_methods", None)
            if valid:
                response.headers["Allow"] = ", ".join(valid)
        return response

    @app.errorhandler(SearchTimeout)
    def _search_timeout(exc: SearchTimeout) -> Response:
        # The caller's question was too costly for the budget: theirs to narrow, not a server fault.
        return render_taxii_error(Unprocessable(str(exc), "Search too expensive"))

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> Response:
        log.error("store.error path=%s cause=%s error=%s", request.path, exc.cause, exc)
        retry_after = exc.retry_after or _STORE_CAUSES[exc.cause][1]
        return error_response(
            503, "Store unavailable", _store_problem(exc), {"Retry-After": str(retry_after)}
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("request.failed method=%s path=%s", request.method, request.path)
        return error_response(
            500, "Internal server error", "an unexpected error occurred; it has been logged"
        )
