"""Per-key rate limits: 429 with Retry-After, rendered as a TAXII error.

Quotas are counted per credential: the parsed name and key of HTTP Basic (so `basic `, `BASIC `
or `Basic  ` spell one credential and share one quota), never the claimed user name alone, so
nobody can exhaust another account's quota by sending its name with a wrong key. Requests without
credentials count per client address (the TCP peer, or what a trusted proxy says: see
cyberlab/proxies.py). A per-address ceiling and the failed-login throttle
(cyberlab/auth/authenticator.py) bound how fast anyone can guess keys, since each failed check
costs a deliberately slow scrypt.

Storage: "memory://" counts in each worker (gunicorn spreads a client's requests over workers, so
set limits per worker); "redis://host:6379" shares exact counts across workers and machines.

Exports and sighting uploads have quotas of their own on top (rate_limit.exports / .uploads):
a firewall polls a few lists every few minutes, and an upload runs the whole ingest path.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Flask, Response, request, session
from flask_limiter import ApplicationLimit, Limiter

from config import Settings
from cyberlab.api.check import bp as check_bp
from cyberlab.api.exports import bp as exports_bp
from cyberlab.api.sightings import bp as sightings_bp
from cyberlab.auth.basic import parse_basic
from cyberlab.errors import TaxiiError, TooManyRequests, render_taxii_error
from cyberlab.services import services

UPLOAD_VIEWS = ("web.upload",)
CHECK_VIEWS = ("web_check.check_page",)  # "is this suspicious?": open to anonymous visitors
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


def _credential_key() -> str:
    header = request.headers.get("Authorization")
    if header:
        try:
            name, key = parse_basic(header)
        except TaxiiError:  # not Basic at all: answered 401 anyway, counted by address
            return f"bad-auth:{request.remote_addr}"
        # Keyed (HMAC under the signing key) so a shared counter store never holds raw keys.
        secret = services().settings.server.signing_key.reveal().encode()
        digest = hmac.new(secret, f"{name}\0{key}".encode("utf-8", "replace"), hashlib.sha256)
        return "key:" + digest.hexdigest()[:32]
    if session.get("user"):  # a signed web session: the account, whichever address it comes from
        return f"user:{session['user']}"
    return f"addr:{request.remote_addr}"


def _exempt() -> bool:
    return request.path in EXEMPT


def _address_key() -> str:
    return f"addr:{request.remote_addr}"


def install(app: Flask, settings: Settings) -> Limiter | None:
    limits = settings.rate_limit
    if not limits.enabled:
        return None

    # Registered before the Limiter, so it runs after the Limiter's header hook (Flask runs
    # after_request functions last-registered first): flask-limiter sets Retry-After on every
    # response, and RFC 9110 gives it meaning only on 503 and 3xx; TAXII clients read it on 429.
    @app.after_request
    def _retry_after_only_when_waiting(response: Response) -> Response:
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    limiter = Limiter(
        key_func=_credential_key,
        app=app,
        storage_uri=limits.storage,
        default_limits=[limits.per_key],
        # A ceiling per client address on top of the per-credential quota.
        application_limits=[
            ApplicationLimit(limits.per_address, key_function=_address_key, exempt_when=_exempt)
        ],
        default_limits_exempt_when=_exempt,
        headers_enabled=True,
        strategy="moving-window",
    )

    # Endpoint quotas on top of the general one (override_defaults=False keeps both).
    limiter.limit(limits.exports, override_defaults=False, scope="exports")(exports_bp)
    limiter.limit(limits.uploads, override_defaults=False, scope="uploads", methods=["POST"])(sightings_bp)
    checks = settings.check.rate_limit
    limiter.limit(checks, override_defaults=False, scope="check", methods=["POST"])(check_bp)
    for endpoint in CHECK_VIEWS:
        checked: Any = limiter.limit(checks, override_defaults=False, scope="check", methods=["POST"])
        app.view_functions[endpoint] = checked(app.view_functions[endpoint])
    for endpoint in UPLOAD_VIEWS:
        # A decorated view is checked by its wrapper (the middleware skips it), so swap it in.
        limited: Any = limiter.limit(
            limits.uploads, override_defaults=False, scope="uploads", methods=["POST"]
        )
        app.view_functions[endpoint] = limited(app.view_functions[endpoint])

    @app.errorhandler(429)
    def _too_many(exc: Exception) -> Response:
        retry_after = "60"
        limit = getattr(exc, "limit", None)
        if limit is not None:
            retry_after = str(int(limit.limit.get_expiry()))
        return render_taxii_error(
            TooManyRequests(
                f"rate limit exceeded ({getattr(exc, 'description', '')}); retry after {retry_after} s",
                retry_after,
            )
        )

    return limiter
