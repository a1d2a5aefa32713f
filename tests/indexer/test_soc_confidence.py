"""STIX confidence of SOC indicators (indexer/confidence.py) and the run report's informational
count, through real connector runs into each store backend."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

from config import Settings, load_settings
from connectors.base import RawRecord
from connectors.soc.connector import SocAggregate
from connectors.soc.policy import HIGH, LOW, MEDIUM, UNSTATED
from indexer.confidence import confidence, evidence, evidence_of
from indexer.merge import canonical_indicator, merge_indicator
from indexer.normalize.common import NormalizeContext, identity
from indexer.normalize.soc import normalize_soc
from indexer.pipeline import Pipeline, _payload
from indexer.store.base import ObjectQuery, Store
from tests.helpers import TEST_CONFIG, make_settings

ROOT = Path(__file__).resolve().parents[2]
NOISE = ROOT / "connectors" / "samples" / "soc-logs" / "suricata" / "eve-noise.handwritten.json"


@pytest.fixture
def store(backend_store: Store) -> Store:
    return backend_store


def settings_for(tmp: Path, harbour: Path | None = None) -> Settings:
    """Test settings with the hand-written EVE capture as city-soc, and a second SOC (another
    organization, the harbour's) reading `harbour`."""
    config = tmp / "settings.toml"
    text = TEST_CONFIG.read_text() + f'\n[connectors.city-soc]\npaths = ["{NOISE}"]\n'
    if harbour is not None:
        text += (
            '[connectors.harbour-soc]\ntype = "soc"\ncollection = "city-indicators"\n'
            f'paths = ["{harbour}"]\nsource_name = "Harbour Authority SOC"\n'
        )
    config.write_text(text)
    return make_settings(tmp, CYBERLAB_CONFIG=str(config))


def indicators(store: Store, settings: Settings, versions: str = "last") -> dict[str, list[dict[str, Any]]]:
    coll = settings.collection("city-indicators")
    assert coll is not None
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in store.query(
        ObjectQuery(coll.id, types=("indicator",), versions=(versions,), limit=10_000)
    ).objects:
        body = orjson.loads(obj.body)
        found.setdefault(body["pattern"].split("'")[1], []).append(body)
    return found


def test_evidence_rises_with_severity_times_and_sensors() -> None:
    assert evidence(HIGH, 1, 1) > evidence(MEDIUM, 1, 1) > evidence(LOW, 1, 1) == evidence(UNSTATED, 1, 1)
    assert evidence(MEDIUM, 9, 1) == evidence(MEDIUM, 1, 1)  # small changes make no new version
    assert evidence(MEDIUM, 100, 1) > evidence(MEDIUM, 10, 1) > evidence(MEDIUM, 9, 1)
    assert evidence(MEDIUM, 1, 3) > evidence(MEDIUM, 1, 2) > evidence(MEDIUM, 1, 1)
    assert evidence(HIGH, 10**6, 50) == 55
    assert [confidence(35, n) for n in (1, 2, 3, 7)] == [35, 50, 65, 65]


def soc_indicator(value: str, level: int, times: int, source: str) -> dict[str, Any]:
    ctx = NormalizeContext(
        identity("CyberLab"), identity(source), source, "green", load_settings(environ={}).expiry
    )
    agg = SocAggregate(value, "ipv4", 1_796_000_000, 1_796_000_000 + times, times, window=f"{source}:1:0")
    agg.level = level
    return canonical_indicator(normalize_soc(agg, ctx)[0])


def test_merging_is_order_free_and_idempotent() -> None:
    """Every order of three reports of one value ends at one confidence, and merging any of them
    again changes nothing: a replay or a crash-and-resume makes no new version."""
    reports = [
        soc_indicator("203.0.113.7", LOW, 1, "City SOC"),
        soc_indicator("203.0.113.7", HIGH, 150, "Harbour SOC"),
        soc_indicator("203.0.113.7", MEDIUM, 1, "City SOC"),
    ]
    finals = set()
    for order in itertools.permutations(reports):
        current = order[0]
        for new in order[1:]:
            current = merge_indicator(current, new) or current
        for again in reports:
            assert merge_indicator(current, again) is None
        finals.add(current["confidence"])
    assert finals == {45 + 15}  # the strongest read (high, 150 times) and a second organization
    assert evidence_of({**reports[0], "confidence": 15}) == 15


def test_confidence_from_severity_and_sensors_and_no_new_version_on_replay(
    tmp_path: Path, store: Store
) -> None:
    settings = settings_for(tmp_path)
    Pipeline(settings, store, "city-soc").run()
    got = {value: versions[0]["confidence"] for value, versions in indicators(store, settings).items()}
    assert got == {
        "203.0.113.61": 35,  # log4j exploit, severity 1
        "198.51.100.23": 35,  # Emotet C2 reached from inside, severity 1
        "203.0.113.50": 30,  # MSSQL scan, severity 2, seen by two sensors (sensor-dmz, sensor-core)
        "192.0.2.77": 25,  # SSH scan, severity 2, one sensor
        "192.0.2.91": 15,  # a network scan at severity 3
    }
    before = indicators(store, settings, "all")
    again = Pipeline(settings, store, "city-soc").run(cursor=None, use_saved_cursor=False)
    assert again.read > 0 and (again.created, again.updated) == (0, 0)
    assert indicators(store, settings, "all") == before


def test_a_second_organization_raises_confidence_once(tmp_path: Path, store: Store) -> None:
    harbour = tmp_path / "harbour.csv"
    harbour.write_text(
        "value,type,first_seen,last_seen,count,category\n203.0.113.50,ip,2026-11-30T09:00:00Z,,2,scan\n"
    )
    settings = settings_for(tmp_path, harbour)
    Pipeline(settings, store, "city-soc").run()
    report = Pipeline(settings, store, "harbour-soc").run()
    assert report.updated == 1
    (latest,) = indicators(store, settings)["203.0.113.50"]
    assert latest["confidence"] == 30 + 15  # the city's read of it, and a second organization
    assert {r["source_name"] for r in latest["external_references"]} == {
        "City Security Operations Center",
        "Harbour Authority SOC",
    }
    before = indicators(store, settings, "all")
    for name in ("city-soc", "harbour-soc"):  # both replayed from the start: nothing new
        replay = Pipeline(settings, store, name).run(cursor=None, use_saved_cursor=False)
        assert (replay.created, replay.updated) == (0, 0)
    assert indicators(store, settings, "all") == before


def test_run_report_counts_informational_apart_from_errors(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path)
    report = Pipeline(settings, store, "city-soc").run()
    assert sum(report.informational.values()) == 15
    assert report.informational["eve signature ET POLICY"] == 9
    assert report.dead_lettered == 0 and not report.problems
    assert not any(reason.startswith("malformed") for reason in report.skipped)
    lines = report.lines()
    assert "  informational:        15" in lines
    assert "    eve signature ET POLICY: 9" in lines
    assert not store.list_dead_letters("city-soc")


def test_dead_letters_keep_what_confidence_needs() -> None:
    """A SOC aggregate dead-lettered today, and one stored before level and sensors existed."""
    agg = SocAggregate(
        "203.0.113.7", "ipv4", 1, 2, 3, {"ET SCAN x"}, {"scan"}, "eve.json:1:0", HIGH, ("s1", "s2")
    )
    stored = _payload(RawRecord("soc-aggregate", agg, "x"))  # what the dead-letter store keeps
    assert SocAggregate.from_payload(stored) == agg
    old = orjson.dumps({k: v for k, v in orjson.loads(stored).items() if k not in ("level", "sensors")})
    assert SocAggregate.from_payload(old).level == UNSTATED and SocAggregate.from_payload(old).sensors == ()
