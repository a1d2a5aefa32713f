"""Partner sightings: POST /api/v1/sightings with JSON or CSV; a receipt line for every line.

    JSON: {"sightings": [{"value": "198.51.100.7", "count": 3, "first_seen": "...", "last_seen": "..."}]}
    CSV:  value[,type[,count[,first_seen[,last_seen]]]] per line; a header line is recognized.

The objects enter through the same ingest path as the connectors (sanitize, validate, store).
"""

from __future__ import annotations

import csv
from typing import Any

import orjson
from flask import Blueprint, Response, request

from config.media import STIX_JSON, TAXII_JSON
from cyberlab.api.common import json_response, require_role
from cyberlab.auth.access import write_owner
from cyberlab.auth.caller import Caller
from cyberlab.errors import BadRequest, PayloadTooLarge
from cyberlab.indicators import visible_copies
from cyberlab.services import services
from indexer.ingest import ingest_objects
from indexer.search.values import pattern_values
from indexer.sightings import MAX_LINES, ReportedLine, build_sightings

bp = Blueprint("sightings", __name__)
CSV_COLUMNS = ("value", "type", "count", "first_seen", "last_seen")


def check_upload_size(count: int, what: str) -> None:
    """A 413 before any work for an upload over limits.upload_lines (each line costs a receipt line)."""
    cap = services().settings.limits.upload_lines
    if count > cap:
        raise PayloadTooLarge(
            f"an upload holds at most {cap:,} {what} (limits.upload_lines); this one has {count:,}: "
            "split it into several uploads",
            title="Too many sightings",
        )


@bp.post("/api/v1/sightings")
def upload() -> Response:
    caller = require_role("partner", "analyst")
    media = (request.mimetype or "").lower()
    text = request.get_data(as_text=True)
    if media == "application/json":
        lines = lines_from_json(text)
    elif media in ("text/csv", "text/plain"):
        lines = lines_from_csv(text)
    elif media in (STIX_JSON, TAXII_JSON):
        lines = lines_from_stix(text, caller)
    else:
        raise BadRequest('send application/json ({"sightings": [...]}) or text/csv (value,type,count,...)')
    return json_response(record_sightings(caller, lines))


def lines_from_json(text: str) -> list[ReportedLine]:
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("sightings"), list):
        raise BadRequest('the body must be an object with a "sightings" list')
    check_upload_size(len(body["sightings"]), "sightings")
    lines = []
    for n, item in enumerate(body["sightings"], start=1):
        if not isinstance(item, dict):
            lines.append(ReportedLine(n, "", problem="each sighting must be a JSON object"))
            continue
        count = item.get("count", 1)
        lines.append(
            ReportedLine(
                n,
                str(item.get("value", "")),
                str(item.get("type", "")),
                count if isinstance(count, int) and not isinstance(count, bool) else 0,
                str(item.get("first_seen", "")),
                str(item.get("last_seen", "")),
            )
        )
    return lines


def lines_from_stix(text: str, caller: Caller) -> list[ReportedLine]:
    """Lines from a STIX 2.1 bundle (or envelope): each sighting, and each indicator or observable
    no sighting refers to. A sighting may refer to an indicator in the bundle or one already here
    that the caller may see (one it may not is answered like one that does not exist)."""
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the file is not valid JSON: {exc}") from None
    objects = body.get("objects") if isinstance(body, dict) else None
    if not isinstance(objects, list):
        raise BadRequest('a STIX upload is a bundle: {"type": "bundle", "objects": [...]}')
    check_upload_size(len(objects), "objects")
    by_id = {o["id"]: o for o in objects if isinstance(o, dict) and isinstance(o.get("id"), str)}
    # Strings only: a list or object as sighting_of_ref or id cannot go in a set (it was a 500).
    sighted = {
        o["sighting_of_ref"]
        for o in objects
        if isinstance(o, dict) and o.get("type") == "sighting" and isinstance(o.get("sighting_of_ref"), str)
    }
    lines = []
    for n, obj in enumerate(objects, start=1):
        if not isinstance(obj, dict):
            lines.append(ReportedLine(n, "", problem="not a STIX object"))
            continue
        kind, object_id = obj.get("type"), obj.get("id")
        if kind in ("identity", "marking-definition", "relationship") or (
            isinstance(object_id, str) and object_id in sighted
        ):
            continue  # context, or an indicator its sighting reports
        if kind == "sighting":
            ref = str(obj.get("sighting_of_ref", ""))
            values = _values_of(by_id[ref]) if ref in by_id else _stored_values(caller, ref)
            problem = "" if values else f"sighting_of_ref {ref[:100]!r} is no indicator with a value we know"
            count = obj.get("count", 1)
            lines.append(
                ReportedLine(
                    n,
                    values[0] if values else "",
                    count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
                    first_seen=str(obj.get("first_seen", "")),
                    last_seen=str(obj.get("last_seen", "")),
                    problem=problem,
                )
            )
        elif kind in ("indicator", *OBSERVABLES):
            values = _values_of(obj)
            lines.append(
                ReportedLine(n, values[0] if values else "", problem="" if values else "no value in it")
            )
        else:
            lines.append(
                ReportedLine(
                    n, "", problem=f"a {str(kind)[:40]!r} is not a sighting, indicator or observable"
                )
            )
    return lines


OBSERVABLES = ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file")


def _values_of(obj: Any) -> list[str]:
    if not isinstance(obj, dict):
        return []
    if obj.get("type") == "indicator":
        return [v.value for v in pattern_values(str(obj.get("pattern", "")))][:1]
    if obj.get("type") == "file":
        hashes = obj.get("hashes")
        return [str(h) for h in hashes.values()][:1] if isinstance(hashes, dict) else []
    return [str(obj["value"])] if "value" in obj else []


def _stored_values(caller: Caller, object_id: str) -> list[str]:
    """The values of a stored indicator the caller may see (a sighting may refer to the city's)."""
    svc = services()
    hits = [h for h in visible_copies(svc.store, svc.settings, caller, object_id) if h.values]
    return [hits[0].values[0]["value"]] if hits else []


def lines_from_csv(text: str) -> list[ReportedLine]:
    lines = []
    # One physical line is one report, whatever its line ending (\n, \r\n, or a lone \r).
    physicals = text.splitlines()
    check_upload_size(len(physicals) - 1, "lines")  # a header line does not count
    for n, physical in enumerate(physicals, start=1):
        try:
            row = next(csv.reader([physical]), [])
        except csv.Error as exc:
            lines.append(ReportedLine(n, physical[:200], problem=f"not a CSV line: {exc}"))
            continue
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if n == 1 and cells[0].lower() == "value":
            continue  # a header
        cells += [""] * (len(CSV_COLUMNS) - len(cells))
        try:
            count = int(cells[2]) if cells[2] else 1
        except ValueError:
            count = 0
        lines.append(ReportedLine(n, cells[0], cells[1], count, cells[3], cells[4]))
        if len(lines) > MAX_LINES:
            break
    return lines


def record_sightings(caller: Caller, lines: list[ReportedLine]) -> dict[str, Any]:
    """Build, ingest and summarize: what the API and the web form both answer with."""
    svc = services()
    collection = svc.settings.collection(svc.settings.sightings_collection)
    assert collection is not None  # checked when the settings were loaded
    if not lines:
        raise BadRequest("there are no sightings in this upload")

    def known(indicator_id: str) -> bool:
        # Known to the caller, not anywhere: new_indicator must not say whether an indicator the
        # caller may not see exists. If one does, the one stored stays (the write below is
        # refused as not the caller's, which no receipt line reports) and the sighting counts on it.
        return bool(visible_copies(svc.store, svc.settings, caller, indicator_id))

    receipt = build_sightings(lines, caller.name or "", svc.sanitizer, collection.tlp_ceiling, known)
    # The identity is the server's (partners never post identities); the rest is the caller's.
    identity, *reported = receipt.objects
    ingest_objects(svc.store, collection, [identity], sanitizer=None)  # made here, not posted
    report = ingest_objects(
        svc.store, collection, reported, owner=write_owner(caller), sanitizer=svc.sanitizer
    )
    outcome = {r.id: r.outcome for r in report.successes}
    failed = {r.id: r.message for r in report.failures}
    for line in receipt.lines:
        sid = str(line.get("sighting_id", ""))
        if sid in failed:
            line.update(status="rejected", reason=failed[sid])
        elif line["status"] == "accepted" and outcome.get(sid) == "unchanged":
            line.update(status="duplicate", reason="already reported; not counted again")
    counts = {
        s: sum(1 for line in receipt.lines if line["status"] == s)
        for s in ("accepted", "duplicate", "rejected")
    }
    return {**counts, "collection": collection.alias, "lines": receipt.lines}
