"""Sanitization before anything is stored for sharing.

Dropped, each counted by reason in the run report:
- the city's own networks and domains (`sanitize.protected_networks` / `protected_domains`);
- private, loopback, link-local, multicast, reserved and unspecified addresses;
- known-benign values from the MISP warninglists (public resolvers, top sites, cloud ranges,
  empty-file hashes), through pymispwarninglists;
- malformed values (control characters, not an IP/domain/URL/email of their kind), and networks
  broader than `sanitize.min_prefix_v4` / `min_prefix_v6`;
- TLP:RED, and anything above the target collection's TLP ceiling;
- then whatever depends on a dropped object (a sighting of it, a relationship to it, observed-data
  holding it); groupings and reports just lose the reference.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from config import CollectionSettings, SanitizeSettings
from indexer.pattern import PatternError, comparisons
from indexer.tlp import effective_tlp, tlp_rank
from indexer.wellformed import control_problem, stored_problem, value_problem

log = logging.getLogger(__name__)
REF_KEYS = ("sighting_of_ref", "source_ref", "target_ref")
CONTAINERS = ("grouping", "report", "note", "opinion")


@functools.cache
def _warninglists(exclude: tuple[str, ...] = ()) -> Any:
    import json
    from pathlib import Path

    import pymispwarninglists
    from pymispwarninglists.api import WarningLists

    root = Path(pymispwarninglists.__file__).parent / "data" / "misp-warninglists" / "lists"
    lists = []
    for path in sorted(root.glob("*/list.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not any(word.lower() in data.get("name", "").lower() for word in exclude):
            lists.append(data)
    log.info("sanitize.warninglists loaded=%d excluded=%s", len(lists), ",".join(exclude))
    return WarningLists(slow_search=False, lists=lists)


class Sanitizer:
    def __init__(self, settings: SanitizeSettings) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in settings.protected_networks]
        self.domains = tuple(d.lower().lstrip(".") for d in settings.protected_domains)
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks]
        self.min_prefix = {4: settings.min_prefix_v4, 6: settings.min_prefix_v6}
        self.use_warninglists = settings.warninglists
        self.exclude = settings.warninglists_exclude
        self._cache: dict[tuple[str, str], str | None] = {}

    def warm(self) -> None:
        """Load the warninglists now (before forking workers, which then share them)."""
        if self.use_warninglists:
            _warninglists(self.exclude)

    # -- single values ----------------------------------------------------------------------
    def check(self, kind: str, value: str) -> str | None:
        """Why `value` must not be shared, or None if it may be."""
        key = (kind, value)
        if key not in self._cache:
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = self._check(kind, value)
        return self._cache[key]

    def _check(self, kind: str, value: str) -> str | None:
        if control_problem(value):
            return "malformed-value"
        if kind in ("domain", "url", "email") and stored_problem(kind, value):
            return "malformed-value"
        if kind == "ip":
            return self._check_ip(value)
        if kind == "domain":
            # STIX takes an IP address as a domain-name value (a MISP `domain` attribute holding
            # one): vetted as the address it is, so a private or protected one is never shared.
            return self._check_ip(value) if _looks_like_ip(value) else self._check_domain(value)
        if kind == "url":
            host = (urlsplit(value if "://" in value else f"http://{value}").hostname or "").lower()
            reason = self._check_ip(host) if _looks_like_ip(host) else self._check_domain(host)
            return reason or self._warninglisted(value)
        if kind == "email":
            return self._check_domain(value.rpartition("@")[2]) if "@" in value else None
        if kind == "hash":
            return self._warninglisted(value)
        return None

    def _check_ip(self, value: str) -> str | None:
        if value_problem("cidr", value):
            return "malformed-value"  # never "fine": what cannot be parsed cannot be vetted
        network = ipaddress.ip_network(value, strict=False)
        if network.prefixlen < self.min_prefix[network.version]:
            return "broad-network"
        address = network.network_address
        allowed = any(
            network.subnet_of(a)  # type: ignore[arg-type]
            for a in self.allowed
            if a.version == network.version
        )
        if not allowed and (
            not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified
        ):
            return "non-public-address"
        if any(
            network.overlaps(protected) for protected in self.networks if protected.version == network.version
        ):
            return "protected-asset"
        return None if allowed else self._warninglisted(value)

    def _check_domain(self, value: str) -> str | None:
        host = value.lower().rstrip(".")
        if any(host == d or host.endswith("." + d) for d in self.domains):
            return "protected-asset"
        return self._warninglisted(host)

    def _warninglisted(self, value: str) -> str | None:
        if not self.use_warninglists or not value:
            return None
        hits = _warninglists(self.exclude).search(value)
        return "warninglist" if hits else None

    # -- objects ----------------------------------------------------------------------------
    def object_values(self, obj: dict[str, Any]) -> Iterable[tuple[str, str]]:
        """(kind, value) pairs an object would publish."""
        stix_type = obj.get("type")
        if stix_type == "indicator" and obj.get("pattern_type") == "stix":
            # A linear-time tokenizer (PatternError over the limits: object_reason refuses it).
            # Values compared with = (and LIKE/MATCHES, whose literal may be a plain value) would be
            # published; a negated or != comparison publishes nothing.
            for comparison in comparisons(str(obj.get("pattern", ""))):
                if comparison.negated or comparison.operator not in ("=", "==", "LIKE", "MATCHES"):
                    continue
                for value in comparison.values:
                    kind = _kind_of(comparison.object_type, comparison.path, value)
                    if kind == "ip" and comparison.operator in ("LIKE", "MATCHES"):
                        # a wildcard or regex over addresses: only a literal address is vetted
                        kind = kind if _looks_like_ip(value.split("/")[0]) else None
                    if kind:
                        yield kind, value
        elif stix_type in ("ipv4-addr", "ipv6-addr"):
            yield "ip", str(obj.get("value", ""))
        elif stix_type == "domain-name":
            yield "domain", str(obj.get("value", ""))
        elif stix_type == "url":
            yield "url", str(obj.get("value", ""))
        elif stix_type == "email-addr":
            yield "email", str(obj.get("value", ""))
        elif stix_type == "file":
            for digest in (obj.get("hashes") or {}).values():
                yield "hash", str(digest)

    def filter(
        self, objects: list[dict[str, Any]], collection: CollectionSettings
    ) -> tuple[list[dict[str, Any]], Counter[str]]:
        drops: Counter[str] = Counter()
        dropped: set[str] = set()
        kept: list[dict[str, Any]] = []
        for obj in objects:
            reason = self.object_reason(obj, collection)
            if reason:
                drops[reason] += 1
                dropped.add(obj["id"])
            else:
                kept.append(obj)
        return prune(kept, dropped, drops), drops

    def object_reason(self, obj: dict[str, Any], collection: CollectionSettings) -> str | None:
        level = effective_tlp(obj)
        if level == "red":
            return "tlp-red"
        if level is not None and tlp_rank(level) > tlp_rank(collection.tlp_ceiling):
            return "tlp-above-ceiling"
        try:
            for kind, value in self.object_values(obj):
                reason = self.check(kind, value)
                if reason:
                    return reason
        except PatternError:
            return "invalid-pattern"
        return None


def prune(objects: list[dict[str, Any]], dropped: set[str], drops: Counter[str]) -> list[dict[str, Any]]:
    """Remove what depends on dropped objects, repeatedly, until nothing else falls."""
    while dropped:
        newly: set[str] = set()
        kept: list[dict[str, Any]] = []
        for obj in objects:
            refs = {obj.get(k) for k in REF_KEYS} | set(
                obj.get("object_refs", []) if obj["type"] not in CONTAINERS else []
            )
            if obj["type"] in CONTAINERS and obj.get("object_refs"):
                remaining = [r for r in obj["object_refs"] if r not in dropped]
                if not remaining:
                    newly.add(obj["id"])
                    continue
                obj = {**obj, "object_refs": remaining} if len(remaining) != len(obj["object_refs"]) else obj
            elif refs & dropped:
                newly.add(obj["id"])
                continue
            kept.append(obj)
        drops["depends-on-dropped"] += len(newly)
        objects, dropped = kept, newly
    return objects


def _looks_like_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _kind_of(obj_type: str, prop: str, value: str) -> str | None:
    if prop.endswith(".type") or prop == "type":
        return None
    if obj_type in ("ipv4-addr", "ipv6-addr"):
        return "ip"  # whatever it holds: _check_ip refuses what is not one address or network
    if (obj_type == "network-traffic" and prop.endswith("value")) or (
        obj_type == "domain-name" and prop.startswith("resolves_to_refs")
    ):
        # an endpoint or what a domain resolves to (misp-stix's domain|ip): an address or a name,
        # vetted as what it is (exports list both, see indexer.search.values)
        return "ip" if _looks_like_ip(value.split("/")[0]) else "domain"
    if obj_type == "domain-name":
        return "domain"
    if obj_type == "url":
        return "url"
    if obj_type == "email-addr" or (obj_type == "email-message" and "value" in prop):
        return "email"
    if obj_type in ("file", "artifact") and "hashes" in prop:
        return "hash"
    return None
