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

from cyberlab.api.common import bad_request, json_response, require_role
from cyberlab.auth import Caller
from cyberlab.services import services
from indexer.ingest import ingest_objects
from indexer.search.model import SearchQuery
from indexer.sightings import MAX_LINES, ReportedLine, build_sightings

bp = Blueprint("sightings", __name__)
CSV_COLUMNS = ("value", "type", "count", "first_seen", "last_seen")


@bp.post("/api/v1/sightings")
def upload() -> Response:
    caller = require_role("partner", "analyst")
    media = (request.mimetype or "").lower()
    text = request.get_data(as_text=True)
    if media == "application/json":
        lines = lines_from_json(text)
    elif media in ("text/csv", "text/plain"):
        lines = lines_from_csv(text)
    else:
        raise bad_request('send application/json ({"sightings": [...]}) or text/csv (value,type,count,...)')
    return json_response(record_sightings(caller, lines))


def lines_from_json(text: str) -> list[ReportedLine]:
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("sightings"), list):
        raise bad_request('the body must be an object with a "sightings" list')
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


def lines_from_csv(text: str) -> list[ReportedLine]:
    lines = []
    # One physical line is one report, whatever its line ending (\n, \r\n, or a lone \r).
    for n, physical in enumerate(text.splitlines(), start=1):
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
        raise bad_request("there are no sightings in this upload")
    everywhere = tuple(c.id for c in svc.settings.collections.values())

    def known(indicator_id: str) -> bool:
        return bool(svc.store.search(SearchQuery(collections=everywhere, ids=(indicator_id,), limit=1)).hits)

    receipt = build_sightings(lines, caller.name or "", svc.sanitizer, collection.tlp_ceiling, known)
    report = ingest_objects(svc.store, collection, receipt.objects)
    outcome = {r.id: r.message for r in report.successes}
    failed = {r.id: r.message for r in report.failures}
    for line in receipt.lines:
        sid = str(line.get("sighting_id", ""))
        if sid in failed:
            line.update(status="rejected", reason=failed[sid])
        elif line["status"] == "accepted" and outcome.get(sid) == "already present, unchanged":
            line.update(status="duplicate", reason="already reported; not counted again")
    counts = {
        s: sum(1 for line in receipt.lines if line["status"] == s)
        for s in ("accepted", "duplicate", "rejected")
    }
    return {**counts, "collection": collection.alias, "lines": receipt.lines}
