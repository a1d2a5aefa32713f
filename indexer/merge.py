"""Dedupe against the store: an object that changes nothing is dropped, a changed one is a new version.

Indicators are the platform's own objects, one per pattern, fed by many sources: a new observation
is merged into the stored version (validity widened, labels, phases and sources united, the more
restrictive TLP kept, the confidence recomputed: indexer.confidence). Merging is idempotent, so
replaying a batch after a crash changes nothing.
Other objects keep their source's versioning: newer `modified` = new version, same = unchanged.
An indicator that was revoked (expired) and is seen again continues under a successor id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from indexer.confidence import merged_confidence
from indexer.normalize.common import stable_id
from indexer.store.base import ObjectQuery, Store
from indexer.timestamps import format_timestamp, parse_timestamp
from indexer.tlp import TLP_MARKING_IDS, tlp_rank

_CHUNK = 500


@dataclass
class MergeResult:
    objects: list[dict[str, Any]]
    existing: set[str] = field(default_factory=set)  # ids that were already stored (-> "updated")
    counts: Counter[str] = field(default_factory=Counter)


def _latest(store: Store, collection: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = tuple(ids[start : start + _CHUNK])
        page = store.query(ObjectQuery(collection, ids=chunk, versions=("last",), limit=len(chunk)))
        for stored in page.objects:
            found[stored.id] = orjson.loads(stored.body)
    return found


def merge_with_store(objects: list[dict[str, Any]], store: Store, collection: str) -> MergeResult:
    objects = _follow_successors(objects, store, collection)
    stored = _latest(store, collection, [o["id"] for o in objects])
    result = MergeResult(objects=[])
    for obj in objects:
        current = stored.get(obj["id"])
        if current is None:
            result.objects.append(canonical_indicator(obj) if obj["type"] == "indicator" else obj)
            continue
        result.existing.add(obj["id"])
        merged = merge_indicator(current, obj) if obj["type"] == "indicator" else _newer(current, obj)
        if merged is None:
            result.counts["unchanged"] += 1
        else:
            result.objects.append(merged)
    return result


def _newer(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    if new.get("modified", "") > current.get("modified", ""):
        return new
    return None  # same or older version: the stored one stands


def canonical_indicator(obj: dict[str, Any]) -> dict[str, Any]:
    """The indicator with its lists in the order a merge writes them (sorted, deduplicated).

    Stored that way from the first version, so that merging the same observation again
    (a batch replayed after a crash) is recognised as changing nothing.
    """
    return _widened(obj, obj)


def merge_indicator(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The stored indicator widened by a new observation, or None if nothing changes."""
    merged = _widened(current, new)
    if merged == current or merged == canonical_indicator(current):
        return None
    # A new version must be later than the stored one, and derive from the data, not the clock.
    floor = parse_timestamp(current["modified"]) + 1000
    merged["modified"] = max(new["modified"], _ms(format_timestamp(floor)), key=parse_timestamp)
    return merged


def _widened(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    merged["valid_from"] = min(current["valid_from"], new["valid_from"], key=parse_timestamp)
    if "valid_until" in current and "valid_until" in new:
        merged["valid_until"] = max(current["valid_until"], new["valid_until"], key=parse_timestamp)
    elif "valid_until" not in new:
        merged.pop("valid_until", None)  # one source says it does not expire (e.g. a hash)
    for key in ("labels", "indicator_types"):
        values = sorted(set(current.get(key, [])) | set(new.get(key, [])))
        if values:
            merged[key] = values
    phases = {(p["kill_chain_name"], p["phase_name"]) for p in current.get("kill_chain_phases", [])}
    phases |= {(p["kill_chain_name"], p["phase_name"]) for p in new.get("kill_chain_phases", [])}
    if phases:
        merged["kill_chain_phases"] = [{"kill_chain_name": k, "phase_name": p} for k, p in sorted(phases)]
    refs = {r["source_name"]: r for r in current.get("external_references", [])}
    for ref in new.get("external_references", []):
        refs.setdefault(ref["source_name"], ref)
    if refs:
        merged["external_references"] = [refs[k] for k in sorted(refs)]
    confidence = merged_confidence(current, new, merged)  # after the sources: they corroborate
    if confidence is not None:
        merged["confidence"] = confidence
    merged["object_marking_refs"] = _strictest_markings(current, new)
    return merged


def _ms(stamp: str) -> str:
    return stamp[:23] + "Z"  # microseconds -> milliseconds (floor + 1 ms is already a whole ms)


def _strictest_markings(current: dict[str, Any], new: dict[str, Any]) -> list[str]:
    refs = list(dict.fromkeys([*current.get("object_marking_refs", []), *new.get("object_marking_refs", [])]))
    tlp = [r for r in refs if r in TLP_MARKING_IDS]
    other = [r for r in refs if r not in TLP_MARKING_IDS]
    if tlp:
        other.append(max(tlp, key=lambda r: tlp_rank(TLP_MARKING_IDS[r])))
    return sorted(other)


def _follow_successors(objects: list[dict[str, Any]], store: Store, collection: str) -> list[dict[str, Any]]:
    """Re-point indicators whose stored version is revoked to a successor id (revocation is final)."""
    indicator_ids = [o["id"] for o in objects if o["type"] == "indicator"]
    renames: dict[str, str] = {}
    pending = indicator_ids
    for _ in range(10):  # an indicator revoked ten times over is not worth following further
        stored = _latest(store, collection, pending)
        revoked = [i for i in pending if stored.get(i, {}).get("revoked")]
        if not revoked:
            break
        for old in revoked:
            successor = stable_id("indicator", "successor-of", old)
            original = next((k for k, v in renames.items() if v == old), old)
            renames[original] = successor
        pending = [
            renames[k]
            for k in renames
            if renames[k] in {stable_id("indicator", "successor-of", r) for r in revoked}
        ]
    if not renames:
        return objects
    out = []
    for obj in objects:
        obj = dict(obj)
        if obj["id"] in renames:
            obj["id"] = renames[obj["id"]]
        if obj.get("sighting_of_ref") in renames:
            obj["sighting_of_ref"] = renames[obj["sighting_of_ref"]]
            obj["id"] = stable_id("sighting", obj["id"], "of", obj["sighting_of_ref"])
        out.append(obj)
    return out
