"""Objects (TAXII 2.1 sections 5.3-5.8): get/add objects, get/delete one object, its versions."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, request

from cyberlab.envelopes import store_envelope
from cyberlab.errors import BadRequest, NotFound, PayloadTooLarge
from cyberlab.services import services
from cyberlab.taxii.common import (
    begin,
    collection_for,
    date_added_headers,
    envelope_head,
    readable_query,
    require_write,
    taxii_json,
)
from cyberlab.taxii.media import require_taxii_content_type
from cyberlab.taxii.status import status_body
from indexer.store.base import Page
from indexer.timestamps import now_micros

bp = Blueprint("taxii_objects", __name__)
COLLECTION = "/taxii2/<api_root>/collections/<collection_id>"


def _envelope(page: Page, fingerprint: str) -> bytes:
    # Stored bodies are already canonical JSON: splice them in instead of re-encoding each object.
    head = orjson.dumps(envelope_head(page, fingerprint))
    if not page.objects:
        return head
    return head[:-1] + b',"objects":[' + b",".join(o.body for o in page.objects) + b"]}"


@bp.get(f"{COLLECTION}/objects/")
def get_objects(api_root: str, collection_id: str) -> Response:
    query, fingerprint = readable_query(api_root, collection_id, "objects")
    page = services().store.query(query)
    return taxii_json(_envelope(page, fingerprint), headers=date_added_headers(page, query))


@bp.post(f"{COLLECTION}/objects/")
def add_objects(api_root: str, collection_id: str) -> Response:
    caller = begin(api_root)
    collection = collection_for(caller, collection_id)
    require_write(caller, collection)
    require_taxii_content_type()
    received = now_micros()
    try:
        envelope = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid UTF-8 JSON: {exc}", title="Invalid JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
        raise BadRequest(
            'the body must be a TAXII envelope: {"objects": [<STIX objects>]}', title="Not an envelope"
        )
    if not envelope["objects"]:
        raise BadRequest("the envelope's 'objects' list is empty", title="Empty envelope")
    svc = services()
    cap = svc.settings.limits.envelope_objects
    if len(envelope["objects"]) > cap:  # each object costs a status line and ingest work: refuse early
        raise PayloadTooLarge(
            f"an envelope holds at most {cap:,} objects (limits.envelope_objects); this one has "
            f"{len(envelope['objects']):,}: split it into several POSTs",
            title="Too many objects",
        )
    record = store_envelope(
        svc.store, svc.settings, svc.sanitizer, caller, collection, envelope["objects"], received
    )
    return taxii_json(status_body(record), status=202)


@bp.get(f"{COLLECTION}/objects/<object_id>/")
def get_object(api_root: str, collection_id: str, object_id: str) -> Response:
    query, fingerprint = readable_query(api_root, collection_id, "object", object_id)
    page = services().store.query(query)
    return taxii_json(_envelope(page, fingerprint), headers=date_added_headers(page, query))


@bp.delete(f"{COLLECTION}/objects/<object_id>/")
def delete_object(api_root: str, collection_id: str, object_id: str) -> Response:
    query, _ = readable_query(api_root, collection_id, "delete", object_id, write=True)
    deleted = services().store.delete_object(query.collection, object_id, query.versions, query.spec_versions)
    if deleted == 0:
        raise NotFound("no version of this object matches the filters", title="Object not found")
    return taxii_json(b"", status=200)


@bp.get(f"{COLLECTION}/objects/<object_id>/versions/")
def get_versions(api_root: str, collection_id: str, object_id: str) -> Response:
    query, fingerprint = readable_query(api_root, collection_id, "versions", object_id)
    page = services().store.query(query)
    body = envelope_head(page, fingerprint)
    if page.objects:
        body["versions"] = [o.version_text for o in page.objects]
    return taxii_json(body, headers=date_added_headers(page, query))
