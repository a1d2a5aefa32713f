"""Issue #10 item 1: a newline (or anything not one well-formed value) never becomes blocklist lines.

Every attack runs over HTTP against the real server; what firewalls load (the exports) is checked.
"""

from __future__ import annotations

import http.server
import threading
import uuid
from pathlib import Path
from typing import Any, ClassVar

import orjson
import requests

from config import Secret
from indexer.pipeline import Pipeline
from indexer.store.base import NewObject
from tests.data import indicator
from tests.helpers import (
    TAXII,
    Backend,
    LiveServer,
    all_exports,
    export,
    failures,
    post,
    prepare_store,
    start_server,
    with_connector,
)

INJECTED_URL = "http://evil-inj.example/\n0.0.0.0/0\n8.8.8.8"


def _no_injected_lines(texts: dict[str, str]) -> None:
    for name, text in texts.items():
        for line in text.splitlines():
            assert line not in ("0.0.0.0/0", "8.8.8.8", "0.0.0.0/0,cidr"), (name, text)
        assert "0.0.0.0/0" not in text and "8.8.8.8" not in text, (name, text)


def test_a_partner_sighting_with_newlines_is_refused_and_never_exported(server: LiveServer) -> None:
    response = requests.post(
        f"{server.url}/api/v1/sightings",
        json={"sightings": [{"value": INJECTED_URL}]},
        auth=server.auth("partner"),
        timeout=20,
    )
    assert response.status_code == 200, response.text
    (line,) = response.json()["lines"]
    assert line["status"] == "rejected" and "control character" in line["reason"]
    _no_injected_lines(
        {
            n: export(server, "partner-sightings", n, role="partner")
            for n in ("url.txt", "all.txt", "cidr.txt")
        }
    )


def test_a_taxii_pattern_with_a_newline_is_a_failure_and_not_in_cidr_txt(server: LiveServer) -> None:
    bad = indicator("[ipv4-addr:value = '5.188.70.1\n0.0.0.0/0']")
    sco = {"type": "domain-name", "spec_version": "2.1", "id": f"domain-name--{uuid.uuid4()}"}
    sco["value"] = "evil-inj.example\n8.8.8.8"
    good = indicator("[ipv4-addr:value = '5.188.70.3']")
    status = post(server, "security", [bad, sco, good])
    failed = failures(status)
    assert "control character" in failed[bad["id"]]
    assert sco["id"] in failed  # (the STIX schema already refuses this one)
    assert good["id"] not in failed
    texts = all_exports(server, "security")
    _no_injected_lines(texts)
    assert "5.188.70.3/32" in texts["cidr.txt"].splitlines()


def test_values_not_well_formed_for_their_kind_are_failures(server: LiveServer) -> None:
    cases = {
        "[ipv4-addr:value = '5.188.70.300']": "IPv4",
        "[ipv4-addr:value = 'evil-inj.example']": "IPv4",
        "[domain-name:value = 'evil inj.example']": "domain",
        "[url:value = 'http://evil-inj.example/a b']": "URL",
        "[email-addr:value = 'not-an-email']": "email",
        "[file:hashes.'SHA-256' = 'abcd']": "hash",
        "[file:hashes.MD5 = '" + "z" * 32 + "']": "hash",
    }
    objects = [indicator(pattern) for pattern in cases]
    failed = failures(post(server, "security", objects))
    for obj, word in zip(objects, cases.values(), strict=True):
        assert word in failed[obj["id"]], (obj["pattern"], failed.get(obj["id"]))


def test_a_broad_network_never_reaches_a_blocklist(server: LiveServer) -> None:
    broad = [indicator("[ipv4-addr:value = '5.0.0.0/8']"), indicator("[ipv6-addr:value = '2a00::/12']")]
    failed = failures(post(server, "security", broad))
    assert all("broad-network" in failed[o["id"]] for o in broad), failed
    text = export(server, "security", "cidr.txt")
    assert "5.0.0.0/8" not in text and "2a00::/12" not in text


def test_a_bad_value_put_straight_into_the_store_is_never_exported(server: LiveServer) -> None:
    """Defence in depth: the export writers check every line, whatever the store holds."""
    collection = server.collection_url("security").rstrip("/").rsplit("/", 1)[1]
    planted = [
        indicator("[ipv4-addr:value = '5.188.70.9\n0.0.0.0/0']"),
        indicator("[url:value = 'http://planted.example/\n8.8.8.8']"),
        indicator("[ipv4-addr:value = '0.0.0.0/0']"),
        indicator("[domain-name:value = 'planted.example\r\n8.8.8.8']"),
    ]
    store = server.open_store()  # the server's own backend
    try:
        store.add_objects(
            collection,
            [
                NewObject(o["id"], "indicator", 1_700_000_000_000_000, o["modified"], "2.1", orjson.dumps(o))
                for o in planted
            ],
        )
    finally:
        store.close()
    texts = all_exports(server, "security")
    _no_injected_lines(texts)
    for text in texts.values():
        assert "planted" not in text and "5.188.70.9" not in text


class InjectingUpstream(http.server.BaseHTTPRequestHandler):
    """An upstream TAXII feed whose objects carry the injection."""

    objects: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/c1"):
            body: dict[str, Any] = {"id": "c1", "title": "c1", "can_read": True, "can_write": False}
        else:
            body = {"more": False, "objects": self.objects}
        data = orjson.dumps(body)
        self.send_response(200)
        self.send_header("Content-Type", TAXII)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_upstream_feed_carrying_the_injection_does_not_reach_exports(
    tmp_path: Path, backend: Backend
) -> None:
    bad = indicator("[ipv4-addr:value = '5.188.70.1\n0.0.0.0/0']")
    good = indicator("[ipv4-addr:value = '5.188.70.4']")
    InjectingUpstream.objects = [bad, good]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), InjectingUpstream)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    keys = prepare_store(tmp_path, backend)
    try:
        settings = with_connector(
            backend.settings(tmp_path),
            "upstream",
            type="taxii",
            url=f"http://127.0.0.1:{httpd.server_address[1]}/api/collections/c1/",
            paths=(),
            username="subscriber",
            password=Secret("x"),
            collection="city-indicators",
            source_name="Upstream ISAC",
        )
        store = backend.open(tmp_path)
        store.initialize()
        Pipeline(settings, store, "upstream").run()
        store.close()
    finally:
        httpd.shutdown()
    live = start_server(tmp_path, keys, backend=backend)
    try:
        texts = all_exports(live, "city-indicators")
    finally:
        live.stop()
    _no_injected_lines(texts)
    assert "5.188.70.4" in texts["ip.txt"].splitlines()
