"""MISP events -> STIX 2.1 with misp-stix, the MISP project's own converter, then made CyberLab's:

- indicators are re-keyed to the UUIDv5 of their pattern (every reference follows), so the same
  value from CERT-FR's feed, a MISP instance and the city SOC is one indicator;
- misp-stix's custom `x-misp-*` objects are dropped (no consumer can use them, and their values
  escape sanitization);
- every object carries a TLP marking: the event's `tlp:*` tag, else the connector's default;
- MISP sightings are converted by misp-stix too (sightings; false positives become opinions)
  and follow the indicators' new ids.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from typing import Any

import orjson
from misp_stix_converter import MISPtoSTIX21Parser

from indexer.errors import InvalidObjectError
from indexer.normalize.common import (
    NormalizeContext,
    indicator_id,
    source_reference,
    stable_id,
    valid_until,
)
from indexer.tlp import MARKING_FOR_LEVEL, has_tlp_marking

log = logging.getLogger(__name__)
_PATTERN_KIND = (
    ("ipv4-addr", "ipv4"),
    ("ipv6-addr", "ipv6"),
    ("domain-name", "domain"),
    ("url", "url"),
    ("email", "email"),
    ("file", "sha256"),
)
_TLP_TAG = re.compile(r"^tlp:(clear|white|green|amber\+strict|amber|red)$", re.IGNORECASE)


class NormalizationError(InvalidObjectError):
    """A record could not be turned into STIX; it goes to the dead-letter store with this reason."""


def event_tlp(event: dict[str, Any]) -> str | None:
    levels = []
    for tag in event.get("Tag", []) or []:
        match = _TLP_TAG.match(str(tag.get("name", "")).strip())
        if match:
            level = match.group(1).lower()
            levels.append("clear" if level == "white" else level)
    order = ("clear", "green", "amber", "amber+strict", "red")
    return max(levels, key=order.index) if levels else None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split())[:300])


def convert_event(event: dict[str, Any], notes: list[str] | None = None) -> list[dict[str, Any]]:
    """misp-stix's conversion as plain dicts; NormalizationError with its reason if it fails.

    The attributes misp-stix skips (it logs them through PyMISP's logger) are added to `notes`,
    for the run report, instead of reaching the console.
    """
    parser = MISPtoSTIX21Parser()
    noise = io.StringIO()
    collect = _Collect()
    pymisp_log = logging.getLogger("pymisp")
    pymisp_log.addHandler(collect)
    propagate, pymisp_log.propagate = pymisp_log.propagate, False
    try:
        with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise):
            parser.parse_misp_event(event if "Event" in event else {"Event": event})
    except Exception as exc:  # misp-stix raises many kinds; all mean "this event did not convert"
        raise NormalizationError(
            f"misp-stix could not convert the event: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        pymisp_log.removeHandler(collect)
        pymisp_log.propagate = propagate
    if notes is not None:
        notes.extend(collect.messages)
    return [orjson.loads(obj.serialize()) for obj in parser.stix_objects]


def normalize_misp_event(
    record: dict[str, Any], ctx: NormalizeContext, notes: list[str] | None = None
) -> list[dict[str, Any]]:
    event = record.get("Event", record)
    if not isinstance(event, dict) or "uuid" not in event:
        raise NormalizationError("not a MISP event (no Event.uuid)")
    try:
        converted = convert_event(event, notes)
    except NormalizationError:
        repaired = _with_cluster_uuids(event)
        if repaired is None:
            raise
        converted = convert_event(repaired, notes)  # still failing: the event is dead-lettered
        log.info("misp.repaired event=%s: galaxy clusters without uuid got deterministic ones", event["uuid"])
    objects = [o for o in converted if not o["type"].startswith("x-misp-")]
    id_map = _rekey_indicators(objects, ctx)
    objects = [_rewrite_refs(o, id_map) for o in objects]
    objects = _dedupe(objects)
    marking = MARKING_FOR_LEVEL[event_tlp(event) or ctx.default_tlp]
    for obj in objects:
        if obj["type"] != "marking-definition" and not has_tlp_marking(obj):
            obj["object_marking_refs"] = [*obj.get("object_marking_refs", []), marking]
    return objects


def _with_cluster_uuids(event: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of the event whose galaxy clusters all have a uuid, or None if none was missing.

    Some MISP exports carry clusters without uuid; misp-stix then builds ids like
    'attack-pattern--'. A UUIDv5 of (galaxy type, cluster value) names the same cluster the same
    way every time.
    """
    copy = orjson.loads(orjson.dumps(event))
    missing = 0

    def walk(node: Any, galaxy_type: str) -> None:
        nonlocal missing
        if isinstance(node, dict):
            galaxy_type = str(node.get("type", galaxy_type)) if "GalaxyCluster" in node else galaxy_type
            for cluster in node.get("GalaxyCluster", []) or []:
                if isinstance(cluster, dict) and not cluster.get("uuid"):
                    cluster["uuid"] = stable_id("x", galaxy_type, str(cluster.get("value", ""))).split("--")[
                        1
                    ]
                    missing += 1
            for value in node.values():
                walk(value, galaxy_type)
        elif isinstance(node, list):
            for value in node:
                walk(value, galaxy_type)

    walk(copy, "")
    return copy if missing else None


def _pattern_kind(pattern: str) -> str:
    for prefix, kind in _PATTERN_KIND:
        if f"[{prefix}:" in pattern or f" {prefix}:" in pattern or f"'{prefix}'" in pattern:
            return kind
    return "other"


# misp-stix writes ip-src/ip-dst as network-traffic endpoints; the indicator means "this address
# is malicious", which every other source spells [ipv4-addr:value = '...'].
_ENDPOINT_PATTERN = re.compile(
    r"^\[network-traffic:(?:src|dst)_ref\.type = '(ipv4-addr|ipv6-addr)' AND "
    r"network-traffic:(?:src|dst)_ref\.value = '((?:[^'\\]|\\.)*)'\]$"
)


def canonical_pattern(pattern: str) -> str:
    match = _ENDPOINT_PATTERN.match(pattern)
    return f"[{match.group(1)}:value = '{match.group(2)}']" if match else pattern


def _rekey_indicators(objects: list[dict[str, Any]], ctx: NormalizeContext) -> dict[str, str]:
    id_map: dict[str, str] = {}
    for obj in objects:
        if obj["type"] != "indicator":
            continue
        obj["pattern"] = canonical_pattern(obj["pattern"])
        new_id = indicator_id(obj["pattern"])
        id_map[obj["id"]] = new_id
        obj["id"] = new_id
        obj["created_by_ref"] = ctx.platform_identity["id"]
        refs = [r for r in obj.get("external_references", []) if r.get("source_name") != ctx.source_name]
        obj["external_references"] = [*refs, source_reference(ctx.source_name)]
        until = valid_until(_pattern_kind(obj["pattern"]), _epoch(obj["modified"]), ctx.expiry)
        if until is not None and until > obj["valid_from"]:
            obj["valid_until"] = until
        elif until is not None:
            obj.pop("valid_until", None)
    return id_map


def _epoch(timestamp: str) -> float:
    from indexer.timestamps import parse_timestamp

    return parse_timestamp(timestamp) / 1_000_000


def _rewrite_refs(value: Any, id_map: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key.endswith("_ref") and isinstance(item, str):
                out[key] = id_map.get(item, item)
            elif key.endswith("_refs") and isinstance(item, list):
                out[key] = list(dict.fromkeys(id_map.get(i, i) for i in item))
            else:
                out[key] = _rewrite_refs(item, id_map)
        return out
    if isinstance(value, list):
        return [_rewrite_refs(v, id_map) for v in value]
    return value


def _dedupe(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One object per id: two attributes with one pattern become one indicator (the newest)."""
    by_id: dict[str, dict[str, Any]] = {}
    for obj in objects:
        current = by_id.get(obj["id"])
        if current is None or obj.get("modified", "") > current.get("modified", ""):
            by_id[obj["id"]] = obj
    return list(by_id.values())
