"""Server discovery (TAXII 2.1 section 4.1) and API root information (4.2)."""

from __future__ import annotations

from flask import Blueprint, Response

from config.media import TAXII_MEDIA_TYPE
from cyberlab.services import services
from cyberlab.taxii.common import api_root_url, begin, taxii_json
from cyberlab.taxii.media import require_taxii_accept

bp = Blueprint("taxii_discovery", __name__)


@bp.get("/taxii2/")
def discovery() -> Response:
    require_taxii_accept()
    services().auth.caller()  # wrong credentials are a 401 even here
    taxii = services().settings.taxii
    root = api_root_url()
    return taxii_json(
        {
            "title": taxii.title,
            "description": taxii.description,
            "contact": taxii.contact,
            "default": root,
            "api_roots": [root],
        }
    )


@bp.get("/taxii2/<api_root>/")
def api_root(api_root: str) -> Response:
    begin(api_root)
    taxii = services().settings.taxii
    return taxii_json(
        {
            "title": taxii.api_root_title,
            "description": taxii.api_root_description,
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": taxii.max_content_length,
        }
    )
