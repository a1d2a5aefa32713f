"""Object manifests (TAXII 2.1 section 5.6): what is in a collection, without the objects."""

from __future__ import annotations

from flask import Blueprint, Response

from cyberlab.services import services
from cyberlab.taxii.common import (
    begin,
    collection_for,
    date_added_headers,
    envelope_head,
    require_read,
    taxii_json,
)
from cyberlab.taxii.params import parse_query
from indexer.timestamps import format_timestamp

bp = Blueprint("taxii_manifest", __name__)


@bp.get("/taxii2/<api_root>/collections/<collection_id>/manifest/")
def get_manifest(api_root: str, collection_id: str) -> Response:
    caller = begin(api_root)
    collection = collection_for(caller, collection_id)
    require_read(caller, collection)
    svc = services()
    query, fingerprint = parse_query("manifest", collection.id, svc.limits, svc.tokens)
    page = svc.store.query(query)
    body = envelope_head(page, fingerprint)
    if page.objects:
        body["objects"] = [
            {
                "id": o.id,
                "date_added": format_timestamp(o.date_added),
                "version": o.version_text,
                "media_type": o.media_type,
            }
            for o in page.objects
        ]
    return taxii_json(body, headers=date_added_headers(page, query))
