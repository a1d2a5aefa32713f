"""Liveness and readiness for load balancers and orchestrators (no authentication, no TAXII media type)."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response

from cyberlab.services import services
from indexer.errors import StoreError

bp = Blueprint("health", __name__)


def _json(body: dict[str, str], status: int) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json")


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers. Says nothing about the store, so a store outage doesn't restart workers."""
    return _json({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz() -> Response:
    """The store answers a query: this worker can serve requests."""
    try:
        services().store.get_cursor("readyz-probe")
    except StoreError as exc:
        return _json({"status": "unavailable", "reason": str(exc)}, 503)
    return _json({"status": "ready"}, 200)
