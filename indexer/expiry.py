"""Expiry: indicators past valid_until are revoked as a new version, so TAXII subscribers learn it.

Revocation is final in STIX; an expired value seen again continues under a successor id
(see indexer.merge). Expiry is the one place that reads the local clock: it is a local decision
about what is still worth blocking, not upstream data.
"""

from __future__ import annotations

from typing import Any

import orjson

from config import CollectionSettings
from indexer.ingest import ingest_objects
from indexer.store.base import Keyset, ObjectQuery, Store
from indexer.timestamps import format_timestamp, now_micros, parse_timestamp

PAGE = 1000


def expired_indicators(store: Store, collection: CollectionSettings, now: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after: Keyset | None = None
    while True:
        page = store.query(ObjectQuery(collection.id, types=("indicator",), limit=PAGE, after=after))
        for stored in page.objects:
            obj = orjson.loads(stored.body)
            until = obj.get("valid_until")
            if until and not obj.get("revoked") and parse_timestamp(until) <= now:
                found.append(obj)
        if not page.more:
            return found
        after = page.objects[-1].keyset


def expire(
    store: Store, collection: CollectionSettings, now: int | None = None, dry_run: bool = False
) -> int:
    """Revoke every expired indicator of `collection`; returns how many."""
    now = now if now is not None else now_micros()
    revoked = []
    for obj in expired_indicators(store, collection, now):
        modified = max(now, parse_timestamp(obj["modified"]) + 1000)
        revoked.append({**obj, "revoked": True, "modified": format_timestamp(modified)[:23] + "Z"})
    if revoked and not dry_run:
        ingest_objects(store, collection, revoked, sanitizer=None)  # revoked copies of stored objects
    return len(revoked)
