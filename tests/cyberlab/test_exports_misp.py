"""The shared MISP samples through the misp-feed connector, then the exports over real HTTP.

misp-stix writes MISP file objects as `[file:hashes.MD5 = .. AND file:hashes.'SHA-1' = .. AND
file:name = ..]`, domain|ip as `[domain-name:value = .. AND domain-name:resolves_to_refs[*].value = ..]`
and ip|port as network-traffic patterns. Every hash, domain and address in them must reach the
matching export, each row naming its indicator; a name or a port never does. The oracle is
stix2-patterns' own parser (not our tokenizer), over the indicators the store holds.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import requests
from stix2patterns.v21.pattern import Pattern

from indexer.pipeline import Pipeline
from indexer.store.base import ObjectQuery
from indexer.store.embedded import EmbeddedStore
from tests.helpers import LiveServer, make_settings, prepare_store, start_server

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "connectors" / "samples"
# No expiry: the sample events are years old, and this test is about what is exported, not when.
NO_EXPIRY = {f"CYBERLAB_EXPIRY__{k}_DAYS": "0" for k in ("IP", "DOMAIN", "URL", "EMAIL", "HASH", "OTHER")}
# Exact digests: what hash lists (EDR, mail filters) match. Fuzzy hashes (SSDEEP, TLSH) measure
# similarity; no blocklist consumer matches them as lines, and the export leaves them out.
HASH_PATHS = ("MD5", "SHA-1", "SHA-256", "SHA-512", "SHA1", "SHA256", "SHA512")


@pytest.fixture(scope="module")
def misp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("misp-exports")
    keys = prepare_store(data_dir)
    base = make_settings(data_dir, **NO_EXPIRY)
    feed = base.connectors["cert-fr"]  # a misp-feed connector reads one folder: one per sample set
    api = dataclasses.replace(feed, name="circl", paths=(str(SAMPLES / "misp-api"),), source_name="CIRCL")
    settings = dataclasses.replace(base, connectors={"cert-fr": feed, "circl": api})
    store = EmbeddedStore(data_dir)
    try:
        for name in settings.connectors:
            Pipeline(settings, store, name, workers=1).run()
    finally:
        store.close()
    live = start_server(data_dir, keys, 1, (), **NO_EXPIRY)
    yield live
    live.stop()


def stored_indicators(server: LiveServer) -> list[dict[str, Any]]:
    settings = make_settings(server.data_dir, **NO_EXPIRY)
    collection = settings.collection("public-blocklist")
    assert collection is not None
    store = EmbeddedStore(server.data_dir)
    try:
        page = store.query(ObjectQuery(collection.id, types=("indicator",), limit=100_000))
        return [i for i in (orjson.loads(o.body) for o in page.objects) if i.get("pattern_type") == "stix"]
    finally:
        store.close()


def expected(indicator: dict[str, Any]) -> dict[str, set[str]]:
    """What the reference parser says the indicator can be blocked by, per export kind."""
    data = Pattern(indicator["pattern"]).inspect()
    if data.observation_ops - {"OR"} or data.qualifiers:
        return {}
    comparisons = [(t, c) for t, cs in data.comparisons.items() for c in cs]
    if any(op in ("!=", "<>") or op.startswith("NOT") for _, (_, op, _) in comparisons):
        return {}  # a negation is never flattened
    out: dict[str, set[str]] = {}
    for obj_type, (path, op, literal) in comparisons:
        if op != "=":
            continue
        value = literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        names = [p for p in path if isinstance(p, str)]
        if obj_type == "file" and names[0] == "hashes" and names[1].strip("'").upper() in HASH_PATHS:
            out.setdefault("hash", set()).add(value.lower())
        elif obj_type == "domain-name" and names == ["value"]:
            out.setdefault("domain", set()).add(value.lower())
        elif obj_type == "url" and names == ["value"]:
            if "://" not in value:  # MISP url attributes without a scheme: listed as the http:// URL
                host = urlsplit("http://" + value).hostname or ""
                if not re.fullmatch(r"(?:[a-z0-9-]+\.)+[a-z][a-z0-9-]+", host):
                    continue  # no host a list can hold: `107.183.86`, `Data/dtl.dat`
                value = "http://" + value
            out.setdefault("url", set()).add(value)
        elif (obj_type in ("ipv4-addr", "ipv6-addr") and names == ["value"]) or (
            (obj_type, names) in (("domain-name", ["resolves_to_refs", "value"]),)
            or (obj_type == "network-traffic" and names in (["src_ref", "value"], ["dst_ref", "value"]))
        ):
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                continue
            out.setdefault("ip" if "/" not in value else "cidr", set()).add(value)
    return out


def export(server: LiveServer, name: str) -> requests.Response:
    alias = server.collection_url("public-blocklist").rstrip("/").rsplit("/", 1)[1]
    response = requests.get(f"{server.url}/api/v1/collections/{alias}/export/{name}", timeout=60)
    assert response.status_code == 200, response.text
    return response


def test_every_value_of_compound_misp_patterns_reaches_its_export(misp_server: LiveServer) -> None:
    indicators = stored_indicators(misp_server)
    compound = [i for i in indicators if " AND " in i["pattern"]]
    assert len(compound) > 50, "the samples carry file, domain|ip and ip|port objects"
    lists = {
        kind: set(export(misp_server, f"{kind}.txt").text.splitlines())
        for kind in ("ip", "cidr", "domain", "url", "hash")
    }
    lowered = {kind: {v.lower() for v in values} for kind, values in lists.items()}
    missing = []
    for indicator in indicators:
        for kind, values in expected(indicator).items():
            target = lowered[kind] if kind in ("hash", "domain") else lists[kind]
            missing += [(kind, v, indicator["id"]) for v in values - target]
    assert missing == [], f"{len(missing)} values missing, first: {missing[:5]}"
    file_hashes = [i for i in compound if "file:hashes" in i["pattern"]]
    assert file_hashes and all(expected(i).get("hash") for i in file_hashes)
    # (a sample file is named after its MD5: that name is also a listed hash, rightly)
    names = {
        v.lower() for i in file_hashes for v in _file_names(i) if not re.fullmatch(r"[0-9a-f]{32,}", v, re.I)
    }
    assert names and not names & set().union(*lowered.values()), "a file name is not a value to block"


def _file_names(indicator: dict[str, Any]) -> list[str]:
    data = Pattern(indicator["pattern"]).inspect()
    return [lit[1:-1] for path, _, lit in data.comparisons.get("file", []) if path == ["name"]]


def test_csv_rows_name_the_indicator_they_come_from(misp_server: LiveServer) -> None:
    indicators = {i["id"]: i for i in stored_indicators(misp_server)}
    rows = list(csv.DictReader(io.StringIO(export(misp_server, "all.csv").text)))
    assert rows
    for row in rows:
        indicator = indicators[row["indicator"]]
        value = row["value"].lower()
        if row["type"] == "url" and value not in indicator["pattern"].lower():
            value = value.removeprefix("http://")  # stored without its scheme (MISP)
        assert value in indicator["pattern"].lower()
    by_indicator: dict[str, set[str]] = {}
    for row in rows:
        by_indicator.setdefault(row["indicator"], set()).add(row["type"])
    assert any({"domain", "ip"} <= kinds for kinds in by_indicator.values()), "a domain|ip gives both"


def test_valid_misp_values_no_blocklist_takes_are_stored_and_left_out(misp_server: LiveServer) -> None:
    """Issue 13 item 1: scheme-less `url` attributes are valid STIX patterns, so they are stored;
    lists carry the http:// URL where the host is a domain, nothing where it is not one."""
    patterns = {i["pattern"] for i in stored_indicators(misp_server)}
    for value in ("www.whitewall.top", "107.183.86", "igfxtray.exe", "decrypttozxybarc.onion"):
        assert f"[url:value = '{value}']" in patterns, value
    urls = export(misp_server, "url.txt").text.splitlines()
    assert "http://www.whitewall.top" in urls and "http://decrypttozxybarc.onion" in urls
    every = "".join(export(misp_server, name).text for name in ("all.txt", "all.rpz", "all.edl", "all.rules"))
    assert "107.183.86\n" not in every and "107.183.86 " not in every and "Data/dtl.dat" not in every
    assert "www.whitewall.top" in export(misp_server, "all.zeek").text  # Zeek matches URLs without scheme


def test_search_finds_what_the_exports_list(misp_server: LiveServer) -> None:
    """Search indexes the values exports list (one extraction): a hash of a file object, the
    address of a domain|ip find their indicator, and the hit shows the same values as the csv."""
    rows = list(csv.DictReader(io.StringIO(export(misp_server, "all.csv").text)))
    by_indicator: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        by_indicator.setdefault(row["indicator"], set()).add((row["type"], row["value"]))
    compound = {i["id"] for i in stored_indicators(misp_server) if " AND " in i["pattern"]}
    picked = [i for i in by_indicator if i in compound and len(by_indicator[i]) > 1][:5]
    assert picked
    for indicator_id in picked:
        _, value = sorted(by_indicator[indicator_id])[0]
        response = requests.get(
            f"{misp_server.url}/api/v1/search",
            params={"collection": "public-blocklist", "value": value},
            auth=misp_server.auth("analyst"),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        hits = {h["id"]: h for h in response.json()["results"]}
        assert indicator_id in hits, (value, list(hits))
        assert {(v["kind"], v["value"]) for v in hits[indicator_id]["values"]} >= by_indicator[indicator_id]
