"""The `taxii` connector against a real upstream: CyberLab's own TAXII server under gunicorn."""

from __future__ import annotations

import hashlib
import http.server
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from config import Secret, Settings
from connectors.base import SourceError
from connectors.taxii import TaxiiConnector
from indexer.pipeline import Pipeline
from indexer.store.base import ObjectQuery
from indexer.store.embedded import EmbeddedStore
from indexer.tlp import MARKING_FOR_LEVEL
from tests.helpers import TAXII, LiveServer, make_settings, with_connector


def hash_indicators(start: int, count: int) -> list[dict[str, Any]]:
    out = []
    for n in range(start, start + count):
        digest = hashlib.sha256(f"sample-{n}".encode()).hexdigest()
        out.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.UUID(int=n + 10**6, version=4)}",
                "created": "2026-11-01T00:00:00.000Z",
                "modified": "2026-11-01T00:00:00.000Z",
                "pattern": f"[file:hashes.'SHA-256' = '{digest}']",
                "pattern_type": "stix",
                "valid_from": "2026-11-01T00:00:00Z",
                "object_marking_refs": [MARKING_FOR_LEVEL["green"]],
            }
        )
    return out


def post(server: LiveServer, objects: list[dict[str, Any]]) -> None:
    for start in range(0, len(objects), 400):
        response = requests.post(
            server.collection_url("upstream") + "objects/",
            json={"objects": objects[start : start + 400]},
            auth=server.auth("admin"),
            headers={"Accept": TAXII, "Content-Type": TAXII},
            timeout=60,
        )
        assert response.json()["failure_count"] == 0


def downstream(tmp: Path, url: str, collections: tuple[str, ...] = ()) -> Settings:
    return with_connector(
        make_settings(tmp),
        "upstream",
        type="taxii",
        url=url,
        paths=(),
        username="subscriber",
        password=Secret("key-for-subscriber-0123456789"),
        collections=collections,
        collection="city-indicators",
        source_name="Upstream ISAC",
    )


def test_pages_with_next_and_resumes_from_the_upstream_header(server: LiveServer, tmp_path: Path) -> None:
    paging_id = make_settings(server.data_dir).collections["upstream"].id
    post(server, hash_indicators(0, 1200))  # more than two upstream pages of 500
    settings = downstream(tmp_path, f"{server.url}/taxii2/", collections=(paging_id,))
    store = EmbeddedStore(tmp_path)
    store.initialize()
    report = Pipeline(settings, store, "upstream").run()
    target = settings.collections["city-indicators"].id
    assert report.batches >= 3
    ingested = store.count(target)
    assert ingested >= 1200
    cursor = orjson.loads(store.get_cursor("connector:upstream") or "{}")
    assert set(cursor) == {paging_id}

    again = Pipeline(settings, store, "upstream").run()
    assert (again.read, again.created) == (0, 0)
    post(server, hash_indicators(5000, 7))
    more = Pipeline(settings, store, "upstream").run()
    assert more.read == 7 and more.created == 7
    assert store.count(target) == ingested + 7


class BadHeaderTaxii(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/c1"):
            body = {"id": "c1", "title": "c1", "can_read": True, "can_write": False, "media_types": []}
            headers = {}
        else:
            body = {"more": False, "objects": hash_indicators(0, 2)}
            headers = {"X-TAXII-Date-Added-Last": "yesterday"}
        data = orjson.dumps(body)
        self.send_response(200)
        self.send_header("Content-Type", TAXII)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_non_rfc3339_header_keeps_the_cursor_and_says_so(tmp_path: Path) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BadHeaderTaxii)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/api/collections/c1/"
        settings = downstream(tmp_path, url)
        store = EmbeddedStore(tmp_path)
        store.initialize()
        report = Pipeline(settings, store, "upstream").run()
    finally:
        httpd.shutdown()
    assert report.created >= 2
    assert store.get_cursor("connector:upstream") is None
    assert any("not RFC 3339" in message for _, message in report.problems)


def test_unreachable_upstream_is_a_source_error(tmp_path: Path) -> None:
    settings = downstream(tmp_path, "http://127.0.0.1:9/taxii2/")
    with pytest.raises(SourceError, match=r"cannot reach|answered"):
        list(TaxiiConnector(settings.connectors["upstream"]).batches(None))
    store = EmbeddedStore(tmp_path)
    store.initialize()
    assert store.query(ObjectQuery("x")).objects == []
