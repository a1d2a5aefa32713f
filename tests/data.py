"""Sample objects more than one suite uses, and the builders that make them.

Values are from the documentation ranges (RFC 5737, RFC 3849) or invented `.example` names unless
a test needs a public one; tests/fixtures/test-config.toml lets the documentation ranges through
the sanitizer.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from indexer.normalize.common import indicator_id, pattern_for, source_reference
from indexer.store.base import NewObject
from indexer.tlp import MARKING_FOR_LEVEL

GREEN = MARKING_FOR_LEVEL["green"]  # TLP 2.0
RED = MARKING_FOR_LEVEL["red"]
# STIX 2.1's own TLP 1.0 marking definitions, which most feeds still carry.
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"


def stix_id(stix_type: str, n: int) -> str:
    """A fixed id: the same object in every run."""
    return f"{stix_type}--{uuid.UUID(int=n, version=4)}"


# -- indicators -----------------------------------------------------------------------------------
def indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    """A TLP:GREEN indicator with a new random id (what an attacker posting objects controls)."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
        "object_marking_refs": [GREEN],
        **extra,
    }


def indicator_for(
    kind: str,
    value: str,
    tlp: str = "green",
    valid_until: str = "2099-01-01T00:00:00Z",
    revoked: bool = False,
    source: str = "City SOC",
    random_id: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """An indicator of one value as a connector would make it (deterministic id, a source).

    `random_id` gives another object with the same value (a second source, say)."""
    pattern = pattern_for(kind, value)
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}" if random_id else indicator_id(pattern),
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-20T00:00:00.000Z",
        "name": f"Attacker {value}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
        "valid_until": valid_until,
        "object_marking_refs": [MARKING_FOR_LEVEL[tlp]],
        "external_references": [source_reference(source)],
        **extra,
    }
    if revoked:
        obj["revoked"] = True
    return obj


def similar_indicators(count: int, word: str = "alpha") -> list[dict[str, Any]]:
    """Indicators whose names share words starting with 'a' (prefix queries touch them all)."""
    return [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.UUID(int=0x5EC0000 + n, version=4)}",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-02T00:00:00.000Z",
            "name": f"{word} a{n:05d} ab{n % 97} abc{n % 13} attack",
            "pattern": f"[ipv4-addr:value = '203.0.{n // 250}.{n % 250 + 1}']",
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00.000Z",
            "labels": [f"a-label-{n % 7}"],
            "object_marking_refs": [TLP1_WHITE],
        }
        for n in range(count)
    ]


RTL = "\u202e"  # right-to-left override: shown, never obeyed
# Hostile values in every field the web pages show (the web and browser tests).
HOSTILE = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": f"indicator--{uuid.uuid4()}",
    "created": "2026-11-01T00:00:00.000Z",
    "modified": "2026-11-20T00:00:00.000Z",
    "name": "<script>alert('name')</script>",
    "description": "<img src=x onerror=alert(1)> " + "A" * 10_000,
    # (a value must be a well-formed URL to get in: the hostile part rides in its path)
    "pattern": f"[url:value = 'http://evil.example/javascript:alert(1)//{RTL}gpj.exe']",
    "pattern_type": "stix",
    "valid_from": "2026-11-01T00:00:00Z",
    "labels": ['"><svg onload=alert(2)>'],
}

# The city's indicator partner sightings land on (the sightings API and OpenAPI tests).
CITY_IP = "1.2.3.77"
CITY_INDICATOR = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": indicator_id(pattern_for("ipv4", CITY_IP)),
    "created": "2026-01-01T00:00:00.000Z",
    "modified": "2026-01-01T00:00:00.000Z",
    "pattern": pattern_for("ipv4", CITY_IP),
    "pattern_type": "stix",
    "valid_from": "2026-01-01T00:00:00Z",
}


# -- the search corpus: one of each kind, searched by the store suite and over HTTP -------------------
ORG_A = stix_id("identity", 0xA)
ORG_B = stix_id("identity", 0xB)


def numbered_indicator(n: int, pattern: str, seen: str, **extra: Any) -> dict[str, Any]:
    """Indicator number `n` (a fixed id), TLP:GREEN, last modified `seen`."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id("indicator", n),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": seen,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
        "object_marking_refs": [TLP1_GREEN],
        **extra,
    }


def sighting(n: int, of: str, org: str, count: int, seen: str) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": stix_id("sighting", n),
        "created": seen,
        "modified": seen,
        "sighting_of_ref": of,
        "where_sighted_refs": [org],
        "count": count,
        "first_seen": seen,
        "last_seen": seen,
    }


IP = numbered_indicator(
    1,
    "[ipv4-addr:value = '198.51.100.7']",
    "2026-03-01T00:00:00.000Z",
    name="Malicious IP address: 198.51.100.7",
    description="SSH brute force against city hall",
    labels=["brute-force"],
    external_references=[{"source_name": "city-soc", "description": "Reported by city-soc"}],
)
NET = numbered_indicator(2, "[ipv4-addr:value = '198.51.100.128/25']", "2026-02-01T00:00:00.000Z")
V6 = numbered_indicator(3, "[ipv6-addr:value = '2001:db8::1']", "2026-02-02T00:00:00.000Z")
DOMAIN = numbered_indicator(
    4,
    "[domain-name:value = 'Evil.Example.com']",
    "2026-04-01T00:00:00.000Z",
    labels=["phishing"],
    external_references=[{"source_name": "cert-fr", "description": "Reported by cert-fr"}],
    object_marking_refs=[TLP1_AMBER],
)
URL = numbered_indicator(5, "[url:value = 'http://cdn.evil.example.com/x.exe']", "2026-01-15T00:00:00.000Z")
HASH = numbered_indicator(6, "[file:hashes.'SHA-256' = '" + "AB" * 32 + "']", "2026-01-20T00:00:00.000Z")
REVOKED = numbered_indicator(7, "[ipv4-addr:value = '203.0.113.9']", "2026-01-10T00:00:00.000Z", revoked=True)
EXPIRED = numbered_indicator(
    8,
    "[domain-name:value = 'old.example.org']",
    "2026-01-05T00:00:00.000Z",
    valid_until="2026-02-01T00:00:00Z",
)
# Attacker-written text: search must treat it as words, never as query syntax.
HOSTILE_TEXT = numbered_indicator(
    9,
    "[url:value = 'http://x.example/?q=1\\'%20OR%201=1%20--%20\"AND\"%20NEAR(a%20b)*']",
    "2026-01-25T00:00:00.000Z",
    name='title: "quoted" OR * AND NOT (x)',
)
PRIVATE = numbered_indicator(10, "[ipv4-addr:value = '198.51.100.8']", "2026-03-02T00:00:00.000Z")
INDICATORS = [IP, NET, V6, DOMAIN, URL, HASH, REVOKED, EXPIRED, HOSTILE_TEXT]
SIGHTINGS = [
    sighting(20, IP["id"], ORG_A, 5, "2026-03-01T10:00:00.000Z"),
    sighting(21, IP["id"], ORG_B, 2, "2026-03-02T10:00:00.000Z"),
    sighting(22, DOMAIN["id"], ORG_A, 1, "2026-03-02T11:00:00.000Z"),
]
IDENTITIES = [
    {
        "type": "identity",
        "spec_version": "2.1",
        "id": org,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": name,
        "identity_class": "organization",
    }
    for org, name in ((ORG_A, "Acme Bakery"), (ORG_B, "Main Street Dental"))
]


# -- store-level objects --------------------------------------------------------------------------
def new_object(n: int, version: int = 1_000, stix_type: str = "indicator", spec: str = "2.1") -> NewObject:
    """Object `n` at `version` as the store takes it: a tiny body the store never parses."""
    oid = f"{stix_type}--{uuid.UUID(int=n)}"
    body = orjson.dumps({"id": oid, "type": stix_type, "v": version})
    return NewObject(oid, stix_type, version, f"v{version}", spec, body)
