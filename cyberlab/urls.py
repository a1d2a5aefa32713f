"""The address this site is reached at, for links it writes (TAXII discovery, the subscribe page,
the digest's unsubscribe link)."""

from __future__ import annotations

from flask import has_request_context, request

from config import Settings


def site_url(settings: Settings) -> str:
    """No trailing slash. server.public_url when set (behind a proxy the request's own host may
    be an internal one); else the host this request came to; with no request at all (the digest
    mailer runs from the CLI) the address gunicorn binds."""
    configured = settings.server.public_url.rstrip("/")
    if configured:
        return configured
    if has_request_context():
        return request.host_url.rstrip("/")
    return f"http://{settings.server.bind}"
