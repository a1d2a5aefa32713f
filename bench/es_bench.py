"""Store write path and TAXII paging, embedded and Elasticsearch side by side: prints a table.

    python bench/es_bench.py --size 100000
    CYBERLAB_ES_URL=http://127.0.0.1:9200 python bench/es_bench.py --size 100000

Not a test: it asserts nothing. Every run writes into a FRESH store: a new temporary folder for
the embedded store, a new index prefix (cyberlab-bench-<random>) on Elasticsearch, deleted at the
end unless --keep (a reused index would time only duplicates). The write path is CyberLab's own:
indexer.ingest.ingest_objects with validation on (prepare, validate, dedupe, store), in batches
of --batch objects, the way a connector or a TAXII POST writes. Then TAXII pages through
store.query: the first page (limit 100) and a next page (search_after from a keyset in the middle).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search_bench import objects  # noqa: E402
from config import load_settings  # noqa: E402
from indexer.ingest import ingest_objects  # noqa: E402
from indexer.store.base import ObjectQuery, Store  # noqa: E402
from indexer.store.embedded import EmbeddedStore  # noqa: E402

CONFIG = ROOT / "tests" / "fixtures" / "test-config.toml"


def write(store: Store, collection: Any, size: int, batch: int) -> tuple[float, int]:
    started, done = time.perf_counter(), 0
    pending: list[dict[str, Any]] = []
    for obj in objects(size, size // 10):
        pending.append(obj)
        if len(pending) == batch:
            done += ingest_objects(
                store, collection, pending, validate=True, batch_size=batch, sanitizer=None
            ).counts["added"]
            pending = []
            print(f"\r  writing {done:,}", end="", file=sys.stderr, flush=True)
    done += ingest_objects(
        store, collection, pending, validate=True, batch_size=batch, sanitizer=None
    ).counts["added"]
    elapsed = time.perf_counter() - started
    print(f"\r  wrote {done:,} objects in {elapsed:.1f} s", file=sys.stderr)
    return done / elapsed, done


def pages(store: Store, collection_id: str, rounds: int = 40) -> dict[str, tuple[float, float]]:
    first = store.query(ObjectQuery(collection_id, limit=1000))
    middle = first.objects[len(first.objects) // 2].keyset
    timings: dict[str, list[float]] = {"TAXII first page (100)": [], "TAXII next page (100)": []}
    for _ in range(rounds):
        for name, query in (
            ("TAXII first page (100)", ObjectQuery(collection_id, limit=100)),
            ("TAXII next page (100)", ObjectQuery(collection_id, limit=100, after=middle)),
        ):
            started = time.perf_counter()
            store.query(query)
            timings[name].append((time.perf_counter() - started) * 1000)
    result = {}
    for name, samples in timings.items():
        samples.sort()
        result[name] = (statistics.median(samples), samples[int(len(samples) * 0.95) - 1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100_000, help="indicators (+10%% sightings)")
    parser.add_argument("--batch", type=int, default=5000, help="objects per ingest batch")
    parser.add_argument("--keep", action="store_true", help="keep the Elasticsearch indices")
    args = parser.parse_args()
    settings = load_settings(
        environ={"CYBERLAB_CONFIG": str(CONFIG), "CYBERLAB_STORE__DATA_DIR": "/nonexistent"}
    )
    collection = next(iter(settings.collections.values()))
    work = Path(tempfile.mkdtemp(prefix="cyberlab-es-bench-"))
    backends: list[tuple[str, Store, str]] = []
    embedded = EmbeddedStore(work)
    embedded.initialize()
    backends.append(("embedded", embedded, f"fresh SQLite in {work}"))
    es_store = None
    if os.environ.get("CYBERLAB_ES_URL"):
        from config.settings import ElasticsearchSettings
        from indexer.store.elastic import ElasticStore

        prefix = f"cyberlab-bench-{uuid.uuid4().hex[:8]}"
        es_store = ElasticStore(
            ElasticsearchSettings(hosts=(os.environ["CYBERLAB_ES_URL"],), index_prefix=prefix)
        )
        es_store.initialize()
        version = es_store._es().info()["version"]["number"]
        backends.append(("elasticsearch", es_store, f"fresh indices {prefix}-* on Elasticsearch {version}"))
    else:
        print("Elasticsearch: skipped (set CYBERLAB_ES_URL to compare)", file=sys.stderr)
    rows = ["| backend | measure | value |", "|---|---|---:|"]
    notes = []
    try:
        for name, store, where in backends:
            print(f"{name}: {where}", file=sys.stderr)
            notes.append(f"{name}: {where}")
            rate, done = write(store, collection, args.size, args.batch)
            rows.append(
                f"| {name} | write path, validation on ({done:,} objects, batches of {args.batch:,}) "
                f"| {rate:,.0f} objects/s |"
            )
            for measure, (p50, p95) in pages(store, collection.id).items():
                rows.append(f"| {name} | {measure} p50 / p95 | {p50:.1f} / {p95:.1f} ms |")
    finally:
        if es_store is not None and not args.keep:
            es_store._es().indices.delete(index=f"{es_store.settings.index_prefix}-*", ignore=404)
            es_store._es().indices.delete_template(name=f"{es_store.settings.index_prefix}-*", ignore=404)
    print("\n".join(rows))
    print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
