"""The observable values an object carries, and the keys that make them searchable.

An indicator's values come from the equality comparisons in its STIX pattern; a cyber observable
(ipv4-addr, domain-name, url, file...) carries its own. IPs become fixed-width hex of their
IPv6-mapped integer so that CIDR containment is a string range, and domains are stored with their
labels reversed (com.example.www) so that "example.com and its subdomains" is a prefix range.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from indexer.pattern import PatternError, comparisons, tokenize
from indexer.pattern import is_compound as _compound_tokens

_V4_MAPPED = 0xFFFF00000000


@dataclass(frozen=True)
class Value:
    kind: str  # ip, cidr, domain, url, hash, email, other
    value: str

    @property
    def key(self) -> str:
        """What exact-value search compares: case folded (domains, hashes and emails ignore case)."""
        return self.value.lower()

    @property
    def ip_range(self) -> tuple[str, str] | None:
        return ip_range(self.value) if self.kind in ("ip", "cidr") else None

    @property
    def domain_rev(self) -> str | None:
        if self.kind == "domain":
            return reverse_domain(self.value)
        if self.kind == "url":
            try:
                host = urlsplit(self.value).hostname
            except ValueError:
                return None
            return reverse_domain(host) if host else None
        return None


def _kind(obj_type: str, prop: str, value: str) -> str | None:
    if obj_type in ("ipv4-addr", "ipv6-addr") and prop == "value":
        return "cidr" if "/" in value else "ip"
    if obj_type == "domain-name" and prop == "value":
        return "domain"
    if obj_type == "url" and prop == "value":
        return "url"
    if obj_type == "email-addr" and prop == "value":
        return "email"
    if obj_type == "file" and prop.startswith("hashes."):
        return "hash"
    return None


def pattern_values(pattern: str) -> list[Value]:
    """Every `object:path = 'literal'` comparison of a STIX pattern that names a known kind."""
    try:
        found = comparisons(pattern)  # a linear-time tokenizer: no regex backtracking on long literals
    except PatternError:
        return []  # refused at ingest; one stored some other way publishes nothing
    values = []
    for comparison in found:
        if comparison.operator != "=" or comparison.negated or len(comparison.values) != 1:
            continue
        kind = _kind(comparison.object_type, comparison.path, comparison.values[0])
        if kind:
            values.append(Value(kind, comparison.values[0]))
    return values


def is_compound(pattern: str) -> bool:
    """A pattern that needs several things at once (AND, FOLLOWEDBY): no single value stands for it."""
    try:
        return _compound_tokens(tokenize(pattern))
    except PatternError:
        return True  # nothing unreadable is flattened into a list


def object_values(obj: dict[str, Any]) -> list[Value]:
    if obj.get("type") == "indicator":
        return pattern_values(obj.get("pattern", "")) if obj.get("pattern_type") == "stix" else []
    value = obj.get("value")
    if isinstance(value, str):
        kind = _kind(obj["type"], "value", value)
        return [Value(kind, value)] if kind else []
    hashes = obj.get("hashes")
    if obj.get("type") == "file" and isinstance(hashes, dict):
        return [Value("hash", h) for h in hashes.values() if isinstance(h, str)]
    return []


def ip_range(text: str) -> tuple[str, str] | None:
    """The first and last address of an IP or CIDR as 32 hex digits (IPv4 mapped into IPv6)."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    low, high = int(network.network_address), int(network.broadcast_address)
    if network.version == 4:
        low, high = low + _V4_MAPPED, high + _V4_MAPPED
    return f"{low:032x}", f"{high:032x}"


def reverse_domain(domain: str) -> str:
    return ".".join(reversed(domain.strip().strip(".").lower().split(".")))
