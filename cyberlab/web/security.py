"""CSRF tokens and the security headers of the web pages.

Sessions themselves (who the caller is, logging in and out) live in cyberlab/auth/sessions.py.
Forms carry a per-session CSRF token compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Response, abort, request, session

from cyberlab.auth.caller import Caller
from cyberlab.services import services

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def web_caller() -> Caller:
    return services().sessions.caller()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, "the form has expired or did not come from this site: reload the page and try again")


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
