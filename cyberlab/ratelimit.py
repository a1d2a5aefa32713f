"""Per-key rate limits: 429 with Retry-After, rendered as a TAXII error.

Quotas are counted per credential, keyed by a hash of the whole Authorization header rather than
the claimed user name, so nobody can exhaust another account's quota by sending its name with a
wrong key. Requests without credentials count per client address. A per-address ceiling also
bounds how fast anyone can guess keys, since each failed check costs a deliberately slow scrypt.

Storage: "memory://" counts in each worker (gunicorn spreads a client's requests over workers, so
set limits per worker); "redis://host:6379" shares exact counts across workers and machines.
"""

from __future__ import annotations

import hashlib

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter

from config import Settings
from cyberlab.errors import error_response

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


def _credential_key() -> str:
    header = request.headers.get("Authorization")
    if header:
        return "key:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:32]
    return f"addr:{request.remote_addr}"


def _exempt() -> bool:
    return request.path in EXEMPT


def _address_key() -> str:
    return f"addr:{request.remote_addr}"


def install(app: Flask, settings: Settings) -> Limiter | None:
    limits = settings.rate_limit
    if not limits.enabled:
        return None
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

    @app.errorhandler(429)
    def _too_many(exc: Exception) -> Response:
        retry_after = "60"
        limit = getattr(exc, "limit", None)
        if limit is not None:
            retry_after = str(int(limit.limit.get_expiry()))
        response = error_response(
            429,
            "Too Many Requests",
            f"rate limit exceeded ({getattr(exc, 'description', '')}); retry after {retry_after} s",
            {"Retry-After": retry_after},
        )
        return response

    return limiter
