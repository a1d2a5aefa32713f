"""Failover on a 3-node Elasticsearch cluster: one node SIGKILLed during a TAXII walk and an ingest.

    python bench/es_failover.py --hosts http://127.0.0.1:9200,http://127.0.0.1:9201,http://127.0.0.1:9202

Not a test (it needs a running 3-node cluster on loopback, which CI does not have); it prints what
it saw and exits 1 if a promise broke. Start the cluster yourself first, from the same build as
the single node (3 nodes, HTTP 9200-9202, transport 9300-9302, or any loopback ports). The script:

1. opens a store with number_of_replicas = 1 on a fresh index prefix and fills --size objects;
2. starts CyberLab's server (gunicorn, 127.0.0.1) on it, a TAXII walk with `next` (limit 50) and an
   ingest that re-sends every batch that was not acknowledged;
3. SIGKILLs the node holding the primary of the objects index (found through the cluster's own
   _cat/shards and _nodes process ids, and only if it listens on 127.0.0.1);
4. checks: the walk saw every object exactly once; the ingest lost and duplicated nothing; every
   answer during the failover was 200 or 503 with Retry-After (never 500); what /readyz said.
The killed node is not restarted: start it again yourself (the cluster goes back to green).
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import load_settings  # noqa: E402
from config.settings import ElasticsearchSettings  # noqa: E402
from cyberlab import devserver  # noqa: E402
from indexer.errors import StoreError  # noqa: E402
from indexer.store.base import NewObject, ObjectQuery  # noqa: E402
from indexer.store.elastic import ElasticStore  # noqa: E402

TAXII = "application/taxii+json;version=2.1"
COLLECTION_ALIAS = "public-blocklist"  # public: the walk needs no account


def indicator(n: int) -> NewObject:
    oid = f"indicator--{uuid.UUID(int=n, version=4)}"
    body = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": oid,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
    }
    return NewObject(oid, "indicator", 1_767_225_600_000_000, body["modified"], "2.1", orjson.dumps(body))


def primary_node_pid(store: ElasticStore) -> tuple[int, str]:
    es = store._es()
    shards: list[dict[str, str]] = es.cat.shards(index=store.names["objects"], format="json")  # type: ignore[assignment]
    node = next(s["node"] for s in shards if s["prirep"] == "p")
    nodes = es.nodes.info(metric="process,http")["nodes"]
    for info in nodes.values():
        if info["name"] == node:
            address = info["http"]["publish_address"]
            if not address.startswith("127.0.0.1"):
                raise SystemExit(f"refusing to kill {node}: it is not on 127.0.0.1 ({address})")
            return int(info["process"]["id"]), node
    raise SystemExit(f"node {node} not found")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", required=True, help="comma-separated node URLs (all on 127.0.0.1)")
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--ingest-batches", type=int, default=40)
    args = parser.parse_args()
    hosts = args.hosts.split(",")
    prefix = f"cyberlab-failover-{uuid.uuid4().hex[:8]}"
    env = {
        "CYBERLAB_STORE__BACKEND": "elasticsearch",
        "CYBERLAB_STORE__ELASTICSEARCH__HOSTS": ",".join(hosts),
        "CYBERLAB_STORE__ELASTICSEARCH__INDEX_PREFIX": prefix,
        "CYBERLAB_STORE__ELASTICSEARCH__NUMBER_OF_REPLICAS": "1",
        "CYBERLAB_STORE__ELASTICSEARCH__REQUEST_TIMEOUT": "10",
        "CYBERLAB_STORE__ELASTICSEARCH__LEASE_SECONDS": "10",
    }
    data_dir = Path(tempfile.mkdtemp(prefix="cyberlab-failover-"))
    env.update(
        CYBERLAB_STORE__DATA_DIR=str(data_dir),
        CYBERLAB_SERVER__SIGNING_KEY="failover-signing-key-" + "x" * 32,
        CYBERLAB_LOG_LEVEL="WARNING",
        CYBERLAB_RATE_LIMIT__ENABLED="false",  # the walk and the probe, not the limiter
    )
    collection = load_settings(environ=env).collection(COLLECTION_ALIAS)
    assert collection is not None
    collection_id = collection.id
    store = ElasticStore(
        ElasticsearchSettings(
            hosts=tuple(hosts),
            index_prefix=prefix,
            number_of_replicas=1,
            request_timeout=10,
            lease_seconds=10,
        )
    )
    store.initialize()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CYBERLAB_")}
    server = devserver.start({**inherited, **env}, workers=2, log_dir=data_dir)
    try:
        for start in range(0, args.size, 1000):
            store.add_objects(
                collection_id, [indicator(n) for n in range(start, min(args.size, start + 1000))]
            )
        health = store._es().cluster.health(index=f"{prefix}-*", wait_for_status="green", timeout="60s")
        print(f"filled {args.size:,} objects; cluster {health['status']}", file=sys.stderr)
        statuses: collections.Counter[str] = collections.Counter()
        readyz: collections.Counter[str] = collections.Counter()
        seen: list[str] = []
        ingest_report: dict[str, Any] = {"retries": 0}
        stop = threading.Event()

        def walk() -> None:
            url = f"{server.url}/taxii2/cyberlab/collections/{collection_id}/objects/"
            params = {"limit": "50"}
            while True:
                try:
                    r = requests.get(url, params=params, headers={"Accept": TAXII}, timeout=30)
                except requests.RequestException as exc:
                    statuses[f"error {type(exc).__name__}"] += 1
                    continue
                retry = r.status_code != 200 and r.headers.get("Retry-After")
                statuses[f"{r.status_code}{' +Retry-After' if retry else ''}"] += 1
                if r.status_code == 503:
                    time.sleep(0.5)
                    continue
                if r.status_code != 200:
                    print(f"walk: {r.status_code} {r.text[:300]}", file=sys.stderr)
                    time.sleep(0.5)
                    continue
                body = r.json()
                seen.extend(o["id"] for o in body.get("objects", []))
                if not body["more"]:
                    return
                params = {"limit": "50", "next": body["next"]}
                time.sleep(0.05)  # a poller's pace: the walk spans the failover

        def ingest() -> None:
            for b in range(args.ingest_batches):
                batch = [indicator(n) for n in range(10**6 + b * 50, 10**6 + (b + 1) * 50)]
                while True:
                    try:
                        store.add_objects(collection_id, batch)
                        break
                    except StoreError as exc:
                        ingest_report["retries"] += 1
                        ingest_report["last_error"] = str(exc)[:200]
                        time.sleep(0.5)  # not acknowledged: re-sent as it is
                time.sleep(0.1)

        def probe() -> None:
            while not stop.is_set():
                try:
                    r = requests.get(f"{server.url}/readyz", timeout=10)
                    readyz[f"{r.status_code} {r.json().get('store', r.json().get('status'))}"] += 1
                except requests.RequestException as exc:
                    readyz[f"error {type(exc).__name__}"] += 1
                time.sleep(0.25)

        threads = [threading.Thread(target=t) for t in (walk, ingest)]
        prober = threading.Thread(target=probe)
        for t in (*threads, prober):
            t.start()
        time.sleep(2)
        pid, node = primary_node_pid(store)
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        print(f"SIGKILLed {node} (pid {pid}), the objects primary", file=sys.stderr)
        for t in threads:
            t.join(600)
        stop.set()
        prober.join()
        elapsed = time.monotonic() - killed_at
        everything = store.query(ObjectQuery(collection_id, limit=args.size + args.ingest_batches * 50 + 10))
        ids = [o.id for o in everything.objects]
        problems = []
        expected = args.size + args.ingest_batches * 50
        if len(ids) != expected or len(set(ids)) != expected:
            problems.append(f"store holds {len(ids)} versions, {len(set(ids))} distinct; expected {expected}")
        if len(seen) != len(set(seen)):
            problems.append(f"the walk saw {len(seen) - len(set(seen))} objects twice")
        missing = {indicator(n).id for n in range(args.size)} - set(seen)
        if missing:
            problems.append(f"the walk missed {len(missing)} objects that existed before it started")
        if any(k.startswith("500") for k in statuses) or any(
            k.startswith("503") and "Retry-After" not in k for k in statuses
        ):
            problems.append(f"bad answers: {dict(statuses)}")
        print("| check | result |\n|---|---|")
        print(
            f"| TAXII walk with next (limit 50) | {len(seen):,} objects,"
            f" each once: {len(seen) == len(set(seen))} |"
        )
        print(f"| answers during the walk | {dict(statuses)} |")
        print(
            f"| ingest of {args.ingest_batches} batches | re-sent {ingest_report['retries']} times;"
            " store holds "
            f"{len(set(ids)):,} distinct of {expected:,} expected, {len(ids) - len(set(ids))} duplicated |"
        )
        print(f"| /readyz during the failover | {dict(readyz)} |")
        print(f"| walk and ingest finished | {elapsed:.1f} s after the kill |")
        if ingest_report.get("last_error"):
            print(f"\nlast ingest error (batch re-sent): {ingest_report['last_error']}")
        if problems:
            print("\nBROKEN: " + "; ".join(problems))
            raise SystemExit(1)
        print("\nall promises held")
    finally:
        server.stop()
        try:
            store._es().indices.delete(index=f"{prefix}-*", ignore=404)
            store._es().indices.delete_template(name=f"{prefix}-*", ignore=404)
        except Exception as exc:  # the cluster may still be recovering; say so, do not hide it
            print(f"could not drop {prefix}-*: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
