"""TAXII 2.1 media-type negotiation (spec section 1.6.8)."""

from __future__ import annotations

from flask import request

from config.media import TAXII_JSON, TAXII_MEDIA_TYPE
from cyberlab.errors import NotAcceptable, UnsupportedMediaType


def _parse(media: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in media.split(";")]
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return parts[0].lower(), params


def _is_taxii21(media: str) -> bool:
    kind, params = _parse(media)
    return kind == TAXII_JSON and params.get("version", "2.1") == "2.1"


def require_taxii_accept() -> None:
    """406 unless the client accepts TAXII 2.1 JSON (a missing Accept header accepts anything)."""
    header = request.headers.get("Accept", "").strip()
    if not header:
        return
    for media in header.split(","):
        kind, params = _parse(media)
        if params.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        if kind in ("*/*", "application/*") or _is_taxii21(media):
            return
    raise NotAcceptable(
        f"this server answers with {TAXII_MEDIA_TYPE}; the Accept header {header!r} does not allow it"
    )


def require_taxii_content_type() -> None:
    """415 unless the request body is declared as TAXII 2.1 JSON."""
    header = request.headers.get("Content-Type", "")
    if not _is_taxii21(header):
        raise UnsupportedMediaType(
            f"send the envelope as Content-Type: {TAXII_MEDIA_TYPE}; got {header or 'none'!r}"
        )
