"""The Elasticsearch write lease against a real node (skipped, saying so, without CYBERLAB_ES_URL):
two writer processes never interleave their batches, a holder only ever renews or releases its
own lease, and a writer killed with SIGKILL while holding it is taken over after expiry."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from config.settings import ElasticsearchSettings
from indexer.store.base import ObjectQuery
from indexer.store.elastic import ElasticStore
from indexer.store.elastic_lease import LEASE_ID
from tests.data import new_object

COLL = "coll-a"

BATCH, BATCHES = 20, 8


def _settings(prefix: str, **extra: Any) -> ElasticsearchSettings:
    return ElasticsearchSettings(hosts=(os.environ["CYBERLAB_ES_URL"],), index_prefix=prefix, **extra)


@pytest.fixture
def prefix() -> Iterator[str]:
    if not os.environ.get("CYBERLAB_ES_URL"):
        pytest.skip("Elasticsearch tests need CYBERLAB_ES_URL (e.g. http://127.0.0.1:9200)")
    name = f"cyberlab-test-{uuid.uuid4().hex[:12]}"
    ElasticStore(_settings(name)).initialize()
    yield name
    store = ElasticStore(_settings(name))
    store._es().indices.delete(index=f"{name}-*", ignore=404)
    store._es().indices.delete_template(name=f"{name}-*", ignore=404)


def _writer(prefix: str, start: int) -> None:
    store = ElasticStore(_settings(prefix))
    for n in range(start, start + BATCH * BATCHES, BATCH):
        assert store.add_objects(COLL, [new_object(k) for k in range(n, n + BATCH)]) == ["added"] * BATCH


def test_two_writer_processes_never_interleave(prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(prefix, s)) for s in (0, 10_000)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    objects = ElasticStore(_settings(prefix)).query(ObjectQuery(COLL, limit=1000)).objects
    assert len(objects) == 2 * BATCH * BATCHES
    assert len({o.date_added for o in objects}) == len(objects), "no date_added repeats"
    # In date_added order, each batch's objects are one run: no other batch wrote in between.
    batch_of = [int(o.id.rsplit("-", 1)[1], 16) // BATCH for o in objects]
    runs = [b for i, b in enumerate(batch_of) if i == 0 or batch_of[i - 1] != b]
    assert len(runs) == len(set(runs)) == 2 * BATCHES


def test_a_holder_renews_and_releases_only_its_own_lease(prefix: str) -> None:
    store = ElasticStore(_settings(prefix, lease_seconds=3))
    stalled = store.lease.acquire()  # held, but never renewed: as a writer stalled past its lease
    time.sleep(3.5)
    taker = ElasticStore(_settings(prefix, lease_seconds=30))
    current = taker.lease.acquire()  # takes the expired lease over
    store.lease.renew(stalled)
    assert stalled.lost, "renewing a lease another writer took over must fail"
    with pytest.raises(Exception, match="taken over"):
        stalled.check()
    store.lease.release(stalled)  # must not remove the new holder's lease
    held = store._es().get(index=store.names["meta"], id=LEASE_ID)
    assert held["_source"]["owner"] == current.owner
    taker.lease.renew(current)
    assert not current.lost
    taker.lease.release(current)
    assert not store._es().exists(index=store.names["meta"], id=LEASE_ID)


def _hold_and_wait(prefix: str, ready: Any) -> None:
    store = ElasticStore(_settings(prefix, lease_seconds=3))
    with store.lease.held():
        ready.set()
        time.sleep(600)  # killed here, holding the lease


def test_a_writer_killed_holding_the_lease_is_taken_over_after_expiry(prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_and_wait, args=(prefix, ready))
    holder.start()
    assert ready.wait(60)
    time.sleep(2)  # it renews every second: alive, it keeps the lease past its 3 s
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    killed = time.monotonic()
    store = ElasticStore(_settings(prefix, lease_seconds=3, lease_wait_seconds=30))
    assert store.add_objects(COLL, [new_object(1)]) == ["added"]
    waited = time.monotonic() - killed
    assert waited < 10, f"took {waited:.1f} s to take over a 3 s lease"
    assert store.count(COLL) == 1
