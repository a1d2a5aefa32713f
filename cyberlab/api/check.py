""" "Is this suspicious?" over the API: POST /api/v1/check.

    JSON:      {"text": "pasted text, a URL, an address, a hash, or a whole email with headers"}
    multipart: file=<the .eml>  (or text=...)

Anyone may call it, anonymous included (then only the public collections answer known-bad); it
is rate-limited (check.rate_limit). Nothing sent is stored. Bodies over the [check] caps are
answered 413 naming the cap, before they are read.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, request

from cyberlab.api.common import json_response
from cyberlab.auth.caller import Caller
from cyberlab.check import Extraction, InputTooLarge, answer_document, extract_email, extract_text, verdicts
from cyberlab.errors import BadRequest, PayloadTooLarge
from cyberlab.services import services

bp = Blueprint("check", __name__)
# Room for the multipart envelope (boundaries, part headers) around an email at the cap.
MULTIPART_SLACK = 64 * 1024


def body_cap() -> int:
    cfg = services().settings.check
    return max(cfg.max_text_bytes, cfg.max_eml_bytes) + MULTIPART_SLACK


def refuse_oversized() -> None:
    """413 before reading a body over the caps (Content-Length), and a hard stop while reading."""
    cfg = services().settings.check
    cap = body_cap()
    if request.content_length is not None and request.content_length > cap:
        raise PayloadTooLarge(
            f"the request is {request.content_length:,} bytes; this check reads text up to "
            f"{cfg.max_text_bytes:,} bytes and emails up to {cfg.max_eml_bytes:,} bytes"
        )
    request.max_content_length = cap  # a chunked body without a length stops here too


def run_check(caller: Caller, text: str | None, eml: bytes | None) -> dict[str, Any]:
    svc = services()
    try:
        found: Extraction = (
            extract_email(eml, svc.settings) if eml is not None else extract_text(text or "", svc.settings)
        )
    except InputTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from None
    results = verdicts(found, caller, svc.settings, svc.store, svc.sanitizer)
    return answer_document(found, results, svc.settings)


@bp.post("/api/v1/check")
def check() -> Response:
    caller = services().auth.caller()
    refuse_oversized()
    media = (request.mimetype or "").lower()
    if media == "application/json":
        try:
            body = orjson.loads(request.get_data())
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise BadRequest('send {"text": "..."}: the text to check, as a string')
        return json_response(run_check(caller, body["text"], None))
    if media == "multipart/form-data":
        file = request.files.get("file")
        if file is not None:
            return json_response(
                run_check(caller, None, file.read(services().settings.check.max_eml_bytes + 1))
            )
        text = request.form.get("text")
        if text is None:
            raise BadRequest("send the email as the multipart field 'file', or text in the field 'text'")
        return json_response(run_check(caller, text, None))
    raise BadRequest('send application/json {"text": "..."} or multipart/form-data with the .eml as "file"')
