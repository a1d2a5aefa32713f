"""The store contract, one suite for every backend.

The embedded SQLite store always runs; Elasticsearch runs when CYBERLAB_ES_URL names a node and
skips, saying so, otherwise (the `store` fixture in tests/store/conftest.py).
"""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import orjson
import pytest

from indexer.store.base import (
    Account,
    CheckReport,
    DigestState,
    DigestSubscription,
    Keyset,
    NewObject,
    ObjectQuery,
    StatusRecord,
    Store,
)
from indexer.store.embedded import EmbeddedStore
from tests.data import new_object
from tests.helpers import make_settings

COLL = "coll-a"
OTHER = "coll-b"


def ids(page_objects: list) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    return [(o.id, o.version) for o in page_objects]


def test_added_objects_come_back_in_date_added_order(store: Store) -> None:
    batch = [new_object(n) for n in (3, 1, 2)]
    assert store.add_objects(COLL, batch) == ["added"] * 3
    page = store.query(ObjectQuery(COLL, limit=10))
    assert ids(page.objects) == [(o.id, o.version) for o in batch]
    assert not page.more
    added = [o.date_added for o in page.objects]
    assert added == sorted(added) and len(set(added)) == 3, "date_added must strictly increase"
    assert page.objects[0].body == batch[0].body


def test_date_added_increases_across_batches_and_collections(store: Store) -> None:
    store.add_objects(COLL, [new_object(1)])
    store.add_objects(OTHER, [new_object(2)])
    store.add_objects(COLL, [new_object(3)])
    first = store.query(ObjectQuery(COLL)).objects
    other = store.query(ObjectQuery(OTHER)).objects
    assert first[0].date_added < other[0].date_added < first[1].date_added


def test_exact_duplicate_is_reported_and_not_re_added(store: Store) -> None:
    store.add_objects(COLL, [new_object(1)])
    before = store.query(ObjectQuery(COLL)).objects
    assert store.add_objects(COLL, [new_object(1)]) == ["duplicate"]
    assert store.query(ObjectQuery(COLL)).objects == before


def test_changed_body_under_same_version_is_a_conflict_and_keeps_the_original(store: Store) -> None:
    original = new_object(1)
    store.add_objects(COLL, [original])
    tampered = NewObject(original.id, original.type, original.version, original.version_text, "2.1", b"{}")
    assert store.add_objects(COLL, [tampered]) == ["conflict"]
    assert store.query(ObjectQuery(COLL)).objects[0].body == original.body


def test_same_object_in_two_collections_is_independent(store: Store) -> None:
    assert store.add_objects(COLL, [new_object(1)]) == ["added"]
    assert store.add_objects(OTHER, [new_object(1)]) == ["added"]
    assert store.count(COLL) == store.count(OTHER) == 1


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (("last",), [300]),
        (("first",), [100]),
        (("all",), [100, 300, 200]),  # in date_added order: 200 arrived last
        (("first", "last"), [100, 300]),
        ((200,), [200]),
        ((100, 300), [100, 300]),
        ((999,), []),
    ],
)
def test_version_selection(store: Store, versions: tuple, expected: list[int]) -> None:  # type: ignore[type-arg]
    # Versions arrive out of order: 100, 300, then the older 200.
    store.add_objects(COLL, [new_object(1, 100), new_object(1, 300)])
    store.add_objects(COLL, [new_object(1, 200)])
    page = store.query(ObjectQuery(COLL, versions=versions))
    assert [o.version for o in page.objects] == expected


def test_filters_by_id_type_and_spec_version(store: Store) -> None:
    store.add_objects(
        COLL, [new_object(1), new_object(2, stix_type="malware"), new_object(3), new_object(4, spec="2.0")]
    )
    by_id = store.query(ObjectQuery(COLL, ids=(new_object(1).id, new_object(3).id)))
    assert [o.id for o in by_id.objects] == [new_object(1).id, new_object(3).id]
    by_type = store.query(ObjectQuery(COLL, types=("malware",)))
    assert [o.id for o in by_type.objects] == [new_object(2, stix_type="malware").id]
    by_both = store.query(ObjectQuery(COLL, ids=(new_object(1).id,), types=("malware",)))
    assert by_both.objects == []
    assert [o.id for o in store.query(ObjectQuery(COLL, spec_versions=("2.0",))).objects] == [
        new_object(4).id
    ]


def test_added_after_is_strict(store: Store) -> None:
    store.add_objects(COLL, [new_object(n) for n in range(5)])
    everything = store.query(ObjectQuery(COLL)).objects
    later = store.query(ObjectQuery(COLL, added_after=everything[1].date_added)).objects
    assert later == everything[2:]


def test_keyset_paging_visits_every_object_exactly_once(store: Store) -> None:
    for start in range(0, 250, 50):
        store.add_objects(COLL, [new_object(n) for n in range(start, start + 50)])
    seen: list[str] = []
    after: Keyset | None = None
    while True:
        page = store.query(ObjectQuery(COLL, limit=7, after=after))
        seen.extend(o.id for o in page.objects)
        if not page.more:
            break
        after = page.objects[-1].keyset
    assert len(seen) == len(set(seen)) == 250


def test_page_reports_more_exactly(store: Store) -> None:
    store.add_objects(COLL, [new_object(n) for n in range(4)])
    assert store.query(ObjectQuery(COLL, limit=4)).more is False
    assert store.query(ObjectQuery(COLL, limit=3)).more is True


def test_delete_one_version_keeps_first_and_last_right(store: Store) -> None:
    store.add_objects(COLL, [new_object(1, 100), new_object(1, 200), new_object(1, 300)])
    assert store.delete_object(COLL, new_object(1).id, versions=(300,)) == 1
    assert [o.version for o in store.query(ObjectQuery(COLL, versions=("last",))).objects] == [200]
    assert store.delete_object(COLL, new_object(1).id, versions=("first",)) == 1
    assert [o.version for o in store.query(ObjectQuery(COLL, versions=("first",))).objects] == [200]
    assert store.delete_object(COLL, new_object(1).id) == 1
    assert not store.object_exists(COLL, new_object(1).id)


def test_status_records_round_trip(store: Store) -> None:
    record = StatusRecord(
        id="s-1",
        collection=COLL,
        owner="alice",
        request_timestamp=123,
        status="complete",
        successes=[{"id": "x", "version": "v", "message": "added"}],
        failures=[{"id": "y", "version": "", "message": "bad"}],
    )
    store.save_status(record)
    assert store.get_status("s-1") == record
    assert store.get_status("nope") is None


def test_cursors_round_trip(store: Store) -> None:
    assert store.get_cursor("misp-feed") is None
    store.save_cursor("misp-feed", "1700000000")
    store.save_cursor("misp-feed", "1700000100")
    assert store.get_cursor("misp-feed") == "1700000100"


def test_accounts(store: Store) -> None:
    store.add_account(Account("alice", "subscriber", "hash", 1))
    with pytest.raises(Exception, match="already exists"):
        store.add_account(Account("alice", "admin", "hash", 1))
    store.update_account(Account("alice", "subscriber", "hash2", 1, revoked=5))
    alice = store.get_account("alice")
    assert alice is not None and alice.key_hash == "hash2" and not alice.active
    assert [a.name for a in store.list_accounts()] == ["alice"]


def _writer(data_dir: str, start: int) -> None:
    writer = EmbeddedStore(data_dir)
    for n in range(start, start + 200, 20):
        writer.add_objects(COLL, [new_object(k) for k in range(n, n + 20)])


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    """Two processes writing at once (like an ingest beside a TAXII POST): all land, dates unique."""
    EmbeddedStore(tmp_path).initialize()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), s)) for s in (0, 10_000)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    objects = EmbeddedStore(tmp_path).query(ObjectQuery(COLL, limit=1000)).objects
    assert len(objects) == 400
    assert len({o.date_added for o in objects}) == 400


def test_several_types_merge_in_date_added_order_with_exact_paging(store: Store) -> None:
    mixed = [new_object(n, stix_type=("indicator", "malware", "tool")[n % 3]) for n in range(30)]
    store.add_objects(COLL, mixed)
    wanted = [o.id for o in mixed if o.type in ("indicator", "tool")]
    seen: list[str] = []
    after: Keyset | None = None
    while True:
        page = store.query(ObjectQuery(COLL, types=("tool", "indicator"), limit=6, after=after))
        seen.extend(o.id for o in page.objects)
        if not page.more:
            break
        after = page.objects[-1].keyset
    assert seen == wanted


def test_spec_version_filter_that_matches_nothing_or_everything(store: Store) -> None:
    store.add_objects(COLL, [new_object(1), new_object(2)])
    assert store.query(ObjectQuery(COLL, spec_versions=("2.0",))).objects == []
    assert len(store.query(ObjectQuery(COLL, spec_versions=("2.0", "2.1"))).objects) == 2


def test_reindex_copies_every_version_once(tmp_path: Path, store: Store) -> None:
    """copy_store from an embedded store into each backend (the CLI runs it into Elasticsearch)."""
    from indexer.reindex import copy_store

    source, target = EmbeddedStore(tmp_path / "a"), store
    source.initialize()
    source.add_objects(COLL, [new_object(1, 1), new_object(1, 2), new_object(2)])
    source.add_objects(COLL, [new_object(3, stix_type="malware")], owner="acme")
    source.add_account(Account("acme", "subscriber", "scrypt$x", 1))
    source.save_cursor("city-soc", "offset=5")
    report = copy_store(source, target, [COLL], ["city-soc"])
    assert report.objects == {"added": 4} and report.accounts == 1 and report.cursors == 1
    copied = target.query(ObjectQuery(COLL, versions=("all",), limit=10)).objects
    original = source.query(ObjectQuery(COLL, versions=("all",), limit=10)).objects
    assert [(o.id, o.version, o.body) for o in copied] == [(o.id, o.version, o.body) for o in original]
    assert copy_store(source, target, [COLL]).objects == {"duplicate": 4}
    assert target.get_cursor("city-soc") == "offset=5"
    assert target.object_owner(COLL, new_object(3, stix_type="malware").id) == "acme"  # owners travel
    assert target.object_owner(COLL, new_object(1).id) == ""


def test_reindex_brings_the_operators_state_along(tmp_path: Path, store: Store) -> None:
    """Digests (with what was mailed, in the new store's stamps), the report queue, dead letters
    and ingest totals travel with the objects, once: a second copy adds nothing."""
    from indexer.reindex import copy_store

    source, target = EmbeddedStore(tmp_path / "a"), store
    source.initialize()
    source.add_objects(COLL, [new_object(1), new_object(2)])
    mailed_up_to = source.newest_date_added(COLL)
    source.add_objects(COLL, [new_object(3)])  # added after the last digest: still to be mailed
    source.save_digest_subscription(
        DigestSubscription("acme", True, "daily", (COLL,), "soc@acme.example", html=False, updated=5)
    )
    source.save_digest_state(DigestState("acme", mailed_up_to, sent_at=7))
    source.add_check_report(CheckReport("r1", "acme", "domain", "evil.example", created=9))
    source.add_dead_letter("city-soc", "eve", "eve.json:12", "not JSON", b"{oops")
    source.record_ingest("city-soc", {"created": 3, "invalid": 1})

    report = copy_store(source, target, [COLL])
    assert (report.digests, report.check_reports, report.dead_letters, report.ingest_totals) == (1, 1, 1, 1)
    assert target.get_digest_subscription("acme") == source.get_digest_subscription("acme")
    state = target.get_digest_state("acme")
    assert state is not None and state.sent_at == 7
    # In the target's stamps: objects 1 and 2 count as mailed, object 3 does not.
    pending = target.query(ObjectQuery(COLL, added_after=state.up_to, limit=10)).objects
    assert [o.id for o in pending] == [new_object(3).id]
    assert target.get_check_report("r1") == source.get_check_report("r1")
    [letter] = target.list_dead_letters()
    assert (letter.connector, letter.origin, letter.reason, letter.payload) == (
        "city-soc",
        "eve.json:12",
        "not JSON",
        b"{oops",
    )
    assert target.ingest_totals() == source.ingest_totals()

    again = copy_store(source, target, [COLL])
    assert (again.digests, again.check_reports, again.dead_letters, again.ingest_totals) == (0, 0, 0, 0)
    assert len(target.list_dead_letters()) == 1 and target.ingest_totals() == source.ingest_totals()


# -- the caller's scope: per-version TLP and owners (issue 10, items 3, 5, 6) ------------------
GREEN_ID = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
AMBER_ID = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"


def marked(n: int, version: int, **markings: object) -> NewObject:
    oid = f"indicator--{uuid.UUID(int=n)}"
    body = orjson.dumps({"id": oid, "type": "indicator", "v": version, **markings})
    return NewObject(oid, "indicator", version, f"v{version}", "2.1", body)


def test_a_reader_sees_only_the_versions_its_clearance_covers(store: Store) -> None:
    store.add_objects(
        COLL,
        [
            marked(1, 100, object_marking_refs=[GREEN_ID]),
            marked(
                1,
                200,
                object_marking_refs=[AMBER_ID.upper().replace("MARKING-DEFINITION", "marking-definition")],
            ),
            marked(
                2,
                100,
                object_marking_refs=[GREEN_ID],
                granular_markings=[{"marking_ref": AMBER_ID, "selectors": ["v"]}],
            ),
            marked(3, 100),  # unmarked: whoever may read the collection
            marked(4, 100, object_marking_refs=["marking-definition--00000000-0000-4000-8000-00000000dead"]),
        ],
    )
    green = ObjectQuery(COLL, versions=("all",), max_tlp_rank=1)
    assert sorted(ids(store.query(green).objects)) == sorted([(marked(1, 0).id, 100), (marked(3, 0).id, 100)])
    # "last" is the latest version there is; a reader who may not see it gets nothing, not an older one.
    assert ids(store.query(ObjectQuery(COLL, ids=(marked(1, 0).id,), max_tlp_rank=1)).objects) == []
    amber = ObjectQuery(COLL, versions=("all",), max_tlp_rank=2)
    assert len(store.query(amber).objects) == 4  # the unknown marking counts as TLP:RED
    assert len(store.query(ObjectQuery(COLL, versions=("all",))).objects) == 5


def test_the_first_account_to_store_an_id_owns_it(store: Store) -> None:
    assert store.add_objects(COLL, [new_object(1, 100)], owner="acme") == ["added"]
    assert store.object_owner(COLL, new_object(1).id) == "acme"
    assert store.object_owner(OTHER, new_object(1).id) is None
    # Another account may neither add a version nor even re-post the same one; the owner may.
    assert (
        store.add_objects(COLL, [new_object(1, 200), new_object(1, 100)], owner="rival") == ["not_owner"] * 2
    )
    assert store.add_objects(COLL, [new_object(1, 300)], owner="acme") == ["added"]
    # The platform (connectors, admins) writes anything; the id stays acme's.
    assert store.add_objects(COLL, [new_object(1, 400)]) == ["added"]
    assert store.object_owner(COLL, new_object(1).id) == "acme"
    # What the platform stores first is the platform's: no account may change it.
    store.add_objects(COLL, [new_object(2, 100)])
    assert store.object_owner(COLL, new_object(2).id) == ""
    assert store.add_objects(COLL, [new_object(2, 200)], owner="acme") == ["not_owner"]
    # Ownership is per collection: the same id elsewhere is someone else's business.
    assert store.add_objects(OTHER, [new_object(1, 100)], owner="rival") == ["added"]
    mine = store.query(ObjectQuery(COLL, versions=("all",), owner="acme"))
    assert ids(mine.objects) == [(new_object(1).id, 100), (new_object(1).id, 300), (new_object(1).id, 400)]
    assert store.query(ObjectQuery(COLL, owner="rival")).objects == []


def test_an_embedded_store_from_before_per_version_tlp_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    old = EmbeddedStore(tmp_path)
    old.initialize()
    old.add_objects(COLL, [marked(1, 100, object_marking_refs=[AMBER_ID]), marked(2, 100)], owner="acme")
    old.close()
    with sqlite3.connect(old.path) as conn:  # what a store of the previous release looks like
        conn.execute("ALTER TABLE objects DROP COLUMN tlp_rank")
        conn.execute("ALTER TABLE objects DROP COLUMN owner")
    conn.close()
    store = EmbeddedStore(tmp_path)
    store.initialize()
    green = store.query(ObjectQuery(COLL, versions=("all",), max_tlp_rank=1)).objects
    assert ids(green) == [(marked(2, 0).id, 100)]
    assert store.object_owner(COLL, marked(1, 0).id) == ""  # nobody knows who stored it: the platform
    store.close()


def test_last_change_follows_adds_and_deletes(store: Store) -> None:
    assert store.last_change(COLL) == 0
    store.add_objects(COLL, [new_object(1), new_object(2)])
    added = store.last_change(COLL)
    assert added == store.newest_date_added(COLL) > 0
    assert store.delete_object(COLL, new_object(2).id) == 1
    deleted = store.last_change(COLL)
    assert deleted > added, "a delete is a change too (exports and their Last-Modified follow it)"
    assert store.last_change(OTHER) == 0  # per collection
    assert store.delete_object(COLL, new_object(9).id) == 0
    assert store.last_change(COLL) == deleted  # deleting nothing changes nothing
    store.add_objects(COLL, [new_object(3)])
    assert store.last_change(COLL) > deleted


def test_end_sessions_bumps_the_generation_and_keeps_the_rest(store: Store) -> None:
    store.add_account(Account("ana", "analyst", "hash-1", 1))
    store.end_sessions("ana")
    store.end_sessions("ana")
    account = store.get_account("ana")
    assert account is not None and account.session_generation == 2 and account.key_hash == "hash-1"
    assert [a.session_generation for a in store.list_accounts()] == [2]
    store.end_sessions("nobody")  # no such account: nothing to end, no error


# -- a document the backend refuses (Elasticsearch's mapping) is that object's failure alone ------
def _sighting(n: int, version: int, count: int, of: str) -> NewObject:
    oid = f"sighting--{uuid.UUID(int=n)}"
    body = orjson.dumps({"id": oid, "type": "sighting", "sighting_of_ref": of, "count": count, "v": version})
    return NewObject(oid, "sighting", version, f"v{version}", "2.1", body)


TOO_BIG = 2**63  # past a long: Elasticsearch refuses the search document (validation stops it earlier)


def test_a_refused_document_rejects_its_object_and_stores_the_rest(store: Store) -> None:
    from indexer.search.model import SearchQuery
    from indexer.store.base import Rejected

    if isinstance(store, EmbeddedStore):
        pytest.skip("the embedded store has no mapping to refuse a document")
    target = new_object(1)
    store.add_objects(COLL, [target, _sighting(10, 100, 1, target.id)])
    outcomes = store.add_objects(
        COLL,
        [
            new_object(2),
            _sighting(10, 200, TOO_BIG, target.id),  # a new version of a stored sighting
            _sighting(11, 100, TOO_BIG, target.id),  # a new sighting
            _sighting(12, 100, 5, target.id),
            new_object(3),
        ],
    )
    assert outcomes[0] == outcomes[3] == outcomes[4] == "added"
    for refused in (outcomes[1], outcomes[2]):
        assert isinstance(refused, Rejected) and refused == "rejected"
        assert "long" in refused.reason, refused.reason
    stored = store.query(ObjectQuery(COLL, versions=("all",), limit=50)).objects
    assert sorted(ids(stored)) == sorted(
        [(target.id, 1_000), (f"sighting--{uuid.UUID(int=10)}", 100), (new_object(2).id, 1_000),
         (f"sighting--{uuid.UUID(int=12)}", 100), (new_object(3).id, 1_000)]
    )  # fmt: skip
    # The stored sighting keeps its first version as the latest, in TAXII and in search.
    latest = store.query(ObjectQuery(COLL, ids=(f"sighting--{uuid.UUID(int=10)}",))).objects
    assert [o.version for o in latest] == [100]
    hits = store.search(SearchQuery(collections=(COLL,), ids=(target.id,), limit=5)).hits
    assert [h.sightings for h in hits] == [1 + 5]  # the refused ones counted nothing
    # The same object, fixed, goes in afterwards.
    assert store.add_objects(COLL, [_sighting(11, 100, 3, target.id)]) == ["added"]
    hits = store.search(SearchQuery(collections=(COLL,), ids=(target.id,), limit=5)).hits
    assert [h.sightings for h in hits] == [1 + 5 + 3]


def test_ingest_reports_a_refused_object_as_its_own_failure(store: Store, tmp_path: Path) -> None:
    from indexer.ingest import ingest_objects

    if isinstance(store, EmbeddedStore):
        pytest.skip("the embedded store has no mapping to refuse a document")
    collection = make_settings(tmp_path).collection("security")
    assert collection is not None
    good = {
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.UUID(int=7, version=4)}",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip
    bad = {
        "type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.UUID(int=8, version=4)}",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "sighting_of_ref": good["id"], "count": TOO_BIG,
    }  # fmt: skip
    # validate=False: the STIX check (count <= 999999999) would stop it before the store.
    report = ingest_objects(store, collection, [good, bad], validate=False, sanitizer=None)
    assert [s.id for s in report.successes] == [good["id"]]
    assert [f.id for f in report.failures] == [bad["id"]]
    assert report.failures[0].outcome == "rejected"
    assert report.failures[0].message.startswith("the store refused it: ")
    assert report.counts["rejected"] == 1 and report.counts["added"] == 1
