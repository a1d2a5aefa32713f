"""Object manifests (TAXII 2.1 section 5.6): what is in a collection, without the objects."""

from __future__ import annotations

from flask import Blueprint, Response

from cyberlab.services import services
from cyberlab.taxii.common import date_added_headers, envelope_head, readable_query, taxii_json
from indexer.timestamps import format_timestamp

bp = Blueprint("taxii_manifest", __name__)


@bp.get("/taxii2/<api_root>/collections/<collection_id>/manifest/")
def get_manifest(api_root: str, collection_id: str) -> Response:
    query, fingerprint = readable_query(api_root, collection_id, "manifest")
    page = services().store.query(query)
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
