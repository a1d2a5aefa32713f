"""Firewall exports over real HTTP: what is listed, what is left out, and cheap polling."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
import requests

from tests.conftest import TAXII, LiveServer

GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def indicator(n: int, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=0x5000 + n, version=4)}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "labels": ["malicious-activity"],
        "object_marking_refs": [GREEN],
        **extra,
    }


LISTED = [
    indicator(1, "[ipv4-addr:value = '198.51.100.7']"),
    indicator(2, "[ipv4-addr:value = '203.0.113.0/24']"),
    indicator(3, "[domain-name:value = 'bad.example.net']"),
    indicator(4, "[url:value = 'http://bad.example.net/x.php?a=1']"),
    indicator(5, "[file:hashes.'SHA-256' = '" + "a" * 64 + "']"),
    # attacker-chosen text that a spreadsheet would run as a formula (values are refused at ingest
    # unless well-formed, so the formula rides in a label)
    indicator(6, "[domain-name:value = 'cmd.example.org']", labels=["=cmd|' /C calc'!A0"]),
]
LEFT_OUT = [
    indicator(10, "[ipv4-addr:value = '192.0.2.10']", valid_until="2026-01-02T00:00:00Z"),  # expired
    indicator(11, "[ipv4-addr:value = '192.0.2.11']", revoked=True),
    indicator(12, "[ipv4-addr:value = '192.0.2.12' AND domain-name:value = 'both.example']"),
]


def post(server: LiveServer, objects: list[dict[str, Any]]) -> None:
    response = requests.post(
        server.collection_url("exports") + "objects/",
        json={"objects": objects},
        auth=server.auth("admin"),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=10,
    )
    assert response.json()["success_count"] == len(objects), response.text


@pytest.fixture(scope="module")
def exports(server: LiveServer) -> LiveServer:
    post(server, LISTED + LEFT_OUT)
    return server


def export(
    server: LiveServer, name: str, role: str | None = "subscriber", **headers: str
) -> requests.Response:
    collection = server.collection_url("exports").rstrip("/").rsplit("/", 1)[1]
    return requests.get(
        f"{server.url}/api/v1/collections/{collection}/export/{name}",
        auth=server.auth(role) if role else None,
        headers=headers,
        timeout=10,
    )


def test_plain_lists_hold_one_value_per_line(exports: LiveServer) -> None:
    assert export(exports, "ip.txt").text == "198.51.100.7\n"
    assert export(exports, "cidr.txt").text == "198.51.100.7/32\n203.0.113.0/24\n"
    assert export(exports, "domain.txt").text == "bad.example.net\ncmd.example.org\n"
    assert export(exports, "url.txt").text == "http://bad.example.net/x.php?a=1\n"
    assert export(exports, "hash.txt").text == "a" * 64 + "\n"
    response = export(exports, "all.txt")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert len(response.text.splitlines()) == 6
    for left_out in ("192.0.2.10", "192.0.2.11", "192.0.2.12", "both.example"):
        assert left_out not in response.text


def test_csv_has_columns_and_defuses_formulas(exports: LiveServer) -> None:
    rows = list(csv.DictReader(io.StringIO(export(exports, "all.csv").text)))
    by_value = {row["value"]: row for row in rows}
    assert by_value["198.51.100.7"]["type"] == "ip"
    assert by_value["198.51.100.7"]["tlp"] == "green"
    assert by_value["198.51.100.7"]["labels"] == "malicious-activity"
    assert by_value["cmd.example.org"]["labels"] == "'=cmd|' /C calc'!A0"  # a leading quote: text
    assert not any(v.startswith("=") for row in rows for v in row.values())


def test_stix_bundle_holds_the_indicators(exports: LiveServer) -> None:
    bundle = export(exports, "ip.stix.json").json()
    assert bundle["type"] == "bundle"
    assert [o["id"] for o in bundle["objects"]] == [LISTED[0]["id"]]


def test_polling_is_answered_304_until_the_collection_changes(exports: LiveServer) -> None:
    first = export(exports, "domain.txt")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert export(exports, "domain.txt", **{"If-None-Match": etag}).status_code == 304
    assert export(exports, "domain.txt", **{"If-Modified-Since": modified}).status_code == 304
    post(exports, [indicator(20, "[domain-name:value = 'new.example.com']")])
    # Two workers each keep their own cache: both must notice the new object.
    for _ in range(4):
        changed = export(exports, "domain.txt", **{"If-None-Match": etag})
        assert changed.status_code == 200
        assert "new.example.com" in changed.text
        assert changed.headers["ETag"] != etag


def test_access_follows_the_collection_rules(exports: LiveServer) -> None:
    assert export(exports, "ip.txt", role=None).status_code == 401
    assert "WWW-Authenticate" in export(exports, "ip.txt", role=None).headers
    assert export(exports, "ip.txt", role="partner").status_code == 403
    public = exports.collection_url("public-blocklist").rstrip("/").rsplit("/", 1)[1]
    anonymous = requests.get(f"{exports.url}/api/v1/collections/{public}/export/ip.txt", timeout=10)
    assert anonymous.status_code == 200


@pytest.mark.parametrize("name", ["ips.txt", "ip.xml", "ip", "ip.txt.exe"])
def test_unknown_exports_are_404_with_the_choices(exports: LiveServer, name: str) -> None:
    response = export(exports, name)
    assert response.status_code == 404
    assert "kind in ip, cidr, domain, url, hash, all" in response.json()["description"]
