"""The Suricata rules export over real HTTP, every rule parsed by py-idstools (issue 13 item 3).

Suricata itself is not in these Debian sources, so its rule parser stands in: idstools.rule.parse
(what suricata-update uses to read rules). Each rule's msg, sid, rev, metadata and contents are
compared with the indicator it comes from; hostile values (quotes, semicolons, pipes, colons, a
right-to-left override, a try at closing the rule) stay inside their content string.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import idstools.rule
import pytest
import requests

from cyberlab.api import suricata
from cyberlab.api.exports import Entry
from indexer.timestamps import parse_timestamp
from tests.helpers import LiveServer

GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
RTL = "\u202e"
# The hostile URLs of the web and search tests, and one that tries to end the rule and start another.
HOSTILE = (
    f"http://evil.example/javascript:alert(1)//{RTL}gpj.exe",
    'http://x.example/?q=1\'%20OR%201=1%20--%20"AND"%20NEAR(a%20b)*',
    'http://close.example/x";sid:1;)alert/ip/any/any->any/any(msg:"owned"',
    "http://pipes.example/a|3B|b;c:d|",
)


def stix_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def indicator(
    n: int, pattern: str, modified: str = "2026-01-02T03:04:05.000Z", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=0x7000 + n, version=4)}",
        "created": f"2026-01-01T00:00:{n:02d}.000Z",
        "modified": modified,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [GREEN],
        **extra,
    }


IP = indicator(1, "[ipv4-addr:value = '198.51.100.31']")
NET = indicator(2, "[ipv6-addr:value = '2001:db8:77::/48']")
DOMAIN = indicator(3, "[domain-name:value = 'c2.bad-rules.example']")
IDN = indicator(4, "[domain-name:value = 'bücher-rules.example']")
URL = indicator(5, "[url:value = 'http://dl.bad-rules.example/x.php?id=7']")
NO_SCHEME = indicator(6, "[url:value = 'www.noscheme-rules.example/a/b.exe']")  # a MISP url attribute
HTTPS = indicator(7, "[url:value = 'https://tls-rules.example/login']")
HASH = indicator(8, f"[file:hashes.'SHA-256' = '{'e' * 64}']")
IP_AS_DOMAIN = indicator(9, "[domain-name:value = '198.51.100.32']")  # MISP domain holding an IP
HOSTILE_INDICATORS = [indicator(20 + n, f"[url:value = {stix_string(v)}]") for n, v in enumerate(HOSTILE)]
INDICATORS = [IP, NET, DOMAIN, IDN, URL, NO_SCHEME, HTTPS, HASH, IP_AS_DOMAIN, *HOSTILE_INDICATORS]


@pytest.fixture(scope="module")
def rules_server(server: LiveServer) -> LiveServer:
    server.post_objects("rules", INDICATORS)
    return server


def fetch(server: LiveServer, name: str = "all.rules") -> requests.Response:
    collection = server.collection_url("rules").rstrip("/").rsplit("/", 1)[1]
    return requests.get(
        f"{server.url}/api/v1/collections/{collection}/export/{name}",
        auth=server.auth("subscriber"),
        timeout=30,
    )


def parsed(text: str) -> list[Any]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    rules = [idstools.rule.parse(line) for line in lines]
    assert all(rule is not None for rule in rules), [
        line for line, r in zip(lines, rules, strict=True) if r is None
    ]
    return rules


def contents(rule: Any) -> list[bytes]:
    """Every content of a rule as the bytes Suricata matches: |hex| groups decoded. Fails when a
    character Suricata gives a meaning to (" ; : \\) appears raw or a pipe is unbalanced."""
    found = []
    for option in rule["options"]:
        if option["name"] != "content":
            continue
        quoted = option["value"]
        assert quoted.startswith('"') and quoted.endswith('"'), quoted
        parts = quoted[1:-1].split("|")
        assert len(parts) % 2 == 1, f"unbalanced pipes in {quoted}"
        out = bytearray()
        for i, part in enumerate(parts):
            if i % 2:
                out += bytes.fromhex(part)
            else:
                assert not set(part) & set('";:\\'), quoted
                out += part.encode("ascii")
        found.append(bytes(out))
    return found


def msg(rule: Any) -> str:
    return re.sub(r"\\(.)", r"\1", rule["msg"])


def metadata(rule: Any) -> dict[str, str]:
    return dict(item.split(" ", 1) for item in rule["metadata"])


def by_indicator(rules: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for rule in rules:
        out.setdefault(metadata(rule)["cyberlab_indicator"], []).append(rule)
    return out


def test_every_rule_parses_and_names_its_indicator(rules_server: LiveServer) -> None:
    response = fetch(rules_server)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "X-Entries-Left-Out" not in response.headers
    rules = parsed(response.text)
    sids = [rule["sid"] for rule in rules]
    assert len(set(sids)) == len(sids)
    assert all(suricata.SID_BASE <= sid < suricata.SID_BASE + suricata.SID_SPAN for sid in sids)
    assert all(rule["action"] == "alert" and rule["gid"] == 1 for rule in rules)
    index = by_indicator(rules)
    for ind in INDICATORS:
        for rule in index.get(ind["id"], []):
            assert rule["rev"] == parse_timestamp(ind["modified"]) // 1_000_000
            assert metadata(rule)["cyberlab_collection"] == "rules"
            assert (
                metadata(rule)["created_at"] == "2026_01_01" and metadata(rule)["updated_at"] == "2026_01_02"
            )
            assert msg(rule).startswith("CyberLab rules ")

    (ip,) = index[IP["id"]]
    assert (ip["proto"], ip["source_addr"], ip["direction"], ip["dest_addr"]) == (
        "ip",
        "[198.51.100.31]",
        "<>",
        "$HOME_NET",
    )
    assert msg(ip) == "CyberLab rules ip 198.51.100.31" and ip["classtype"] == "misc-attack"
    (net,) = index[NET["id"]]
    assert net["source_addr"] == "[2001:db8:77::/48]" and msg(net) == "CyberLab rules cidr 2001:db8:77::/48"

    dns, tls = sorted(index[DOMAIN["id"]], key=lambda r: r["proto"])
    assert (dns["proto"], tls["proto"]) == ("dns", "tls")
    for rule in (dns, tls):
        names = [o["name"] for o in rule["options"]]
        assert names[names.index("content") - 1] == "dotprefix" and names[names.index("content") + 1 :][
            :2
        ] == [
            "nocase",
            "endswith",
        ]
        assert contents(rule) == [b".c2.bad-rules.example"]  # the name and its subdomains
    assert "dns.query" in [o["name"] for o in dns["options"]] and "tls.sni" in [
        o["name"] for o in tls["options"]
    ]
    assert msg(dns) == "CyberLab rules domain c2.bad-rules.example"
    assert [contents(r) for r in index[IDN["id"]]] == [[b".xn--bcher-rules-thb.example"]] * 2  # the A-label

    (http,) = index[URL["id"]]
    assert http["proto"] == "http" and contents(http) == [b"dl.bad-rules.example", b"/x.php?id=7"]
    options = {o["name"]: o["value"] for o in http["options"]}
    assert options["bsize"] == str(len("dl.bad-rules.example")) and "http.uri.raw" in options
    (no_scheme,) = index[NO_SCHEME["id"]]  # taken as the http:// URL it means
    assert contents(no_scheme) == [b"www.noscheme-rules.example", b"/a/b.exe"]

    # not written: an https URL (its path is encrypted), a hash, an IP address in a domain name
    for absent in (HTTPS, HASH, IP_AS_DOMAIN):
        assert absent["id"] not in index, absent["pattern"]
    assert "198.51.100.32" not in response.text and "tls-rules.example" not in response.text


def test_hostile_values_stay_inside_their_content(rules_server: LiveServer) -> None:
    text = fetch(rules_server).text
    assert RTL not in text and "\r" not in text
    rules = parsed(text)
    index = by_indicator(rules)
    assert len(rules) == len(text.splitlines()) - 2  # the two comment lines; no line was split
    assert all(rule["raw"].endswith(f"sid:{rule['sid']}; rev:{rule['rev']};)") for rule in rules)
    expected_targets = {
        HOSTILE[0]: "/javascript:alert(1)//%E2%80%AEgpj.exe",  # sent percent-encoded, as browsers do
        HOSTILE[1]: '/?q=1\'%20OR%201=1%20--%20"AND"%20NEAR(a%20b)*',
        HOSTILE[2]: '/x";sid:1;)alert/ip/any/any->any/any(msg:"owned"',
        HOSTILE[3]: "/a|3B|b;c:d|",
    }
    for ind, value in zip(HOSTILE_INDICATORS, HOSTILE, strict=True):
        (rule,) = index[ind["id"]]
        host = value.split("/")[2]
        assert contents(rule) == [host.encode(), expected_targets[value].encode()], value
        assert msg(rule) == f"CyberLab rules url {host}"
        assert "owned" not in rule["msg"]
    assert sum("sid:" in line for line in text.splitlines()) == len(rules)  # no extra rule smuggled in


def test_kinds_and_stable_sids_across_changes(rules_server: LiveServer) -> None:
    before = {(r["proto"], metadata(r)["cyberlab_indicator"]): r for r in parsed(fetch(rules_server).text)}
    only_ips = parsed(fetch(rules_server, "ip.rules").text)
    assert {r["proto"] for r in only_ips} == {"ip"} and len(only_ips) == 1  # cidr.rules has both
    assert len(parsed(fetch(rules_server, "cidr.rules").text)) == 2
    assert {r["proto"] for r in parsed(fetch(rules_server, "domain.rules").text)} == {"dns", "tls"}
    assert fetch(rules_server, "hash.rules").status_code == 404
    # a new indicator, and a new version of an old one: every other rule keeps its sid and rev
    newer = {**DOMAIN, "modified": "2026-03-01T00:00:00.000Z"}
    added = indicator(40, "[ipv4-addr:value = '198.51.100.33']")
    rules_server.post_objects("rules", [newer, added])
    after = {(r["proto"], metadata(r)["cyberlab_indicator"]): r for r in parsed(fetch(rules_server).text)}
    assert set(after) == set(before) | {("ip", added["id"])}
    for key, rule in before.items():
        assert after[key]["sid"] == rule["sid"], key
        if key[1] == DOMAIN["id"]:
            assert after[key]["rev"] == parse_timestamp(newer["modified"]) // 1_000_000 > rule["rev"]
        else:
            assert after[key]["rev"] == rule["rev"]


def _row(n: int, value: str, kind: str = "ip", created: str = "2026-01-01T00:00:00.000Z") -> Entry:
    ind = {"id": f"indicator--{uuid.UUID(int=n, version=4)}", "created": created, "modified": created}
    return Entry(value, kind, ind)


def test_colliding_sids_probe_and_older_indicators_keep_theirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suricata, "SID_SPAN", 4)  # a tiny range: collisions are certain
    old = [_row(n, f"198.51.100.{n}", created=f"2026-01-0{n}T00:00:00.000Z") for n in range(1, 4)]
    first, left_out = suricata.rules(old, "c")
    sids = {r["msg"]: r["sid"] for r in parsed(first.decode())}
    assert left_out == 0 and len(set(sids.values())) == 3
    newest = _row(9, "198.51.100.9", created="2026-02-01T00:00:00.000Z")
    second, left_out = suricata.rules([newest, *old], "c")
    again = {r["msg"]: r["sid"] for r in parsed(second.decode())}
    assert left_out == 0 and len(set(again.values())) == 4
    assert {m: again[m] for m in sids} == sids  # the new one probed past the old ones' sids
    full, left_out = suricata.rules(
        [*old, newest, _row(10, "198.51.100.10", created="2026-03-01T00:00:00.000Z")], "c"
    )
    assert left_out == 1 and len(parsed(full.decode())) == 4  # the range is full: counted, not written


def test_a_rule_over_suricatas_line_limit_is_left_out() -> None:
    long_url = "http://long.example/" + "é" * 1500  # 6 bytes per é once percent-encoded (%C3%A9)
    body, left_out = suricata.rules([_row(1, long_url, "url"), _row(2, "198.51.100.1")], "c")
    lines = [line for line in body.decode().splitlines() if not line.startswith("#")]
    assert left_out == 1 and len(lines) == 1 and "198.51.100.1" in lines[0]
    assert all(len(line.encode()) <= suricata.MAX_RULE_BYTES for line in lines)
