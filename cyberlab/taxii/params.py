"""TAXII 2.1 URL parameters (spec 3.4-3.5) -> an ObjectQuery, with a 400 for anything malformed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import orjson
from flask import request

from cyberlab.errors import BadRequest
from cyberlab.taxii.paging import PageTokens
from indexer.store.base import ObjectQuery
from indexer.timestamps import parse_timestamp

_ID_RE = re.compile(
    r"^[a-z0-9][a-z0-9-]*[a-z0-9]--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_SPEC_RE = re.compile(r"^[0-9]+\.[0-9]+$")  # ASCII digits: \d takes '٢.١' too

# Which parameters each endpoint understands (TAXII 2.1 sections 5.3-5.8).
PAGING = ("added_after", "limit", "next")
ENDPOINT_PARAMS: dict[str, tuple[str, ...]] = {
    "objects": (*PAGING, "match[id]", "match[type]", "match[version]", "match[spec_version]"),
    "manifest": (*PAGING, "match[id]", "match[type]", "match[version]", "match[spec_version]"),
    "object": (*PAGING, "match[version]", "match[spec_version]"),
    "versions": (*PAGING, "match[spec_version]"),
    "delete": ("match[version]", "match[spec_version]"),
}
DEFAULT_VERSIONS = {
    "objects": "last",
    "manifest": "last",
    "object": "last",
    "versions": "all",
    "delete": "all",
}


@dataclass(frozen=True)
class PagingLimits:
    default: int
    maximum: int
    filter_values: int = 100  # distinct values in one match[...] filter (limits.filter_values)


def bad_parameter(name: str, why: str) -> BadRequest:
    return BadRequest(f"{name}: {why}", title="Invalid query parameter")


def _values(name: str, cap: int) -> list[str]:
    """A filter's values, duplicates dropped (350 copies of one type cost 0.5 s as SQL terms)."""
    values: list[str] = []
    for raw in request.args.getlist(name):
        values.extend(v.strip() for v in raw.split(","))
    if any(not v for v in values):
        raise bad_parameter(name, "empty value in the list")
    values = list(dict.fromkeys(values))
    if len(values) > cap:
        raise bad_parameter(
            name, f"{len(values)} different values; at most {cap} are allowed (limits.filter_values)"
        )
    return values


def parse_query(
    endpoint: str,
    collection_id: str,
    limits: PagingLimits,
    tokens: PageTokens,
    object_id: str | None = None,
) -> tuple[ObjectQuery, str]:
    """Build the store query for this request; returns it with the fingerprint for `next` tokens."""
    allowed = ENDPOINT_PARAMS[endpoint]
    for name in request.args:
        if name.startswith("match[") and name not in allowed:
            supported = ", ".join(a for a in allowed if a.startswith("match[")) or "none"
            raise bad_parameter(name, f"this endpoint does not support that filter (supported: {supported})")
        if name in PAGING and name not in allowed:
            raise bad_parameter(name, "this endpoint does not page")

    cap = limits.filter_values
    ids = tuple(_values("match[id]", cap)) if "match[id]" in allowed else ()
    for value in ids:
        if not _ID_RE.match(value):
            raise bad_parameter("match[id]", f"{value!r} is not a STIX identifier (type--uuid)")
    if object_id is not None:
        ids = (object_id,)
    types = tuple(_values("match[type]", cap)) if "match[type]" in allowed else ()
    for value in types:
        if not _TYPE_RE.match(value):
            raise bad_parameter("match[type]", f"{value!r} is not a STIX type name")
    versions = _versions(endpoint, cap)
    spec_versions = tuple(_values("match[spec_version]", cap))
    for value in spec_versions:
        if not _SPEC_RE.match(value):
            raise bad_parameter("match[spec_version]", f"{value!r} is not a version such as 2.1")
    added_after = _added_after() if "added_after" in allowed else None

    fingerprint = hashlib.sha256(
        orjson.dumps(
            [
                endpoint,
                collection_id,
                sorted(ids),
                sorted(types),
                sorted(map(str, versions)),
                sorted(spec_versions),
                added_after,
            ]
        )
    ).hexdigest()[:24]
    after = None
    if "next" in allowed and request.args.get("next"):
        after = tokens.open(request.args["next"], fingerprint)
    limit = _limit(limits) if "limit" in allowed else limits.maximum
    query = ObjectQuery(
        collection=collection_id,
        ids=ids,
        types=types,
        versions=versions,
        spec_versions=spec_versions,
        added_after=added_after,
        after=after,
        limit=limit,
    )
    return query, fingerprint


def _versions(endpoint: str, cap: int) -> tuple[str | int, ...]:
    if "match[version]" not in ENDPOINT_PARAMS[endpoint] or "match[version]" not in request.args:
        return (DEFAULT_VERSIONS[endpoint],)
    parsed: list[str | int] = []
    for value in _values("match[version]", cap):
        if value in ("first", "last", "all"):
            parsed.append(value)
            continue
        try:
            parsed.append(parse_timestamp(value))
        except ValueError:
            raise bad_parameter(
                "match[version]", f"{value!r} is not 'first', 'last', 'all' or an RFC 3339 timestamp"
            ) from None
    return tuple(parsed)


def _added_after() -> int | None:
    value = request.args.get("added_after")
    if value is None:
        return None
    try:
        return parse_timestamp(value.strip())
    except ValueError:
        raise bad_parameter(
            "added_after", f"{value!r} is not an RFC 3339 timestamp such as 2026-01-31T00:00:00.000Z"
        ) from None


def _limit(limits: PagingLimits) -> int:
    value = request.args.get("limit")
    if value is None:
        return limits.default
    text = value.strip()
    # ASCII digits only: str.isdigit() is true for '²', which int() then refuses (a 500). And at
    # most 9 of them: anything longer is capped at the maximum anyway.
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
        raise bad_parameter("limit", f"{value[:40]!r} is not a positive integer")
    # The spec lets a server return fewer than asked; we cap at the configured maximum.
    return min(int(text), limits.maximum)
