"""SOC aggregates -> an Indicator (the platform's, one per value) and a Sighting (the SOC's)."""

from __future__ import annotations

from typing import Any

from connectors.soc.connector import SocAggregate
from indexer.confidence import confidence, evidence
from indexer.normalize.common import (
    KIND_NAMES,
    OBJECT_PATHS,
    NormalizeContext,
    indicator_id,
    kill_chain,
    pattern_for,
    slug,
    source_reference,
    stable_id,
    stamp,
    valid_until,
)
from indexer.normalize.misp import NormalizationError


def normalize_soc(agg: SocAggregate, ctx: NormalizeContext) -> list[dict[str, Any]]:
    if agg.kind not in OBJECT_PATHS:  # e.g. a dead letter a newer version wrote: that record fails alone
        raise NormalizationError(
            f"unknown indicator kind {agg.kind!r} in a SOC aggregate (no STIX pattern for it)"
        )
    pattern = pattern_for(agg.kind, agg.value)
    ind_id = indicator_id(pattern)
    first, last = stamp(agg.first_seen), stamp(agg.last_seen)
    signatures = sorted(agg.signatures)
    indicator: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": ind_id,
        "created": first,
        "modified": last,
        "created_by_ref": ctx.platform_identity["id"],
        "name": f"Malicious {KIND_NAMES[agg.kind]}: {agg.value}",
        "description": "Seen attacking the city: " + "; ".join(signatures[:10])
        if signatures
        else "Seen attacking the city.",
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": first,
        # One reporter, the SOC; the merge adds the corroboration of others (indexer.confidence).
        "confidence": confidence(evidence(agg.level, agg.count, max(1, len(agg.sensors))), 1),
        "labels": sorted({slug(c) for c in agg.categories if slug(c)}),
        "external_references": [source_reference(ctx.source_name)],
        "object_marking_refs": [ctx.marking],
    }
    phases = kill_chain(signatures)
    if phases:
        indicator["kill_chain_phases"] = phases
    until = valid_until(agg.kind, agg.last_seen, ctx.expiry)
    if until is not None:
        indicator["valid_until"] = until
    if not indicator["labels"]:
        del indicator["labels"]
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": stable_id("sighting", ind_id, ctx.source_identity["id"], agg.window),
        "created": last,
        "modified": last,
        "created_by_ref": ctx.source_identity["id"],
        "sighting_of_ref": ind_id,
        "where_sighted_refs": [ctx.source_identity["id"]],
        "first_seen": first,
        "last_seen": last,
        "count": min(agg.count, 999_999_999),
        "object_marking_refs": [ctx.marking],
    }
    return [indicator, sighting]
