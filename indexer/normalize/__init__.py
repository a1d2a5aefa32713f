"""Normalizers: pure functions from a connector's RawRecord to STIX 2.1 objects."""

from __future__ import annotations

from typing import Any

from connectors.base import RawRecord
from indexer.normalize.common import NormalizeContext
from indexer.normalize.misp import NormalizationError, normalize_misp_event
from indexer.normalize.soc import normalize_soc
from indexer.tlp import has_tlp_marking


def normalize_stix(obj: Any, ctx: NormalizeContext) -> list[dict[str, Any]]:
    """Upstream STIX (TAXII) passes through as its source versioned it, with a TLP marking added
    when it has none."""
    if not isinstance(obj, dict) or "id" not in obj or "type" not in obj:
        raise NormalizationError("not a STIX object (no id or type)")
    obj = dict(obj)
    if obj["type"] != "marking-definition" and not has_tlp_marking(obj):
        obj["object_marking_refs"] = [*obj.get("object_marking_refs", []), ctx.marking]
    return [obj]


# The record kinds normalize() reads ("unparseable" only to fail it with its reason).
KINDS = frozenset({"soc-aggregate", "misp-event", "stix-object", "unparseable"})


def normalize(
    record: RawRecord, ctx: NormalizeContext, notes: list[str] | None = None
) -> list[dict[str, Any]]:
    """STIX objects for one record. Parts of the record left out (with the reason) go to `notes`."""
    if record.kind == "soc-aggregate":
        return normalize_soc(record.data, ctx)
    if record.kind == "misp-event":
        return normalize_misp_event(record.data, ctx, notes)
    if record.kind == "stix-object":
        return normalize_stix(record.data, ctx)
    if record.kind == "unparseable":
        raise NormalizationError(f"unreadable input ({record.origin})")
    raise NormalizationError(f"no normalizer for records of kind {record.kind!r}")


__all__ = ["KINDS", "NormalizationError", "NormalizeContext", "normalize"]
