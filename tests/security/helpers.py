"""What the security regression tests share: objects, TAXII POSTs and export downloads over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from indexer.tlp import MARKING_FOR_LEVEL
from tests.conftest import TAXII, LiveServer

GREEN = MARKING_FOR_LEVEL["green"]
RED = MARKING_FOR_LEVEL["red"]
EXPORTS = [
    f"{kind}.{fmt}" for kind in ("ip", "cidr", "domain", "url", "hash", "all") for fmt in ("txt", "csv")
] + ["all.rpz", "all.hosts", "all.zeek", "all.edl", "all.rules"]  # what DNS filters, firewalls, IDSs load


def indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
        "object_marking_refs": [GREEN],
        **extra,
    }


def post(server: LiveServer, alias: str, objects: list[Any], role: str = "partner") -> requests.Response:
    """A raw TAXII POST: the status is returned whatever it says."""
    return requests.post(
        server.collection_url(alias) + "objects/",
        json={"objects": objects},
        auth=server.auth(role),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=60,
    )


def failures(status: requests.Response) -> dict[str, str]:
    assert status.status_code == 202, status.text
    return {f["id"]: f["message"] for f in status.json().get("failures", [])}


def export(server: LiveServer, alias: str, name: str, role: str = "subscriber") -> str:
    collection = server.collection_url(alias).rstrip("/").rsplit("/", 1)[1]
    response = requests.get(
        f"{server.url}/api/v1/collections/{collection}/export/{name}", auth=server.auth(role), timeout=30
    )
    assert response.status_code == 200, response.text
    return response.text


def all_exports(server: LiveServer, alias: str, role: str = "subscriber") -> dict[str, str]:
    return {name: export(server, alias, name, role) for name in EXPORTS}
