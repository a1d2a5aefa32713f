"""What every normalizer shares: deterministic ids, patterns, identities, lifetimes, markings.

Normalizers are pure: the same record gives the same objects, whatever the clock says. Ids are
UUIDv5 over identifying properties, so two runs or two sources converge on one object.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from config import ExpirySettings
from indexer.tlp import MARKING_FOR_LEVEL

NAMESPACE = uuid.UUID("0c4b1f7e-2d1a-5b39-9f3e-6c1d2e3f4a5b")
FIXED_CREATED = "2020-01-01T00:00:00.000Z"  # identities: a constant, so every run emits the same object

OBJECT_PATHS = {
    "ipv4": "ipv4-addr:value",
    "ipv6": "ipv6-addr:value",
    "domain": "domain-name:value",
    "url": "url:value",
    "email": "email-addr:value",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
}
KIND_NAMES = {
    "ipv4": "IP address",
    "ipv6": "IP address",
    "domain": "domain",
    "url": "URL",
    "email": "email address",
    "md5": "file (MD5)",
    "sha1": "file (SHA-1)",
    "sha256": "file (SHA-256)",
}
# Signature keywords -> a kill-chain phase (Lockheed Martin), for analysts and filters.
PHASES = (
    ("scan", "reconnaissance"),
    ("recon", "reconnaissance"),
    ("sipvicious", "reconnaissance"),
    ("exploit", "exploitation"),
    ("injection", "exploitation"),
    ("traversal", "exploitation"),
    ("cve", "exploitation"),
    ("brute", "exploitation"),
    ("login failed", "exploitation"),
    ("trojan", "command-and-control"),
    ("c2", "command-and-control"),
    ("cnc", "command-and-control"),
    ("malware", "delivery"),
    ("phish", "delivery"),
    ("deny", "delivery"),
    ("drop", "delivery"),
)


@dataclass(frozen=True)
class NormalizeContext:
    platform_identity: dict[str, Any]
    source_identity: dict[str, Any]
    source_name: str
    default_tlp: str
    expiry: ExpirySettings

    @property
    def marking(self) -> str:
        return MARKING_FOR_LEVEL[self.default_tlp]


def stable_id(stix_type: str, *parts: str) -> str:
    return f"{stix_type}--{uuid.uuid5(NAMESPACE, '|'.join(parts))}"


def identity(name: str, identity_class: str = "organization") -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": stable_id("identity", name),
        "created": FIXED_CREATED,
        "modified": FIXED_CREATED,
        "name": name,
        "identity_class": identity_class,
    }


def source_reference(source_name: str) -> dict[str, str]:
    """Provenance of a merged indicator: one external reference per source that reported it."""
    return {"source_name": source_name, "description": f"Reported by {source_name}"}


def escape_pattern_value(value: str) -> str:
    # STIX patterning string literals escape backslash and single quote.
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pattern_for(kind: str, value: str) -> str:
    return f"[{OBJECT_PATHS[kind]} = '{escape_pattern_value(value)}']"


def indicator_id(pattern: str) -> str:
    return stable_id("indicator", pattern)


def stamp(epoch_seconds: int | float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    # The year padded by hand: glibc's %Y writes a year before 1000 with fewer than 4 digits.
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def lifetime_days(kind: str, expiry: ExpirySettings) -> int:
    if kind in ("ipv4", "ipv6"):
        return expiry.ip_days
    if kind == "domain":
        return expiry.domain_days
    if kind == "url":
        return expiry.url_days
    if kind == "email":
        return expiry.email_days
    if kind in ("md5", "sha1", "sha256"):
        return expiry.hash_days
    return expiry.other_days


def valid_until(kind: str, last_seen: int | float, expiry: ExpirySettings) -> str | None:
    days = lifetime_days(kind, expiry)
    if days <= 0:
        return None
    return stamp((datetime.fromtimestamp(last_seen, tz=UTC) + timedelta(days=days)).timestamp())


def kill_chain(texts: list[str]) -> list[dict[str, str]]:
    phases: set[str] = set()
    for text in texts:
        lowered = text.lower()
        phases.update(phase for word, phase in PHASES if word in lowered)
    return [{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": p} for p in sorted(phases)]


def slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return cleaned[:60]
