"""Dead letters of SOC aggregates: SocAggregate writes its own payload and reads it back, and a
retry stores what the aggregate says (a real SQLite store, the default city-soc connector)."""

from __future__ import annotations

import orjson

from config import Settings
from connectors.base import RawRecord
from connectors.soc.connector import SocAggregate
from indexer.pipeline import _payload, retry_dead_letters
from indexer.store.base import ObjectQuery, Store

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
    assert retry_dead_letters(settings, store, "city-soc") == (1, 0)
    assert store.list_dead_letters("city-soc") == []
    collection = settings.collection(settings.connectors["city-soc"].collection)
    assert collection is not None
    stored = [orjson.loads(o.body) for o in store.query(ObjectQuery(collection.id, limit=100)).objects]
    sightings = [o for o in stored if o["type"] == "sighting"]
    assert [s["count"] for s in sightings] == [12]
    (indicator,) = [o for o in stored if o["type"] == "indicator"]
    assert "203.0.113.77" in indicator["pattern"] and "SSH brute force" in indicator["description"]
