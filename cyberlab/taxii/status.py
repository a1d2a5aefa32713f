"""Status resources (TAXII 2.1 section 4.3): the outcome of each POST, visible to its poster."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from cyberlab.errors import NotFound, Unauthorized
from cyberlab.services import services
from cyberlab.taxii.common import begin, taxii_json
from indexer.store.base import StatusRecord
from indexer.timestamps import format_timestamp

bp = Blueprint("taxii_status", __name__)


def status_body(record: StatusRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "status": record.status,
        "request_timestamp": format_timestamp(record.request_timestamp),
        "total_count": record.total_count,
        "success_count": len(record.successes),
        "failure_count": record.failure_count,
        "pending_count": len(record.pendings),
    }
    # The lists are optional and, when present, hold one or more entries.
    for name in ("successes", "failures", "pendings"):
        if getattr(record, name):
            body[name] = getattr(record, name)
    return body


@bp.get("/taxii2/<api_root>/status/<status_id>/")
def get_status(api_root: str, status_id: str) -> Response:
    caller = begin(api_root)
    if caller.anonymous:
        raise Unauthorized("status resources belong to the account that posted the objects")
    record = services().store.get_status(status_id)
    # Someone else's status is reported as missing: its id says nothing to other accounts.
    if record is None or (record.owner != caller.name and caller.role != "admin"):
        raise NotFound(f"there is no status {status_id!r} for your account", title="Status not found")
    return taxii_json(status_body(record))
