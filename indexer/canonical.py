"""Canonical forms of STIX objects: two serializations of one object compare equal.

A client library that parses and re-serializes what it fetched (stix2 does) writes the same
instant as `.120Z` instead of `.120000Z`, and may add a property with its default value
(`pattern_version: "2.1"`, `revoked: false`). STIX 2.1 section 3.2 makes timestamps instants
(precision is presentation) and section 3.6 lets a property equal to its default be omitted
without that being a change; TAXII 2.1 section 5.5 says re-posting an object already present is
not an error. So ingest compares canonical forms before calling a re-post a conflict; what is
stored and served stays the first serialization, byte for byte.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from indexer.timestamps import parse_timestamp

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
# Properties whose value, when equal to this default, means the same as leaving them out
# (STIX 2.1: revoked, defanged, lang, sighting summary, x509 is_self_signed, network-traffic
# is_active, email-message is_multipart is required so it is not here).
_DEFAULTS: dict[str, Any] = {"revoked": False, "defanged": False, "lang": "en"}
_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "sighting": {"summary": False},
    "x509-certificate": {"is_self_signed": False},
    "network-traffic": {"is_active": False},
}


def canonical(obj: dict[str, Any]) -> bytes:
    """Sorted-key JSON of `obj` with instants to microseconds and default-valued properties dropped."""
    defaults = {**_DEFAULTS, **_TYPE_DEFAULTS.get(str(obj.get("type")), {})}
    if obj.get("type") == "indicator":
        defaults["pattern_version"] = obj.get("spec_version", "2.1")  # STIX 2.1 section 4.7
    top = {k: v for k, v in obj.items() if not (k in defaults and v == defaults[k])}
    return orjson.dumps(_instants(top), option=orjson.OPT_SORT_KEYS)


def _instants(node: Any) -> Any:
    if isinstance(node, str):
        if _TIMESTAMP.match(node):
            try:
                return f"instant:{parse_timestamp(node)}"
            except ValueError:
                return node
        return node
    if isinstance(node, dict):
        return {k: _instants(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_instants(v) for v in node]
    return node


def same_object(stored: bytes, posted: bytes) -> bool:
    """Whether two serializations are one object (see the module docstring)."""
    if stored == posted:
        return True
    a, b = orjson.loads(stored), orjson.loads(posted)
    return isinstance(a, dict) and isinstance(b, dict) and canonical(a) == canonical(b)
