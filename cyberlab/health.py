"""Liveness and readiness for load balancers and orchestrators (no authentication, no TAXII media type)."""

from __future__ import annotations

import logging

import orjson
from flask import Blueprint, Response

from cyberlab.errors import store_cause_text
from cyberlab.services import services
from indexer.errors import StoreError

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def _json(body: dict[str, str], status: int) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json")


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers. Says nothing about the store, so a store outage doesn't restart workers."""
    return _json({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz() -> Response:
    """The store answers a query: this worker can serve requests."""
    store = services().store
    try:
        store.get_cursor("readyz-probe")
        # A cluster says how it is: yellow (a copy missing, still serving) is ready but says so;
        # red (a primary missing) is not ready.
        cluster = getattr(store, "cluster_status", None)
        status = cluster() if cluster is not None else None
    except StoreError as exc:
        # Unauthenticated callers get the cause and its fixed sentence: the error's own text names
        # files and host URLs (credentials in them are masked only in the log, observability.py).
        log.warning("readyz.unavailable cause=%s error=%s", exc.cause, exc)
        return _json(
            {"status": "unavailable", "cause": exc.cause, "reason": store_cause_text(exc.cause)}, 503
        )
    if status is None:
        return _json({"status": "ready"}, 200)
    if status == "red":
        body = {
            "status": "unavailable",
            "cause": "unavailable",
            "store": status,
            "reason": "the cluster is red",
        }
        return _json(body, 503)
    return _json({"status": "ready", "store": status}, 200)
