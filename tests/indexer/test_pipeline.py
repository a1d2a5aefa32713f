"""Connector runs end to end into a real SQLite store, on the real sample data."""

from __future__ import annotations

import dataclasses
import http.server
import threading
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from stix2validator import ValidationOptions, validate_instance

from config import Settings
from indexer.expiry import expire
from indexer.pipeline import Pipeline, cursor_key
from indexer.store.base import ObjectQuery, Store
from indexer.store.embedded import EmbeddedStore
from indexer.tlp import MARKING_FOR_LEVEL
from tests.helpers import make_settings

ROOT = Path(__file__).resolve().parents[2]
FEED = ROOT / "connectors" / "samples" / "misp-feed" / "cert-fr-anssi"
SOC = ROOT / "connectors" / "samples" / "soc-logs"


@pytest.fixture
def store(backend_store: Store) -> Store:
    """Every test here that takes `store` runs over each backend (`backend_store`)."""
    return backend_store


def stored(store: Store, alias: str, settings: Settings, versions: str = "all") -> list[dict[str, Any]]:
    coll = settings.collection(alias)
    assert coll is not None
    page = store.query(ObjectQuery(coll.id, versions=(versions,), limit=100_000))
    return [orjson.loads(o.body) for o in page.objects]


def test_soc_logs_become_valid_indicators_and_sightings(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path)
    report = Pipeline(settings, store, "city-soc").run()
    objects = stored(store, "city-indicators", settings)
    types = {o["type"] for o in objects}
    assert {"indicator", "sighting", "identity"} <= types
    options = ValidationOptions(version="2.1")
    for obj in objects:  # every object passes the OASIS reference validator, not only ours
        result = validate_instance(obj, options)
        assert result.is_valid, (obj["id"], [str(e) for e in result.errors])
        if obj["type"] != "marking-definition":
            assert MARKING_FOR_LEVEL["green"] in obj["object_marking_refs"]
    patterns = {o["pattern"] for o in objects if o["type"] == "indicator"}
    assert "[ipv4-addr:value = '222.186.130.227']" in patterns
    assert not any("'10." in p or "'192.168." in p or "'127." in p for p in patterns)
    assert report.dropped["non-public-address"] > 0
    assert report.skipped["unknown-format"] == 5
    assert report.created + report.updated == len(objects)  # every stored version is accounted for


def test_second_run_and_full_replay_change_nothing(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path)
    Pipeline(settings, store, "city-soc").run()
    before = stored(store, "city-indicators", settings)
    again = Pipeline(settings, store, "city-soc").run()
    assert (again.read, again.created, again.updated) == (0, 0, 0)
    replay = Pipeline(settings, store, "city-soc").run(cursor=None, use_saved_cursor=False)
    assert replay.read > 0 and (replay.created, replay.updated) == (0, 0)
    assert stored(store, "city-indicators", settings) == before


def test_misp_feed_replay_changes_nothing(tmp_path: Path, store: Store) -> None:
    """misp-stix writes labels unsorted; a replayed event must still be seen as nothing new."""
    settings = make_settings(tmp_path)
    Pipeline(settings, store, "cert-fr", workers=1).run()
    before = stored(store, "public-blocklist", settings)
    replay = Pipeline(settings, store, "cert-fr", workers=1).run(cursor=None, use_saved_cursor=False)
    assert replay.read > 0 and (replay.created, replay.updated) == (0, 0)
    assert stored(store, "public-blocklist", settings) == before


class CrashBeforeCursor(Exception):
    pass


class CrashingStore(EmbeddedStore):
    """A real store that dies just before saving the cursor of batch number `crash_at`."""

    def __init__(self, data_dir: Path, crash_at: int) -> None:
        super().__init__(data_dir)
        self.crash_at, self.saved = crash_at, 0

    def save_cursor(self, name: str, value: str) -> None:
        if self.saved == self.crash_at:
            raise CrashBeforeCursor
        self.saved += 1
        super().save_cursor(name, value)


def test_crash_between_commit_and_cursor_save_resumes_to_one_clean_run(tmp_path: Path) -> None:
    """The window a SIGKILL can hit: a batch is stored but its cursor is not; the batch is replayed."""
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = EmbeddedStore(clean_dir)
    clean.initialize()
    settings = make_settings(clean_dir)
    Pipeline(settings, clean, "cert-fr", workers=1).run()
    want = sorted(stored(clean, "public-blocklist", settings), key=orjson.dumps)
    for crash_at in (0, 6, 11):  # the first event, the largest, one that shares values with others
        data_dir = tmp_path / f"crash-{crash_at}"
        data_dir.mkdir()
        crashing = CrashingStore(data_dir, crash_at)
        crashing.initialize()
        with pytest.raises(CrashBeforeCursor):
            Pipeline(settings, crashing, "cert-fr", workers=1).run()
        store = EmbeddedStore(data_dir)
        Pipeline(settings, store, "cert-fr", workers=1).run()
        got = sorted(stored(store, "public-blocklist", settings), key=orjson.dumps)
        assert got == want, f"a crash before batch {crash_at}'s cursor changed the result"


def test_protected_assets_and_tlp_red_never_stored(tmp_path: Path, store: Store) -> None:
    csv = tmp_path / "export.csv"
    csv.write_text(
        "value,type,first_seen,last_seen,count,category\n"
        "222.186.130.227,ip,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,4,brute-force\n"
        "81.2.69.10,ip,2026-11-01T00:00:00Z,,1,scan\n"  # inside the city's own network
        "portal.city.example,domain,2026-11-01T00:00:00Z,,1,phishing\n"  # the city's own domain
        "8.8.8.8,ip,2026-11-01T00:00:00Z,,1,scan\n"  # public resolver: warninglist
        "d41d8cd98f00b204e9800998ecf8427e,md5,2026-11-01T00:00:00Z,,1,malware\n"  # empty file
        "bad line without type\n"
    )
    settings = make_settings(
        tmp_path,
        CYBERLAB_SANITIZE__PROTECTED_NETWORKS="81.2.69.0/24",
        CYBERLAB_SANITIZE__PROTECTED_DOMAINS="city.example",
    )
    conn = dataclasses.replace(settings.connectors["city-soc"], paths=(str(csv),))
    settings = dataclasses.replace(settings, connectors={**settings.connectors, "city-soc": conn})
    report = Pipeline(settings, store, "city-soc").run()
    patterns = [o["pattern"] for o in stored(store, "city-indicators", settings) if o["type"] == "indicator"]
    assert patterns == ["[ipv4-addr:value = '222.186.130.227']"]
    assert report.dropped["protected-asset"] == 2
    assert report.dropped["warninglist"] == 2
    assert report.skipped["malformed-csv"] == 1
    sighting = next(o for o in stored(store, "city-indicators", settings) if o["type"] == "sighting")
    assert sighting["count"] == 4

    red = dataclasses.replace(conn, default_tlp="red")
    settings = dataclasses.replace(settings, connectors={**settings.connectors, "city-soc": red})
    report = Pipeline(settings, store, "city-soc").run(cursor=None, use_saved_cursor=False)
    assert report.dropped["tlp-red"] > 0 and report.created == 0


def test_misp_feed_from_a_folder(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path)
    report = Pipeline(settings, store, "cert-fr").run()
    assert report.read == 13 and report.dead_lettered == 0
    objects = stored(store, "public-blocklist", settings, versions="last")
    indicators = [o for o in objects if o["type"] == "indicator"]
    assert len(indicators) > 1000
    assert all(o["created_by_ref"] == objects_by_name(objects, "CyberLab") for o in indicators)
    assert all(any(r["source_name"] == "CERT-FR" for r in o["external_references"]) for o in indicators)
    assert not any(o["type"].startswith("x-misp") for o in objects)
    assert store.get_cursor(cursor_key("cert-fr")) == _last_event_cursor()
    sample = [o for o in objects if o["type"] in ("indicator", "grouping", "relationship")][:300]
    for obj in sample:
        assert validate_instance(obj, ValidationOptions(version="2.1")).is_valid, obj["id"]


def objects_by_name(objects: list[dict[str, Any]], name: str) -> str:
    return next(o["id"] for o in objects if o["type"] == "identity" and o["name"] == name)


def _last_event_cursor() -> str:
    manifest = orjson.loads((FEED / "manifest.json").read_bytes())
    stamp, uuid = max((int(m["timestamp"]), u) for u, m in manifest.items())
    return f"{stamp}:{uuid}"


def test_one_value_from_two_sources_is_one_indicator(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path)
    Pipeline(settings, store, "cert-fr").run()
    feed_indicator = next(
        o
        for o in stored(store, "public-blocklist", settings, "last")
        if o["type"] == "indicator" and o["pattern"].startswith("[ipv4-addr:value")
    )
    value = feed_indicator["pattern"].split("'")[1]
    csv = tmp_path / "seen.csv"
    csv.write_text(
        f"value,type,first_seen,last_seen,count,category\n{value},ip,2026-11-20T00:00:00Z,,3,scan\n"
    )
    soc = dataclasses.replace(
        settings.connectors["city-soc"], paths=(str(csv),), collection="public-blocklist", default_tlp="clear"
    )
    settings = dataclasses.replace(settings, connectors={**settings.connectors, "city-soc": soc})
    report = Pipeline(settings, store, "city-soc").run()
    assert report.updated == 1  # the same indicator, a new version
    versions = [o for o in stored(store, "public-blocklist", settings) if o["id"] == feed_indicator["id"]]
    assert len(versions) == 2
    latest = max(versions, key=lambda o: o["modified"])
    assert {r["source_name"] for r in latest["external_references"]} == {
        "CERT-FR",
        "City Security Operations Center",
    }
    assert latest["created"] == feed_indicator["created"]


def test_expire_revokes_and_a_new_sighting_continues_under_a_successor(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path)
    Pipeline(settings, store, "city-soc").run()
    coll = settings.collection("city-indicators")
    assert coll is not None
    far_future = 4_102_444_800_000_000  # 2100
    revoked = expire(store, coll, now=far_future)
    assert revoked > 0
    latest = [o for o in stored(store, "city-indicators", settings, "last") if o["type"] == "indicator"]
    assert all(o.get("revoked") for o in latest if "valid_until" in o)
    assert expire(store, coll, now=far_future) == 0  # already revoked
    replay = Pipeline(settings, store, "city-soc").run(cursor=None, use_saved_cursor=False)
    assert replay.created > 0  # successors for the revoked values
    successors = [
        o
        for o in stored(store, "city-indicators", settings, "last")
        if o["type"] == "indicator" and not o.get("revoked")
    ]
    assert successors


class _FeedHandler(http.server.SimpleHTTPRequestHandler):
    throttled: ClassVar[set[str]] = set()

    def do_GET(self) -> None:
        # The first request for each event gets 429 + Retry-After: the connector must wait and retry.
        if self.path.endswith(".json") and "manifest" not in self.path and self.path not in self.throttled:
            self.throttled.add(self.path)
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


def test_misp_feed_over_http_with_throttling(tmp_path: Path, store: Store) -> None:
    """The feed is served by a real HTTP server on 127.0.0.1, which throttles every event once."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_FeedHandler, directory=str(FEED)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        settings = make_settings(tmp_path)
    except Exception:
        httpd.shutdown()
        raise
    try:
        conn = dataclasses.replace(settings.connectors["cert-fr"], url=url, paths=())
        settings = dataclasses.replace(settings, connectors={**settings.connectors, "cert-fr": conn})
        report = Pipeline(settings, store, "cert-fr").run()
    finally:
        httpd.shutdown()
    assert report.read == 13 and report.created > 1000
    assert len(_FeedHandler.throttled) == 13
