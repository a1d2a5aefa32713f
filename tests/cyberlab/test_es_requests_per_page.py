"""What one TAXII page costs a real Elasticsearch node, counted by the node itself.

Elasticsearch's own search counters (index stats, query_total) before and after each page of a
walk with `next` over the real server: every page is one search of one shard of the objects
index (routing by collection), and nothing else is searched. Skipped, saying so, without
CYBERLAB_ES_URL; tests/store/test_elastic_requests.py pins the same through a recording fake.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from elasticsearch import Elasticsearch

from tests.helpers import TAXII, Backend, LiveServer, prepare_store, start_server


@pytest.fixture
def es_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Backend]]:
    backend = Backend.make("elasticsearch")
    try:
        live = start_server(tmp_path, prepare_store(tmp_path, backend), backend=backend)
        yield live, backend
        live.stop()
    finally:
        backend.drop()


def _searches(client: Elasticsearch, prefix: str) -> dict[str, int]:
    stats = client.indices.stats(index=f"{prefix}-*", metric="search")["indices"]
    return {name.rsplit("-", 1)[1]: s["total"]["search"]["query_total"] for name, s in stats.items()}


def test_every_taxii_page_is_one_search_of_one_shard(es_server: tuple[LiveServer, Backend]) -> None:
    server, backend = es_server
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '198.51.100.{n}']",
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00.000Z",
        }
        for n in range(1, 26)
    ]
    server.post_objects("public-blocklist", objects)
    client = Elasticsearch([backend.env["CYBERLAB_STORE__ELASTICSEARCH__HOSTS"]])
    prefix = backend.env["CYBERLAB_STORE__ELASTICSEARCH__INDEX_PREFIX"]
    url = server.collection_url("public-blocklist") + "objects/"
    seen: list[str] = []
    params: dict[str, str] = {"limit": "10"}
    pages = 0
    while True:
        before = _searches(client, prefix)
        response = requests.get(url, params=params, headers={"Accept": TAXII}, timeout=30)
        after = _searches(client, prefix)
        assert response.status_code == 200, response.text
        pages += 1
        delta = {index: after[index] - before[index] for index in after}
        assert delta == {"objects": 1, "search": 0, "meta": 0}, f"page {pages}: {delta}"
        body = response.json()
        seen.extend(o["id"] for o in body.get("objects", []))
        if not body["more"]:
            break
        params = {"limit": "10", "next": body["next"]}
    client.close()
    assert pages == 3
    assert seen == [o["id"] for o in objects]
