"""Realistic synthetic STIX 2.1 content, generated (never downloaded), for the demo and benchmarks.

Values come from the documentation ranges (RFC 5737 addresses, RFC 2606 names) so that the demo
never points at a real party. The connectors issue replaces the demo with real sample data.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from indexer.tlp import MARKING_FOR_LEVEL

NAMESPACE = uuid.UUID("5b3c1f0e-9a4d-4c2b-8e7f-6a5d4c3b2a10")
CITY_SOC_ID = f"identity--{uuid.uuid5(NAMESPACE, 'city-soc')}"
_NETS = ("192.0.2", "198.51.100", "203.0.113")
_WORDS = ("invoice", "login", "secure", "update", "account", "verify", "portal", "cdn", "mail", "pay")
_TLDS = ("example", "example.com", "example.net", "example.org", "test")
_CATEGORIES = (
    ("ET SCAN Suspicious inbound to MSSQL port 1433", "scanner", "reconnaissance"),
    ("ET EXPLOIT Apache log4j RCE attempt", "exploit-attempt", "exploitation"),
    ("SSH brute force", "brute-force", "credential-access"),
    ("Phishing landing page", "phishing", "initial-access"),
    ("Malware download", "malware-delivery", "delivery"),
)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def city_identity() -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": CITY_SOC_ID,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "City Security Operations Center",
        "identity_class": "organization",
        "sectors": ["government-local"],
    }


def _observable(rng: random.Random, i: int) -> tuple[str, str, str]:
    kind = i % 5
    if kind in (0, 1):
        value = f"{_NETS[i % 3]}.{1 + (i * 7) % 254}"
        return "ipv4-addr", f"[ipv4-addr:value = '{value}']", value
    if kind == 2:
        value = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}{i}.{rng.choice(_TLDS)}"
        return "domain-name", f"[domain-name:value = '{value}']", value
    if kind == 3:
        value = f"http://{rng.choice(_WORDS)}{i}.{rng.choice(_TLDS)}/{rng.choice(_WORDS)}.php?id={i}"
        return "url", f"[url:value = '{value}']", value
    value = f"{rng.getrandbits(256):064x}"
    return "file", f"[file:hashes.'SHA-256' = '{value}']", value


def indicators(
    count: int, seed: int = 7, start: datetime | None = None, tlp: str = "green"
) -> Iterator[dict[str, Any]]:
    """`count` indicators with deterministic ids, spread over 30 days before `start`."""
    rng = random.Random(seed)
    start = start or datetime(2026, 11, 1, tzinfo=UTC)
    marking = MARKING_FOR_LEVEL[tlp]
    for i in range(count):
        obs_type, pattern, value = _observable(rng, i)
        signature, label, phase = _CATEGORIES[i % len(_CATEGORIES)]
        created = start - timedelta(seconds=rng.randint(0, 30 * 86400))
        yield {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid5(NAMESPACE, f'{seed}:{i}')}",
            "created": _stamp(created),
            "modified": _stamp(created),
            "created_by_ref": CITY_SOC_ID,
            "name": f"{signature}: {value}",
            "description": f"Seen by the city SOC ({signature}).",
            "indicator_types": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": _stamp(created),
            "valid_until": _stamp(created + timedelta(days=30 if obs_type == "ipv4-addr" else 90)),
            "kill_chain_phases": [
                {"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": phase}
            ],
            "labels": [label],
            "confidence": rng.choice((50, 70, 85)),
            "object_marking_refs": [marking],
        }


def demo_bundle(count: int = 400, tlp: str = "green") -> list[dict[str, Any]]:
    """A demo feed: the city SOC identity, indicators (some revised), and sightings of them."""
    objects: list[dict[str, Any]] = [city_identity()]
    inds = list(indicators(count, tlp=tlp))
    objects.extend(inds)
    marking = MARKING_FOR_LEVEL[tlp]
    for n, ind in enumerate(inds[: count // 10]):
        # A later revision: higher confidence after more sightings; same id, new `modified`.
        revised = dict(
            ind, confidence=95, modified=_stamp(datetime(2026, 11, 10, tzinfo=UTC) + timedelta(minutes=n))
        )
        objects.append(revised)
        objects.append(
            {
                "type": "sighting",
                "spec_version": "2.1",
                "id": f"sighting--{uuid.uuid5(NAMESPACE, 'sighting:' + ind['id'])}",
                "created": revised["modified"],
                "modified": revised["modified"],
                "created_by_ref": CITY_SOC_ID,
                "sighting_of_ref": ind["id"],
                "first_seen": ind["valid_from"],
                "last_seen": revised["modified"],
                "count": 3 + n % 20,
                "where_sighted_refs": [CITY_SOC_ID],
                "object_marking_refs": [marking],
            }
        )
    return objects
