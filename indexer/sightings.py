"""Partner sightings: reported values -> STIX Sightings (and indicators when new), with a receipt.

A line says "we saw VALUE (COUNT times, between FIRST and LAST)". It becomes a Sighting of the
indicator whose pattern matches the value: the same deterministic indicator id the connectors
use, so it lands on the city's indicator when there is one. The sighting id is derived from the
indicator, the partner and the reported window (the upload day when no window is given), so the
same report uploaded twice is stored once and counted once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.soc.parsers import ip_kind
from indexer.ingest import ObjectResult, identify
from indexer.normalize.common import identity, indicator_id, pattern_for, stable_id
from indexer.sanitize import Sanitizer
from indexer.timestamps import format_timestamp, parse_timestamp
from indexer.tlp import MARKING_FOR_LEVEL
from indexer.wellformed import value_problem

MAX_LINES = 10_000
MAX_VALUE = 2048
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$", re.I)
_HEX = re.compile(r"^[0-9a-f]+$", re.I)
_HASHES = {32: "md5", 40: "sha1", 64: "sha256"}
TYPE_NAMES = {
    "ip": None,
    "ipv4": "ipv4",
    "ipv6": "ipv6",
    "ipv4-addr": "ipv4",
    "ipv6-addr": "ipv6",
    "domain": "domain",
    "domain-name": "domain",
    "url": "url",
    "email": "email",
    "email-addr": "email",
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
}
WELLFORMED_KIND = {"md5": "hash", "sha1": "hash", "sha256": "hash"}
SANITIZER_KIND = {"ipv4": "ip", "ipv6": "ip", "md5": "hash", "sha1": "hash", "sha256": "hash"}


@dataclass(frozen=True)
class ReportedLine:
    line: int
    value: str
    type: str = ""
    count: int = 1
    first_seen: str = ""
    last_seen: str = ""
    problem: str = ""  # why the line could not even be read (then it is rejected with this)


@dataclass
class Receipt:
    lines: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, value: str, reason: str) -> None:
        self.lines.append({"line": line, "value": value[:200], "status": "rejected", "reason": reason})


def partner_identity(partner: str) -> dict[str, Any]:
    """The STIX identity of a partner account.

    Its own id space: a partner account named like a feed cannot pose as that feed's identity.
    """
    return {**identity(partner), "id": stable_id("identity", "partner-account", partner)}


SERVER_TYPES = ("identity", "marking-definition")


def partner_objects(
    objects: list[Any], partner: str, sightings: bool
) -> tuple[list[Any], list[ObjectResult]]:
    """What a partner may POST over TAXII, and a failure for each object it may not.

    Identities and marking-definitions are the server's everywhere: a partner's identity is made
    for its account (partner_identity), TLP markings are the standard ones; a partner posting
    one under another's id would rename that partner or TLP:AMBER for everyone.

    In the sightings collection a partner publishes only as itself: created_by_ref must be its
    account's identity, and a sighting's where_sighted_refs exactly that identity (the public
    counts are per organization); a sighting must be its own in every collection.

    We refuse an object that claims anyone else rather than rewrite it: STIX 2.1 (3.5, 3.6) says
    a version, once published, is the same everywhere and a changed copy needs a new id, and a
    copy under an id the partner never chose could not be updated, revoked or deleted by the
    partner through its own id. Refused, the partner learns
    what to send (the message names its identity), and every success in the status is exactly
    what was posted, byte for byte in canonical JSON.
    """
    org_id = partner_identity(partner)["id"]
    accepted: list[Any] = []
    refused: list[ObjectResult] = []
    for obj in objects:
        reason = _partner_problem(obj, org_id, sightings) if isinstance(obj, dict) else ""
        if reason:
            refused.append(ObjectResult(*identify(obj), "forbidden", reason))
        else:
            accepted.append(obj)
    return accepted, refused


def _partner_problem(obj: dict[str, Any], org_id: str, sightings: bool) -> str:
    kind = obj.get("type")
    if kind in SERVER_TYPES:
        return (
            f"a partner may not post a {kind}: the server keeps identities and marking definitions "
            f"(your account's identity is {org_id})"
        )
    # Sightings count for everyone wherever they are stored: a partner's are its own in every
    # collection. Elsewhere than the sightings collection other objects may be the partner's
    # copies of others' (a feed it relays), so only there must everything be its own.
    if kind is None or not (sightings or kind == "sighting"):
        return ""
    if obj.get("created_by_ref") != org_id:
        return f"created_by_ref must be your account's identity {org_id}: you publish only as yourself"
    if kind == "sighting" and obj.get("where_sighted_refs") != [org_id]:
        return f"where_sighted_refs must be [{org_id!r}]: a sighting you report is one you made"
    return ""


class LineRejected(ValueError):
    pass


def classify(value: str, declared: str = "") -> str:
    """The kind of a reported value (ipv4, ipv6, domain, url, email, md5, sha1, sha256)."""
    if declared:
        if declared.lower() not in TYPE_NAMES:
            names = ", ".join(sorted(TYPE_NAMES))
            raise LineRejected(f"unknown indicator type {declared!r}; use one of {names}")
        wanted = TYPE_NAMES[declared.lower()]
        found = classify(value)
        if wanted is None and found in ("ipv4", "ipv6"):
            return found
        if found != wanted:
            raise LineRejected(f"{value!r} is not a valid {declared}")
        return found
    if ip_kind(value):
        return ip_kind(value) or ""
    if _HEX.match(value) and len(value) in _HASHES:
        return _HASHES[len(value)]
    if "://" in value:
        return "url"
    if "@" in value and _DOMAIN.match(value.rpartition("@")[2]):
        return "email"
    if _DOMAIN.match(value):
        return "domain"
    raise LineRejected("not an IP address, domain, URL, email address or MD5/SHA-1/SHA-256 hash")


def _when(text: str, name: str, default: str) -> str:
    if not text:
        return default
    try:
        return format_timestamp(parse_timestamp(text))[:23] + "Z"
    except ValueError:
        raise LineRejected(f"{name} {text!r} is not an RFC 3339 timestamp (2026-03-01T10:00:00Z)") from None


def build_sightings(
    lines: list[ReportedLine],
    partner: str,
    sanitizer: Sanitizer,
    tlp: str,
    known_indicator: Any,
    now: datetime | None = None,
) -> Receipt:
    """STIX objects for every acceptable line, and a receipt line for every line.

    known_indicator(id) says whether an indicator already exists anywhere (then it is referenced,
    not re-created).
    """
    now = now or datetime.now(UTC)
    today = now.strftime("%Y-%m-%dT00:00:00.000Z")
    org = partner_identity(partner)
    marking = MARKING_FOR_LEVEL[tlp]
    receipt = Receipt(objects=[org])
    seen_ids: set[str] = set()
    for line in lines[:MAX_LINES]:
        value = line.value.strip()
        try:
            if line.problem:
                raise LineRejected(line.problem)
            if not value:
                raise LineRejected("the value is empty")
            if len(value) > MAX_VALUE:
                raise LineRejected(f"the value is longer than {MAX_VALUE} characters")
            if not 1 <= line.count <= 999_999_999:
                raise LineRejected("count must be between 1 and 999,999,999")
            kind = classify(value, line.type)
            problem = value_problem(WELLFORMED_KIND.get(kind, kind), value)
            if problem:  # one value, one line: never a newline smuggling more blocklist lines
                raise LineRejected(f"the value {problem}")
            value = value.lower() if kind in ("domain", "md5", "sha1", "sha256") else value
            reason = sanitizer.check(SANITIZER_KIND.get(kind, kind), value)
            if reason:
                raise LineRejected(f"not shared: {reason}")
            first = _when(line.first_seen, "first_seen", today)
            last = _when(line.last_seen, "last_seen", first)
            if parse_timestamp(last) < parse_timestamp(first):
                raise LineRejected("last_seen is before first_seen")
        except LineRejected as exc:
            receipt.reject(line.line, line.value, str(exc))
            continue
        pattern = pattern_for(kind, value)
        ind_id = indicator_id(pattern)
        sighting_id = stable_id("sighting", ind_id, org["id"], first, last, str(line.count))
        entry: dict[str, Any] = {
            "line": line.line,
            "value": value,
            "status": "accepted",
            "indicator_id": ind_id,
            "sighting_id": sighting_id,
        }
        if sighting_id in seen_ids:
            entry.update(status="rejected", reason="the same sighting as an earlier line of this upload")
            receipt.lines.append(entry)
            continue
        seen_ids.add(sighting_id)
        if not known_indicator(ind_id) and ind_id not in seen_ids:
            seen_ids.add(ind_id)
            entry["new_indicator"] = True
            receipt.objects.append(
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": ind_id,
                    "created": first,
                    "modified": first,
                    "created_by_ref": org["id"],
                    "name": f"Reported by a partner: {value}",
                    "indicator_types": ["malicious-activity"],
                    "pattern": pattern,
                    "pattern_type": "stix",
                    "pattern_version": "2.1",
                    "valid_from": first,
                    "object_marking_refs": [marking],
                }
            )
        receipt.objects.append(
            {
                "type": "sighting",
                "spec_version": "2.1",
                "id": sighting_id,
                "created": last,
                "modified": last,
                "created_by_ref": org["id"],
                "sighting_of_ref": ind_id,
                "where_sighted_refs": [org["id"]],
                "first_seen": first,
                "last_seen": last,
                "count": line.count,
                "object_marking_refs": [marking],
            }
        )
        receipt.lines.append(entry)
    for extra in lines[MAX_LINES:]:
        receipt.reject(extra.line, extra.value, f"an upload holds at most {MAX_LINES:,} lines")
    return receipt
