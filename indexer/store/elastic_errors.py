"""Elasticsearch's errors as StoreErrors with a cause.

By what the driver and the node say in fields, not in prose: the exception class (no connection,
a timeout), the HTTP status, the error type the node names, and for a cluster block its id (a
block's reason reads "index [x] blocked by: [FORBIDDEN/8/index write (api)]": 8 is the block).
Block 12 is the one a node puts on every index on a disk past the flood-stage watermark: that is
a full disk, as SQLITE_FULL is for the embedded store.
"""

from __future__ import annotations

import re
from typing import Any

from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout, TransportError, UnsupportedProductError

from indexer.errors import StoreCause, StoreError

# Cluster block ids (Elasticsearch 7: GatewayService, NoMasterBlockService, IndexMetadata,
# Metadata, MetadataIndexStateService).
_BLOCKS: dict[int, StoreCause] = {
    1: "unavailable",  # state not recovered / initialized
    2: "unavailable",  # no master
    4: "unavailable",  # index closed
    5: "read_only",  # index read-only (api)
    6: "read_only",  # cluster read-only (api)
    7: "unavailable",  # index read (api)
    8: "read_only",  # index write (api)
    12: "disk_full",  # index read-only / allow delete: the flood-stage disk watermark
    13: "read_only",  # cluster read-only / allow delete (api)
}
_BLOCK_ID = re.compile(r"\b[A-Z_]+/(\d+)/")
# When one request hits several blocks, the one an admin must act on first.
_BLOCK_ORDER: tuple[StoreCause, ...] = ("disk_full", "read_only", "unavailable")

_TYPES: dict[str, StoreCause] = {
    "index_not_found_exception": "not_initialized",
    "es_rejected_execution_exception": "busy",
    "circuit_breaking_exception": "busy",
    "version_conflict_engine_exception": "conflict",
    "process_cluster_event_timeout_exception": "timeout",
    "master_not_discovered_exception": "unavailable",
    "no_shard_available_action_exception": "unavailable",
    "unavailable_shards_exception": "unavailable",
}


def _kind_and_reason(error: Any) -> tuple[str, str]:
    """An error as the node sent it: a dict (type, reason, root causes) or just its type."""
    if not isinstance(error, dict):
        return str(error), ""
    reasons = [str(error.get("reason", ""))]
    for root in error.get("root_cause") or ():
        if isinstance(root, dict):
            reasons.append(str(root.get("reason", "")))
    return str(error.get("type", "")), " ".join(reasons)


def _block_cause(reason: str) -> StoreCause:
    found = {_BLOCKS.get(int(block), "error") for block in _BLOCK_ID.findall(reason)}
    return next((cause for cause in _BLOCK_ORDER if cause in found), "error")


def response_cause(status: Any, error: Any) -> StoreCause:
    """The cause of a refused request or of one refused bulk item (its status and error)."""
    kind, reason = _kind_and_reason(error)
    if kind == "cluster_block_exception":
        return _block_cause(reason)
    if kind in _TYPES:
        return _TYPES[kind]
    if status == 429:
        return "busy"
    if status == 409:
        return "conflict"
    if status in (408, 504):
        return "timeout"
    if isinstance(status, int) and status >= 500:
        return "unavailable"
    return "error"


def es_cause(exc: TransportError | UnsupportedProductError) -> StoreCause:
    if isinstance(exc, ConnectionTimeout):
        return "timeout"
    if isinstance(exc, EsConnectionError | UnsupportedProductError):  # nothing, or not Elasticsearch
        return "unavailable"
    info = exc.info if isinstance(exc.info, dict) else {}
    return response_cause(exc.status_code, info.get("error", exc.error))


def es_store_error(exc: TransportError | UnsupportedProductError, what: str, where: str) -> StoreError:
    """`what` names the request ("a TAXII page"); the message names the node for the admin."""
    cause = es_cause(exc)
    if isinstance(exc, EsConnectionError) and cause == "unavailable":
        return StoreError(f"Elasticsearch at {where} is unreachable ({what}): {exc}", cause=cause)
    if cause == "timeout":
        return StoreError(f"Elasticsearch at {where} did not answer {what} in time: {exc}", cause=cause)
    return StoreError(f"Elasticsearch at {where} refused {what}: {exc}", cause=cause)
