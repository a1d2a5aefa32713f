"""The observable values an object carries, and the keys that make them searchable.

An indicator's values come from the equality comparisons in its STIX pattern; a cyber observable
(ipv4-addr, domain-name, url, file...) carries its own. IPs become fixed-width hex of their
IPv6-mapped integer so that CIDR containment is a string range, and domains are stored with their
labels reversed (com.example.www) so that "example.com and its subdomains" is a prefix range.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from indexer.pattern import PatternError, Token, comparisons, tokenize
from indexer.pattern import is_compound as _compound_tokens
from indexer.wellformed import is_domain

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
            # (a scheme-less URL, `www.example.top/x`, is taken as the http:// one it means)
            url = self.value if "://" in self.value else "http://" + self.value
            try:
                host = urlsplit(url).hostname
            except ValueError:
                return None
            return reverse_domain(host) if host else None
        return None


def _kind(obj_type: str, prop: str, value: str) -> str | None:
    """The kind of value a comparison of `obj_type:prop` with `value` identifies a thing by, or None
    for a context comparison (file:name, ports, sizes, types) that no one blocks on its own."""
    if obj_type in ("ipv4-addr", "ipv6-addr") and prop == "value":
        return "cidr" if "/" in value else "ip"
    if obj_type == "domain-name" and prop == "value":
        return "domain"
    if obj_type == "url" and prop == "value":
        return "url"
    if obj_type == "email-addr" and prop == "value":
        return "email"
    if obj_type in ("file", "artifact") and prop.startswith("hashes."):
        return "hash"
    # misp-stix: domain|ip is [domain-name:value = 'd' AND domain-name:resolves_to_refs[*].value = 'ip'],
    # ip|port and ip-src/ip-dst are network-traffic endpoints.
    if (obj_type == "domain-name" and prop == "resolves_to_refs[*].value") or (
        obj_type == "network-traffic" and prop in ("src_ref.value", "dst_ref.value")
    ):
        return _address_kind(value)
    return None


def _address_kind(value: str) -> str | None:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "domain" if is_domain(value) else None  # network-traffic:dst_ref.type = 'domain-name'
    return "ip" if network.num_addresses == 1 and "/" not in value else "cidr"


_QUALIFIERS = {"WITHIN": 3, "REPEATS": 3, "START": 4}  # WITHIN n SECONDS, REPEATS n TIMES, START t STOP t


def pattern_values(pattern: str) -> list[Value]:
    """The values a STIX pattern can be blocked by, as an analyst means it.

    Within one observation `[...]`, every equality comparison that identifies a thing on its own
    (each hash of a file, the domain and the address of a domain|ip, the address of an ip|port, a
    URL) gives its value, whatever the AND and OR around it; context comparisons (file:name,
    ports, sizes) give none. An observation with a negation (NOT, !=) gives nothing. Observations
    joined by OR each give theirs; joined by AND or FOLLOWEDBY, or under a qualifier (WITHIN,
    REPEATS, START/STOP), they need several sightings together and give nothing. Exports and the
    search index both use this, so search finds what the blocklists carry.
    """
    try:
        tokens = tokenize(pattern)
        found = comparisons(pattern)  # one per "path" token, in order (linear time, under the limits)
    except PatternError:
        return []  # refused at ingest; one stored some other way publishes nothing
    values: list[Value] = []
    if len(tokens) == 5 and tokens[0].kind == "[" and tokens[1].kind == "path" and tokens[4].kind == "]":
        picked = [0]  # `[path op 'value']`, what most indicators carry: nothing to flatten
    else:
        picked = _flattenable_paths(tokens)
    for index in picked:
        comparison = found[index]
        if comparison.operator not in ("=", "==", "IN"):
            continue
        for literal in comparison.values:
            kind = _kind(comparison.object_type, comparison.path, literal)
            if kind:
                values.append(Value(kind, literal))
    return list(dict.fromkeys(values))


def _flattenable_paths(tokens: Sequence[Token]) -> list[int]:
    """Indexes (among the pattern's comparisons) of those in observations that may be flattened."""
    path_index: dict[int, int] = {}
    for position, token in enumerate(tokens):
        if token.kind == "path":
            path_index[position] = len(path_index)
    position = 0

    def term() -> list[int]:
        nonlocal position
        if position >= len(tokens):
            return []
        token = tokens[position]
        if token.kind == "(":
            position += 1
            picked = followed_by()
            position += 1  # the ")"
        elif token.kind == "[":
            start, depth = position, 0
            while position < len(tokens):
                if tokens[position].kind == "[":
                    depth += 1
                elif tokens[position].kind == "]":
                    depth -= 1
                    if depth == 0:
                        break
                position += 1
            position += 1
            picked = _observation(tokens, start, position, path_index)
        else:
            position += 1  # nothing a term can start with: a malformed pattern gives nothing
            return []
        qualified = False
        while (
            position < len(tokens)
            and tokens[position].kind == "word"
            and tokens[position].text in _QUALIFIERS
        ):
            position += _QUALIFIERS[tokens[position].text]
            qualified = True
        return [] if qualified else picked

    def chain(operand: Callable[[], list[int]], joiner: str, union: bool) -> list[int]:
        nonlocal position
        parts = [operand()]
        while position < len(tokens) and tokens[position].kind == "word" and tokens[position].text == joiner:
            position += 1
            parts.append(operand())
        if len(parts) > 1 and not union:
            return []
        return [i for part in parts for i in part]

    def and_() -> list[int]:
        return chain(term, "AND", union=False)

    def or_() -> list[int]:
        return chain(and_, "OR", union=True)

    def followed_by() -> list[int]:
        return chain(or_, "FOLLOWEDBY", union=False)

    picked = followed_by()
    return picked if position >= len(tokens) else []  # trailing tokens: not a pattern we understand


def _observation(tokens: Sequence[Token], start: int, end: int, path_index: dict[int, int]) -> list[int]:
    inside = range(start + 1, end - 1)
    types, joined_by_and = set(), False
    for i in inside:
        token = tokens[i]
        if (token.kind == "word" and token.text == "NOT") or (
            token.kind == "op" and token.text in ("!=", "<>")
        ):
            return []
        joined_by_and = joined_by_and or (token.kind == "word" and token.text == "AND")
        if token.kind == "path":
            types.add(token.text.partition(":")[0])
    if joined_by_and and len(types) > 1:
        return []  # `ipv4-addr:value = a AND domain-name:value = b`: no one object is both
    return [path_index[i] for i in inside if i in path_index]


def is_compound(pattern: str) -> bool:
    """A pattern that needs several things at once (AND, FOLLOWEDBY)."""
    try:
        return _compound_tokens(tokenize(pattern))
    except PatternError:
        return True


def object_values(obj: dict[str, Any]) -> list[Value]:
    if obj.get("type") == "indicator":
        return pattern_values(obj.get("pattern", "")) if obj.get("pattern_type") == "stix" else []
    value = obj.get("value")
    if isinstance(value, str):
        kind = _kind(obj["type"], "value", value)
        return [Value(kind, value)] if kind else []
    hashes = obj.get("hashes")
    if obj.get("type") in ("file", "artifact") and isinstance(hashes, dict):
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
