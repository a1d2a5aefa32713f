"""Firewall exports over real HTTP: what is listed, what is left out, and cheap polling."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import resolver
from tests.helpers import TAXII, LiveServer

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
    # compound patterns as misp-stix writes MISP objects: every identifying value, no context
    indicator(
        7,
        f"[file:hashes.MD5 = '{'b' * 32}' AND file:hashes.'SHA-1' = '{'c' * 40}' AND file:name = 'evil.exe']",
    ),
    indicator(
        8,
        "[domain-name:value = 'dip.example.net' AND domain-name:resolves_to_refs[*].value = '198.51.100.8']",
    ),
    indicator(
        9,
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.9'"
        " AND network-traffic:dst_port = 8443]",
    ),
    indicator(13, "[ipv4-addr:value = '198.51.100.13'] OR [domain-name:value = 'or.example.net']"),
]
LEFT_OUT = [
    indicator(10, "[ipv4-addr:value = '192.0.2.10']", valid_until="2026-01-02T00:00:00Z"),  # expired
    indicator(11, "[ipv4-addr:value = '192.0.2.11']", revoked=True),
    indicator(12, "[ipv4-addr:value = '192.0.2.12' AND domain-name:value = 'both.example']"),
    # negations and observations that must be seen together are never flattened
    indicator(14, "[ipv4-addr:value != '192.0.2.14']"),
    indicator(15, "[ipv4-addr:value = '192.0.2.15'] FOLLOWEDBY [domain-name:value = 'fb.example']"),
    indicator(16, f"[file:hashes.MD5 = '{'d' * 32}' AND file:name NOT = 'ok.exe']"),
    indicator(17, "[ipv4-addr:value = '192.0.2.17'] AND [domain-name:value = 'and.example']"),
    indicator(18, "([ipv4-addr:value = '192.0.2.18'] OR [ipv4-addr:value = '192.0.2.19']) REPEATS 5 TIMES"),
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
    ips = ["198.51.100.13", "198.51.100.7", "198.51.100.8", "198.51.100.9"]
    assert export(exports, "ip.txt").text == "".join(f"{ip}\n" for ip in ips)
    assert export(exports, "cidr.txt").text == "".join(f"{ip}/32\n" for ip in ips) + "203.0.113.0/24\n"
    domains = ["bad.example.net", "cmd.example.org", "dip.example.net", "or.example.net"]
    assert export(exports, "domain.txt").text == "".join(f"{d}\n" for d in domains)
    assert export(exports, "url.txt").text == "http://bad.example.net/x.php?a=1\n"
    assert export(exports, "hash.txt").text == "a" * 64 + "\n" + "b" * 32 + "\n" + "c" * 40 + "\n"
    response = export(exports, "all.txt")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert len(response.text.splitlines()) == 13
    for left_out in ("192.0.2.", "both.example", "fb.example", "and.example", "d" * 32, "evil.exe", "8443"):
        assert left_out not in response.text


def test_csv_has_columns_and_defuses_formulas(exports: LiveServer) -> None:
    rows = list(csv.DictReader(io.StringIO(export(exports, "all.csv").text)))
    by_value = {row["value"]: row for row in rows}
    assert by_value["198.51.100.7"]["type"] == "ip"
    assert by_value["198.51.100.7"]["tlp"] == "green"
    assert by_value["198.51.100.7"]["labels"] == "malicious-activity"
    assert by_value["cmd.example.org"]["labels"] == "'=cmd|' /C calc'!A0"  # a leading quote: text
    assert not any(v.startswith("=") for row in rows for v in row.values())
    # each row names its indicator: a domain|ip gives two rows for one indicator
    assert by_value["198.51.100.7"]["indicator"] == LISTED[0]["id"]
    assert (
        by_value["dip.example.net"]["indicator"] == by_value["198.51.100.8"]["indicator"] == LISTED[7]["id"]
    )


def test_stix_bundle_holds_the_indicators(exports: LiveServer) -> None:
    bundle = export(exports, "ip.stix.json").json()
    assert bundle["type"] == "bundle"
    assert {o["id"] for o in bundle["objects"]} == {LISTED[i]["id"] for i in (0, 7, 8, 9)}


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


def test_rpz_zone_loads_in_bind(exports: LiveServer, tmp_path: Path) -> None:
    """The RPZ zone passes BIND's own zone checker (named-checkzone, Debian bind9-utils)."""
    response = export(exports, "all.rpz")
    assert response.status_code == 200
    zone = response.text
    assert "bad.example.net CNAME ." in zone and "*.bad.example.net CNAME ." in zone
    assert "32.7.100.51.198.rpz-ip CNAME ." in zone and "24.0.113.0.203.rpz-ip CNAME ." in zone
    assert "192.0.2." not in zone and "evil.exe" not in zone
    checker = shutil.which("named-checkzone")
    if checker is None:
        pytest.skip("named-checkzone is not installed (apt-get install bind9-utils)")
    path = tmp_path / "cyberlab.rpz"
    path.write_text(zone)
    result = subprocess.run([checker, "rpz.cyberlab", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_rpz_zone_answers_in_a_running_unbound(exports: LiveServer, tmp_path: Path) -> None:
    """The RPZ export loaded into Debian's Unbound: listed names (and their subdomains) and names
    whose address is listed answer NXDOMAIN; everything else resolves (issue 13 item 3)."""
    if resolver.UNBOUND is None:
        pytest.skip("unbound is not installed (make test installs it: apt-get install unbound)")
    zone = export(exports, "all.rpz").text
    records = {
        "ready.example.net": "192.0.2.2",
        "bad.example.net": "192.0.2.1",  # exists upstream, listed: the RPZ answers instead
        "www.bad.example.net": "192.0.2.1",  # a subdomain of a listed name
        "dip.example.net": "192.0.2.1",  # the domain of a misp-stix domain|ip
        "clean.example.net": "192.0.2.53",
        "to-listed-ip.example.net": "198.51.100.7",  # rpz-ip: the answer is a listed address
        "to-listed-net.example.net": "203.0.113.99",  # inside the listed 203.0.113.0/24
        "to-expired-ip.example.net": "192.0.2.10",  # its indicator expired: not listed
        "to-followedby-ip.example.net": "192.0.2.15",  # FOLLOWEDBY is never flattened
    }
    with resolver.unbound(tmp_path, zone, "example.net", records) as dns:
        for blocked in ("bad.example.net", "www.bad.example.net", "dip.example.net"):
            assert dns.ask(blocked) == ("NXDOMAIN", []), blocked
        for blocked in ("to-listed-ip.example.net", "to-listed-net.example.net"):
            assert dns.ask(blocked) == ("NXDOMAIN", []), blocked
        for name in ("clean.example.net", "to-expired-ip.example.net", "to-followedby-ip.example.net"):
            assert dns.ask(name) == ("NOERROR", [records[name]]), name
        log = dns.log.read_text()
    # the NXDOMAINs came from the policy zone, not from the local data (rpz-log names the zone)
    assert "rpz: applied [cyberlab] bad.example.net." in log, log
    assert "rpz: applied [cyberlab]" in log and "to-listed-ip.example.net." in log, log
    assert "clean.example.net" not in log


def test_hosts_zeek_and_edl(exports: LiveServer) -> None:
    hosts = export(exports, "domain.hosts").text.splitlines()
    domains = ("bad.example.net", "cmd.example.org", "dip.example.net", "or.example.net")
    assert set(hosts) >= {f"0.0.0.0 {d}" for d in domains}  # (the polling test adds one more)
    assert all(line.startswith("0.0.0.0 ") and len(line.split()) == 2 for line in hosts)
    assert export(exports, "ip.hosts").status_code == 404  # a hosts file lists names only
    zeek = export(exports, "all.zeek").text.splitlines()
    assert zeek[0] == "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc"
    rows = [line.split("\t") for line in zeek[1:]]
    assert all(len(row) == 4 for row in rows)
    by_value = {row[0]: row for row in rows}
    assert by_value["198.51.100.7"][1:2] == ["Intel::ADDR"]
    assert by_value["203.0.113.0/24"][1] == "Intel::SUBNET"
    assert by_value["bad.example.net/x.php?a=1"][1] == "Intel::URL"  # Zeek matches URLs without scheme
    assert by_value["b" * 32][1] == "Intel::FILE_HASH" and by_value["b" * 32][3] == LISTED[6]["id"]
    edl = export(exports, "all.edl")
    assert "bad.example.net/x.php?a=1" in edl.text.splitlines() and "X-Entries-Left-Out" not in edl.headers
    assert len(edl.text.splitlines()) >= 13


def test_format_writers_state_and_keep_their_limits() -> None:
    """The EDL keeps at most its line limit; RPZ writes IPv6 triggers in the full reversed form."""
    from cyberlab.api import formats
    from cyberlab.api.exports import Entry

    rows = [Entry(f"198.51.100.{n}", "ip", {"id": "indicator--x"}) for n in range(5)]
    body, left_out = formats.edl(rows, max_lines=2)
    assert body.decode().splitlines() == ["198.51.100.0", "198.51.100.1"] and left_out == 3
    zone = formats.rpz([Entry("2001:db8::/32", "cidr", {"id": "indicator--x"})], serial=1).decode()
    assert "32.0.0.0.0.0.0.db8.2001.rpz-ip CNAME ." in zone
