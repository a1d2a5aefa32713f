"""Store faults, method by method: every public method of each backend, on a store that is
read-only, full, locked, missing, damaged or unreachable, raises StoreError with the cause that
says which (what the HTTP layer turns into a 503, its text and its Retry-After).

The faults are real SQLite and Elasticsearch states, set from the test on the store's own
connection or indices: `PRAGMA query_only` (SQLite answers SQLITE_READONLY), `PRAGMA
max_page_count` at the current size (SQLITE_FULL, as a full disk), a second connection holding
the write lock (SQLITE_BUSY), a missing or garbage file, a port nothing listens on, and the
index blocks an Elasticsearch node sets itself (write block; read_only_allow_delete, which a
node puts on every index when its disk passes the flood-stage watermark).
"""

from __future__ import annotations

import os
import pickle
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import ElasticsearchSettings
from cyberlab.devserver import free_port
from indexer.errors import StoreCause, StoreError
from indexer.search.model import SearchQuery
from indexer.store.base import (
    Account,
    CheckReport,
    DigestState,
    DigestSubscription,
    NewObject,
    ObjectQuery,
    StatusRecord,
    Store,
)
from indexer.store.embedded import DB_FILENAME, EmbeddedStore
from indexer.synthetic import indicators
from indexer.timestamps import parse_timestamp

COLL = "coll-faults"
BIG = "x" * 20_000  # larger than a page: storing it needs new pages, which a full disk refuses
Seeds = dict[str, Any]


def new(obj: dict[str, Any]) -> NewObject:
    return NewObject(
        obj["id"], obj["type"], parse_timestamp(obj["modified"]), obj["modified"], "2.1", orjson.dumps(obj)
    )


SEEDED, FRESH = list(indicators(2, seed=11))
FRESH = {**FRESH, "description": BIG}


@dataclass(frozen=True)
class Call:
    name: str  # the Store method
    run: Callable[[Store, Seeds], object]
    writes: bool = False
    grows: bool = False  # stores new data: needs space a full disk does not have


CALLS = [
    Call("add_objects", lambda s, _: s.add_objects(COLL, [new(FRESH)]), writes=True, grows=True),
    Call("query", lambda s, _: s.query(ObjectQuery(COLL))),
    Call("object_exists", lambda s, _: s.object_exists(COLL, SEEDED["id"])),
    Call("object_owner", lambda s, _: s.object_owner(COLL, SEEDED["id"])),
    Call("delete_object", lambda s, _: s.delete_object(COLL, SEEDED["id"]), writes=True),
    Call("count", lambda s, _: s.count(COLL)),
    Call("newest_date_added", lambda s, _: s.newest_date_added(COLL)),
    Call("last_change", lambda s, _: s.last_change(COLL)),
    Call("search", lambda s, _: s.search(SearchQuery(collections=(COLL,), text="indicator"))),
    Call("sightings_of", lambda s, _: s.sightings_of(SEEDED["id"], (COLL,))),
    Call("related", lambda s, _: s.related(SEEDED["id"], (COLL,))),
    Call(
        "save_status",
        lambda s, _: s.save_status(
            StatusRecord("status-2", COLL, "admin", 1, "complete", successes=[{"id": BIG}])
        ),
        writes=True,
        grows=True,
    ),
    Call("get_status", lambda s, _: s.get_status("status-1")),
    Call("get_cursor", lambda s, _: s.get_cursor("seeded")),
    Call("save_cursor", lambda s, _: s.save_cursor("fresh", BIG), writes=True, grows=True),
    Call(
        "add_dead_letter",
        lambda s, _: s.add_dead_letter("misp", "event", "fresh", "bad", BIG.encode()),
        writes=True,
        grows=True,
    ),
    Call("list_dead_letters", lambda s, _: s.list_dead_letters()),
    Call("delete_dead_letter", lambda s, seeds: s.delete_dead_letter(seeds["letter"]), writes=True),
    Call("record_ingest", lambda s, _: s.record_ingest("misp", {"added": 3}), writes=True),
    Call("ingest_totals", lambda s, _: s.ingest_totals()),
    Call(
        "add_account", lambda s, _: s.add_account(Account("fresh", "admin", BIG, 1)), writes=True, grows=True
    ),
    Call("get_account", lambda s, _: s.get_account("seeded")),
    Call("list_accounts", lambda s, _: s.list_accounts()),
    Call(
        "update_account",
        lambda s, _: s.update_account(Account("seeded", "analyst", BIG, 1)),
        writes=True,
        grows=True,
    ),
    Call("end_sessions", lambda s, _: s.end_sessions("seeded"), writes=True),
    Call("get_digest_subscription", lambda s, _: s.get_digest_subscription("seeded")),
    Call(
        "save_digest_subscription",
        lambda s, _: s.save_digest_subscription(
            DigestSubscription("fresh", True, "daily", (COLL,), BIG, False, 1)
        ),
        writes=True,
        grows=True,
    ),
    Call("list_digest_subscriptions", lambda s, _: s.list_digest_subscriptions()),
    Call("get_digest_state", lambda s, _: s.get_digest_state("seeded")),
    Call("save_digest_state", lambda s, _: s.save_digest_state(DigestState("fresh", 2, 3)), writes=True),
    Call(
        "add_check_report",
        lambda s, _: s.add_check_report(CheckReport("report-2", "seeded", "domain", BIG, 1)),
        writes=True,
        grows=True,
    ),
    Call("get_check_report", lambda s, _: s.get_check_report("report-1")),
    Call("list_check_reports", lambda s, _: s.list_check_reports()),
    Call(
        "update_check_report",
        lambda s, _: s.update_check_report(CheckReport("report-1", "seeded", "domain", BIG, 1)),
        writes=True,
        grows=True,
    ),
]
WRITES = [c for c in CALLS if c.writes]
GROWS = [c for c in CALLS if c.grows]
READS = [c for c in CALLS if not c.writes]
# Not statements on the data: creating the store, closing connections, the files' size.
NOT_IN_TABLE = {"initialize", "close", "size_bytes"}


def ids(calls: list[Call]) -> list[str]:
    return [c.name for c in calls]


def test_the_table_covers_every_store_method() -> None:
    public = {name for name in vars(Store) if not name.startswith("_") and callable(getattr(Store, name))}
    assert public - NOT_IN_TABLE == set(ids(CALLS))


def seed(store: Store) -> Seeds:
    store.add_objects(COLL, [new(SEEDED)])
    store.save_status(StatusRecord("status-1", COLL, "admin", 1, "complete"))
    store.save_cursor("seeded", "1")
    store.add_dead_letter("misp", "event", "seeded", "bad", b"{}")
    store.record_ingest("misp", {"added": 1})
    store.add_account(Account("seeded", "admin", "hash", 1))
    store.save_digest_subscription(
        DigestSubscription("seeded", True, "daily", (COLL,), "a@b.example", False, 1)
    )
    store.save_digest_state(DigestState("seeded", 1, 1))
    store.add_check_report(CheckReport("report-1", "seeded", "domain", "evil.example", 1))
    return {"letter": store.list_dead_letters()[0].id}


def assert_cause(call: Call, store: Store, seeds: Seeds, cause: StoreCause) -> StoreError:
    with pytest.raises(StoreError) as raised:
        call.run(store, seeds)
    assert raised.value.cause == cause, f"{call.name}: {raised.value}"
    return raised.value


# -- the embedded store ---------------------------------------------------------------------------
@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[EmbeddedStore, Seeds]]:
    store = EmbeddedStore(tmp_path)
    store.initialize()
    seeds = seed(store)
    yield store, seeds
    store.close()


def dump(path: Path) -> list[str]:
    """Everything in the database, through a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize("call", WRITES, ids=ids(WRITES))
def test_read_only_store_refuses_every_write_as_read_only(
    embedded: tuple[EmbeddedStore, Seeds], call: Call
) -> None:
    store, seeds = embedded
    before = dump(store.path)
    store._conn().execute("PRAGMA query_only = ON")
    assert_cause(call, store, seeds, "read_only")
    for read in READS:  # reads go on
        read.run(store, seeds)
    store._conn().execute("PRAGMA query_only = OFF")
    assert dump(store.path) == before


@pytest.mark.parametrize("call", GROWS, ids=ids(GROWS))
def test_full_store_refuses_every_write_that_needs_space_as_disk_full(
    embedded: tuple[EmbeddedStore, Seeds], call: Call
) -> None:
    store, seeds = embedded
    before = dump(store.path)
    conn = store._conn()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")  # not one page more: SQLITE_FULL
    error = assert_cause(call, store, seeds, "disk_full")
    assert "full" in str(error)  # SQLite's own words stay in the message, for the admin
    for read in READS:  # a full disk still answers reads
        read.run(store, seeds)
    conn.execute("PRAGMA max_page_count = 4294967294")
    assert dump(store.path) == before, "a refused write must leave nothing behind"
    call.run(store, seeds)  # with room again the same write goes through
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("call", WRITES, ids=ids(WRITES))
def test_writes_behind_another_writers_lock_are_busy(
    embedded: tuple[EmbeddedStore, Seeds], call: Call
) -> None:
    store, seeds = embedded
    store._conn().execute("PRAGMA busy_timeout = 20")  # the store waits 30 s; the test will not
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert_cause(call, store, seeds, "busy")
        for read in READS:  # WAL: readers never wait for the writer
            read.run(store, seeds)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
def test_a_missing_store_is_not_initialized(tmp_path: Path, call: Call) -> None:
    assert_cause(call, EmbeddedStore(tmp_path), {"letter": 1}, "not_initialized")


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
def test_a_database_without_the_schema_is_not_initialized(tmp_path: Path, call: Call) -> None:
    sqlite3.connect(tmp_path / DB_FILENAME).close()  # an empty database: a file, no tables
    store = EmbeddedStore(tmp_path)
    assert_cause(call, store, {"letter": 1}, "not_initialized")
    store.close()


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
def test_a_damaged_file_is_corrupt(tmp_path: Path, call: Call) -> None:
    (tmp_path / DB_FILENAME).write_bytes(os.urandom(8192))  # not a database at all
    store = EmbeddedStore(tmp_path)
    assert_cause(call, store, {"letter": 1}, "corrupt")
    store.close()


# -- Elasticsearch ----------------------------------------------------------------------------------
def test_an_unreachable_elasticsearch_is_unavailable_from_every_method() -> None:
    """Nothing listens at the port (no node needed: this runs everywhere)."""
    from indexer.store.elastic import ElasticStore

    settings = ElasticsearchSettings(hosts=(f"http://127.0.0.1:{free_port()}",), request_timeout=2)
    store = ElasticStore(settings)
    try:
        for call in CALLS:
            error = assert_cause(call, store, {"letter": 1}, "unavailable")
            assert "unreachable" in str(error) and settings.hosts[0] in str(error)
        with pytest.raises(StoreError) as raised:
            store.size_bytes()
        assert raised.value.cause == "unavailable"
    finally:
        store.close()


def test_an_elasticsearch_that_never_answers_is_a_timeout() -> None:
    """A hung node: the port accepts (the kernel completes the handshake into the backlog) but
    nothing ever answers. Each request gives up at request_timeout, as a timeout."""
    from indexer.store.elastic import ElasticStore

    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        store = ElasticStore(ElasticsearchSettings(hosts=(url,), request_timeout=1))
        try:
            for name in ("query", "get_status", "save_status", "add_objects", "search"):
                call = next(c for c in CALLS if c.name == name)
                error = assert_cause(call, store, {"letter": 1}, "timeout")
                # The configured limit, not the client's 10 s default (it once ignored the setting).
                assert "in time" in str(error) and "read timeout=1)" in str(error)
        finally:
            store.close()


def test_a_store_error_keeps_its_cause_across_processes() -> None:
    """Keyword-only arguments would be lost by the default pickling (process pools pickle)."""
    copied = pickle.loads(pickle.dumps(StoreError("m", cause="busy", retry_after=3)))
    assert (str(copied), copied.cause, copied.retry_after) == ("m", "busy", 3)


@pytest.fixture
def elastic() -> Iterator[tuple[Any, Seeds]]:
    url = os.environ.get("CYBERLAB_ES_URL")
    if not url:
        pytest.skip("Elasticsearch tests need CYBERLAB_ES_URL (e.g. http://127.0.0.1:9200)")
    from indexer.store.elastic import ElasticStore

    prefix = f"cyberlab-test-{uuid.uuid4().hex[:12]}"
    store = ElasticStore(ElasticsearchSettings(hosts=(url,), index_prefix=prefix, lease_wait_seconds=5))
    store.initialize()
    try:
        yield store, seed(store)
    finally:
        es = store._es()
        # This block first: while it is on, only it may be changed.
        es.indices.put_settings(index=f"{prefix}-*", body={"index.blocks.read_only_allow_delete": None})
        es.indices.put_settings(index=f"{prefix}-*", body={"index.blocks.write": None})
        es.indices.delete(index=f"{prefix}-*", ignore=404)
        es.indices.delete_template(name=f"{prefix}-*", ignore=404)
        store.close()


def block(store: Any, setting: str) -> None:
    store._es().indices.put_settings(index=f"{store.settings.index_prefix}-*", body={setting: True})


def test_elasticsearch_indices_blocked_for_writes_are_read_only(elastic: tuple[Any, Seeds]) -> None:
    store, seeds = elastic
    block(store, "index.blocks.write")
    for call in WRITES:
        assert_cause(call, store, seeds, "read_only")
    for read in READS:
        read.run(store, seeds)


def test_elasticsearch_past_its_flood_stage_watermark_is_disk_full(elastic: tuple[Any, Seeds]) -> None:
    """The block a node sets itself when its disk is nearly full (deletes are still allowed)."""
    store, seeds = elastic
    block(store, "index.blocks.read_only_allow_delete")
    for call in GROWS:
        assert_cause(call, store, seeds, "disk_full")
    for read in READS:
        read.run(store, seeds)


def test_elasticsearch_without_the_indices_is_not_initialized() -> None:
    url = os.environ.get("CYBERLAB_ES_URL")
    if not url:
        pytest.skip("Elasticsearch tests need CYBERLAB_ES_URL (e.g. http://127.0.0.1:9200)")
    from indexer.store.elastic import ElasticStore

    prefix = f"cyberlab-test-{uuid.uuid4().hex[:12]}"  # never initialized
    store = ElasticStore(ElasticsearchSettings(hosts=(url,), index_prefix=prefix))
    try:
        for read in READS:  # (a write would let the node create an index on its own)
            assert_cause(read, store, {"letter": 1}, "not_initialized")
    finally:
        store._es().indices.delete(index=f"{prefix}-*", ignore=404)
        store.close()
