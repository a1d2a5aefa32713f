"""Dead letters of SOC aggregates: SocAggregate writes its own payload and reads it back, and a
retry stores what the aggregate says (a real SQLite store, the default city-soc connector). A
letter no normalizer reads fails alone: the retry goes on, and the command says so by its exit code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson

from config import Settings
from connectors.base import RawRecord
from connectors.soc.connector import SocAggregate
from indexer.pipeline import _payload, retry_dead_letters
from indexer.store.base import ObjectQuery, Store
from tests.helpers import cli

AGG = SocAggregate(
    value="203.0.113.77",
    kind="ipv4",
    first_seen=1_767_225_600,  # 2026-01-01T00:00:00Z
    last_seen=1_767_229_200,
    count=12,
    signatures={"SSH brute force", "Port scan"},
    categories={"attempted-admin"},
    window="auth.log:42:0",
)


def test_an_aggregate_comes_back_as_it_went() -> None:
    payload = AGG.to_payload()
    assert orjson.loads(payload)["signatures"] == ["Port scan", "SSH brute force"]  # stable bytes
    assert SocAggregate.from_payload(payload) == AGG
    assert _payload(RawRecord("soc-aggregate", AGG, "auth.log@0")) == payload


def test_a_retried_aggregate_is_stored_and_its_letter_removed(settings: Settings, store: Store) -> None:
    store.add_dead_letter("city-soc", "soc-aggregate", "auth.log@0", "was broken once", AGG.to_payload())
    report = retry_dead_letters(settings, store, "city-soc")
    assert (report.stored, report.failing) == (1, 0)
    assert store.list_dead_letters("city-soc") == []
    collection = settings.collection(settings.connectors["city-soc"].collection)
    assert collection is not None
    stored = [orjson.loads(o.body) for o in store.query(ObjectQuery(collection.id, limit=100)).objects]
    sightings = [o for o in stored if o["type"] == "sighting"]
    assert [s["count"] for s in sightings] == [12]
    (indicator,) = [o for o in stored if o["type"] == "indicator"]
    assert "203.0.113.77" in indicator["pattern"] and "SSH brute force" in indicator["description"]


def _letters_of_unknown_kinds(store: Store) -> None:
    """Two letters today's normalizers cannot read (as a newer version or a removed connector
    leaves them), between two good ones."""
    store.add_dead_letter("city-soc", "soc-aggregate", "auth.log@0", "was broken once", AGG.to_payload())
    ja3 = dataclasses.replace(AGG, kind="ja3", value="e7d705a3286e19ea42f587b344ee6865")
    store.add_dead_letter("city-soc", "soc-aggregate", "eve.json@7", "newer kind", ja3.to_payload())
    store.add_dead_letter("city-soc", "tls-fingerprint", "eve.json@9", "removed connector", b"\x00not json")
    other = dataclasses.replace(AGG, value="198.51.100.9", window="auth.log:43:0")
    store.add_dead_letter("city-soc", "soc-aggregate", "auth.log@1", "was broken once", other.to_payload())


def test_a_letter_of_an_unknown_kind_stays_and_the_retry_goes_on(
    settings: Settings, backend_store: Store
) -> None:
    _letters_of_unknown_kinds(backend_store)
    report = retry_dead_letters(settings, backend_store, "city-soc")
    assert (report.stored, report.failing) == (2, 2)
    left = {letter.origin: letter for letter in backend_store.list_dead_letters("city-soc")}
    assert sorted(left) == ["eve.json@7", "eve.json@9"]
    assert "unknown indicator kind 'ja3'" in left["eve.json@7"].reason
    assert "unknown record kind 'tls-fingerprint'" in left["eve.json@9"].reason
    assert left["eve.json@9"].payload == b"\x00not json"  # kept as it was, for a version that reads it
    assert dict(report.problems) == {origin: letter.reason for origin, letter in left.items()}
    # Retried again, they fail the same way and nothing else changes.
    again = retry_dead_letters(settings, backend_store, "city-soc")
    assert (again.stored, again.failing) == (0, 2)


def test_the_retry_command_prints_its_report_and_exits_1_while_letters_fail(
    tmp_path: Path, store: Store
) -> None:
    _letters_of_unknown_kinds(store)
    failing = cli(tmp_path, "deadletter", "retry", "city-soc")
    assert failing.returncode == 1, failing.stderr
    assert "2 stored and removed, 2 still failing" in failing.stdout
    assert "eve.json@9: unknown record kind 'tls-fingerprint'" in failing.stdout
    for letter in store.list_dead_letters("city-soc"):
        store.delete_dead_letter(letter.id)
    done = cli(tmp_path, "deadletter", "retry", "city-soc")
    assert done.returncode == 0 and "0 stored and removed, 0 still failing" in done.stdout
