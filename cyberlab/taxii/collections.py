"""Collections (TAXII 2.1 sections 5.1-5.2), with can_read/can_write for the caller."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from config import CollectionSettings
from config.media import STIX_MEDIA_TYPE
from cyberlab.auth.access import can_read, can_write
from cyberlab.auth.caller import Caller
from cyberlab.errors import Unauthorized
from cyberlab.services import services
from cyberlab.taxii.common import begin, collection_for, taxii_json

bp = Blueprint("taxii_collections", __name__)


def describe(collection: CollectionSettings, caller: Caller) -> dict[str, Any]:
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "can_read": can_read(caller, collection),
        "can_write": can_write(caller, collection),
        "media_types": [STIX_MEDIA_TYPE],
    }


@bp.get("/taxii2/<api_root>/collections/")
def list_collections(api_root: str) -> Response:
    caller = begin(api_root)
    visible = [
        describe(c, caller)
        for c in services().settings.collections.values()
        if can_read(caller, c) or can_write(caller, c)
    ]
    if caller.anonymous and not visible:
        raise Unauthorized("no collection here is public; authenticate with your account name and API key")
    return taxii_json({"collections": visible} if visible else {})


@bp.get("/taxii2/<api_root>/collections/<collection_id>/")
def get_collection(api_root: str, collection_id: str) -> Response:
    caller = begin(api_root)
    return taxii_json(describe(collection_for(caller, collection_id), caller))
