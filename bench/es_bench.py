"""Elasticsearch beside the embedded store at 100k and 1M objects: prints tables, asserts nothing.

    python bench/es_bench.py --sizes 100000                      # embedded store only
    CYBERLAB_ES_URL=http://127.0.0.1:9200 python bench/es_bench.py --sizes 100000,1000000
    CYBERLAB_ES_URL=... python bench/es_bench.py --sizes 1000000 --work /root/es-scale-store --reuse

For each size N (N indicators + N/10 sightings, search_bench's objects, in city-indicators):
1. the embedded store is filled through its bulk path (store.add_objects, batches of 20,000; the
   fill is not what is measured), plus what reindex copies beside objects: a second version of
   every 100th indicator, 1,000 sightings owned by a partner in partner-sightings, accounts,
   connector cursors, a digest subscription and its state, a check report, dead letters, ingest
   totals;
2. `cyberlab reindex --to elasticsearch` copies it into FRESH indices (prefix es-bench-<random>):
   wall time, objects/s and the peak RSS of that process; then the counts of both stores are
   compared (objects, versions, owners per collection, and the rest), and reindex runs a second
   time, which must add nothing;
3. the real server (gunicorn via cyberlab/devserver.py, 2 workers) is started on each backend
   and TAXII pages are timed over HTTP with authentication: the first page (limit 100), the
   pages after it following `next`, and a first page from added_after mid-range.
--write-size M first times CyberLab's own write path (indexer.ingest with validation on, batches
of 5,000) into a fresh store of each backend, M objects; then the same objects as TAXII POSTs over
HTTP (3 clients at once, envelopes of 1,000, 2 gunicorn workers) into another fresh store of each.

Every run starts from fresh stores and index prefixes, dropped at the end; with --work DIR
--reuse, what was filled is kept in DIR (and DIR/size-N/prefix names its indices) and a later run
reuses it: the tables then say "reused" and no reindex is timed.
The client, the server, the reindex and the Elasticsearch node share the same 2 cores: compare
ratios within one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
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

from bench.search_bench import objects  # noqa: E402
from config import load_settings  # noqa: E402
from config.settings import ElasticsearchSettings  # noqa: E402
from cyberlab import devserver  # noqa: E402
from cyberlab.auth.keys import hash_key  # noqa: E402
from indexer.ingest import ingest_objects  # noqa: E402
from indexer.pipeline import cursor_key  # noqa: E402
from indexer.store.base import (  # noqa: E402
    Account,
    CheckReport,
    DigestState,
    DigestSubscription,
    NewObject,
    ObjectQuery,
    Store,
)
from indexer.store.embedded import EmbeddedStore  # noqa: E402
from indexer.timestamps import format_timestamp, now_micros, parse_timestamp  # noqa: E402

TAXII = "application/taxii+json;version=2.1"
CITY = "5f1e7d4a-0b9c-4c8e-9a51-3c1e2f6b7a01"  # city-indicators in config/defaults.toml
PARTNER_SIGHTINGS = "2d9a4c7e-6f1b-4a3c-b5d8-9e0f1a2b3c03"
SIGNING_KEY = "bench-signing-key-" + "x" * 32
USER, KEY = "bench", "bench-key-0123456789"
PARTNER = "bench-partner"
FILL_BATCH = 20_000
CYBERLAB = Path(sys.executable).with_name("cyberlab")


def progress(text: str) -> None:
    sys.stderr.write("\r" + text)
    sys.stderr.flush()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def new_object(obj: dict[str, Any]) -> NewObject:
    stamp = obj["modified"]
    return NewObject(obj["id"], obj["type"], parse_timestamp(stamp), stamp, "2.1", orjson.dumps(obj))


# -- 1. the embedded store ----------------------------------------------------------------------
def fill_embedded(data_dir: Path, size: int) -> int:
    """Bulk-load the objects and the extras reindex must carry; returns the versions written."""
    store = EmbeddedStore(data_dir)
    store.initialize()
    started, done = time.perf_counter(), 0
    batch: list[NewObject] = []
    seconds: list[NewObject] = []  # second versions, written after all first versions
    for n, obj in enumerate(objects(size, size // 10)):
        batch.append(new_object(obj))
        if obj["type"] == "indicator" and n % 100 == 0:
            seconds.append(new_object({**obj, "modified": "2026-11-01T00:00:00.000Z", "name": "v2"}))
        if len(batch) == FILL_BATCH:
            done += len(store.add_objects(CITY, batch))
            batch = []
            progress(f"  filling the embedded store: {done:,}")
    for chunk in (batch, seconds):
        done += len(store.add_objects(CITY, chunk))
    partner = [new_object(obj) for obj in objects(1000, 1000) if obj["type"] == "sighting"]
    done += len(store.add_objects(PARTNER_SIGHTINGS, partner, owner=PARTNER))
    extras(store)
    store.close()
    elapsed = time.perf_counter() - started
    progress(f"  filled {done:,} versions in {elapsed:.0f} s ({done / elapsed:,.0f}/s)\n")
    return done


def extras(store: Store) -> None:
    now = now_micros()
    store.add_account(Account(USER, "admin", hash_key(KEY), now))
    store.add_account(Account(PARTNER, "partner", hash_key(KEY + "-partner"), now))
    for name in ("city-soc", "cert-fr"):
        store.save_cursor(cursor_key(name), f"cursor-of-{name}")
        store.record_ingest(name, {"added": 1000, "duplicate": 10})
    store.save_digest_subscription(
        DigestSubscription(USER, True, "daily", (CITY,), "bench@city.example", html=False, updated=now)
    )
    store.save_digest_state(DigestState(USER, store.newest_date_added(CITY) // 2, now))
    store.add_check_report(CheckReport(str(uuid.uuid4()), USER, "ipv4", "192.0.2.7", now))
    for n in range(3):
        store.add_dead_letter("city-soc", "record", f"line {n}", "unparsable", f"payload {n}".encode())


# -- 2. reindex and the count comparison --------------------------------------------------------
def es_env(es_url: str, prefix: str) -> dict[str, str]:
    return {
        "CYBERLAB_STORE__BACKEND": "elasticsearch",
        "CYBERLAB_STORE__ELASTICSEARCH__HOSTS": es_url,
        "CYBERLAB_STORE__ELASTICSEARCH__INDEX_PREFIX": prefix,
    }


def reindex(data_dir: Path, es_url: str, prefix: str) -> tuple[float, float, str]:
    """`cyberlab reindex --to elasticsearch`: (seconds, peak RSS MB, its report line)."""
    env = dict(os.environ, CYBERLAB_STORE__DATA_DIR=str(data_dir), **es_env(es_url, prefix))
    del env["CYBERLAB_STORE__BACKEND"]  # the source is the embedded store
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(CYBERLAB), "reindex", "--to", "elasticsearch"], env=env, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"reindex exited with {process.returncode}: {out}")
    return elapsed, usage.ru_maxrss / 1024, out.strip()


def counts(store: Store, collections: list[str]) -> dict[str, Any]:
    """What an operator would compare after a reindex, read straight from each backend."""
    result: dict[str, Any] = {}
    for c in collections:
        if isinstance(store, EmbeddedStore):
            conn = store._conn()
            objects_, versions = conn.execute(
                "SELECT SUM(is_last), COUNT(*) FROM objects WHERE collection = ?", (c,)
            ).fetchone()
            owners = conn.execute(
                "SELECT owner, COUNT(*) FROM objects WHERE collection = ? AND is_last = 1 GROUP BY owner",
                (c,),
            ).fetchall()
        else:
            from indexer.store.elastic import ElasticStore

            assert isinstance(store, ElasticStore)
            objects_ = store._count(c, [{"term": {"is_last": True}}])
            versions = store.count(c)
            body = {
                "size": 0,
                "query": {"bool": {"filter": [{"term": {"collection": c}}, {"term": {"is_last": True}}]}},
                "aggs": {"owners": {"terms": {"field": "owner", "size": 100}}},
            }
            buckets = store._search("owners", store.names["objects"], body, c)["aggregations"]["owners"]
            owners = [(b["key"], b["doc_count"]) for b in buckets["buckets"]]
        result[f"{c[:8]} objects"] = int(objects_ or 0)
        result[f"{c[:8]} versions"] = int(versions or 0)
        result[f"{c[:8]} owners"] = ", ".join(
            f"{o or 'server'} {n:,}" for o, n in sorted(owners, key=lambda r: r[0])
        )
    result["accounts"] = len(store.list_accounts())
    result["cursors"] = sum(store.get_cursor(cursor_key(n)) is not None for n in ("city-soc", "cert-fr"))
    subscriptions = store.list_digest_subscriptions()
    result["digest subscriptions (with state)"] = (
        f"{len(subscriptions)} ({sum(store.get_digest_state(s.account) is not None for s in subscriptions)})"
    )
    result["check reports"] = len(store.list_check_reports())
    result["dead letters"] = len(store.list_dead_letters())
    result["ingest totals"] = sum(store.ingest_totals().values())
    return result


# -- 3. TAXII pages over HTTP -------------------------------------------------------------------
def start_server(data_dir: Path, extra: dict[str, str]) -> devserver.DevServer:
    env = dict(
        os.environ,
        CYBERLAB_STORE__DATA_DIR=str(data_dir),
        CYBERLAB_SERVER__SIGNING_KEY=SIGNING_KEY,
        CYBERLAB_LOG_LEVEL="WARNING",
        CYBERLAB_RATE_LIMIT__ENABLED="false",  # the benchmark measures the server, not the limiter
        **extra,
    )
    try:
        return devserver.start(env, workers=2, timeout=300, startup_seconds=120)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def timed(session: requests.Session, url: str, params: dict[str, str]) -> tuple[float, Any]:
    started = time.perf_counter()
    response = session.get(url, params=params, headers={"Accept": TAXII}, timeout=600)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {response.url} -> {response.status_code}: {response.text[:300]}")
    return elapsed, response.json()


def mid_range(store: Store) -> str:
    """The middle of a collection's date_added range, as the backend stamped it (stamps grow
    steadily during a fill or a reindex). A direct read: finding it is not what is measured."""
    low = store.query(ObjectQuery(CITY, limit=1)).objects[0].date_added
    return format_timestamp((low + store.newest_date_added(CITY)) // 2)


def pages(server: devserver.DevServer, mid: str, repeats: int, label: str) -> dict[str, list[float]]:
    """First pages, the 10 pages after every 10th of them following next, and added_after."""
    base = f"{server.url}/taxii2/cyberlab/collections/{CITY}/objects/"
    session = requests.Session()
    session.auth = (USER, KEY)
    timed(session, base, {"limit": "100"})  # warm: each worker's first request opens its store
    first, following, after = (
        "first page (100)",
        "next page (100), following next",
        "added_after mid-range (100)",
    )
    timings: dict[str, list[float]] = {first: [], following: [], after: []}
    for n in range(repeats):
        progress(f"  {label}: TAXII pages {n + 1}/{repeats}   ")
        elapsed, body = timed(session, base, {"limit": "100"})
        timings[first].append(elapsed)
        if n % 10 == 0:  # as many next pages as first pages
            for _ in range(10):
                if not body.get("more"):  # a small collection: walk it again from the start
                    body = timed(session, base, {"limit": "100"})[1]
                elapsed, body = timed(session, base, {"limit": "100", "next": body["next"]})
                timings[following].append(elapsed)
        timings[after].append(timed(session, base, {"limit": "100", "added_after": mid})[0])
    progress(" " * 60 + "\n")
    return timings


# -- the write path (the old table) -------------------------------------------------------------
def write_path(store: Store, size: int, batch: int = 5000) -> float:
    settings = load_settings(environ={"CYBERLAB_STORE__DATA_DIR": "/nonexistent"})
    collection = next(c for c in settings.collections.values() if c.id == CITY)
    started, done = time.perf_counter(), 0
    pending: list[dict[str, Any]] = []
    every = list(objects(size, size // 10))
    for start in range(0, len(every), batch):
        pending = every[start : start + batch]
        report = ingest_objects(store, collection, pending, validate=True, batch_size=batch, sanitizer=None)
        done += report.counts["added"]
        progress(f"  write path: {done:,}")
    progress(" " * 40 + "\r")
    return done / (time.perf_counter() - started)


def posted(
    server: devserver.DevServer, every: list[dict[str, Any]], clients: int, envelope: int
) -> tuple[float, int]:
    """TAXII POSTs of `every` in envelopes of `envelope` objects from `clients` threads at once,
    as partners' feeds arrive (the server validates and sanitizes each envelope in whichever
    worker takes it, and writes it under the store's one lease). (objects/s added, added)."""
    url = f"{server.url}/taxii2/cyberlab/collections/{CITY}/objects/"
    envelopes = [every[i : i + envelope] for i in range(0, len(every), envelope)]
    added, lock = [0], threading.Lock()

    def send(mine: list[list[dict[str, Any]]]) -> None:
        session = requests.Session()
        session.auth = (USER, KEY)
        for chunk in mine:
            response = session.post(
                url,
                data=orjson.dumps({"objects": chunk}),
                headers={"Accept": TAXII, "Content-Type": TAXII},
                timeout=600,
            )
            if response.status_code != 202:
                raise SystemExit(f"POST -> {response.status_code}: {response.text[:300]}")
            with lock:
                added[0] += response.json()["success_count"]
                progress(f"  TAXII POSTs: {added[0]:,}")

    threads = [threading.Thread(target=send, args=(envelopes[n::clients],)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    progress(" " * 40 + "\r")
    return added[0] / (time.perf_counter() - started), added[0]


def drop(es_url: str, prefix: str) -> None:
    from elasticsearch import Elasticsearch

    es = Elasticsearch([es_url])
    es.indices.delete(index=f"{prefix}-*", ignore=404)
    es.indices.delete_template(name=f"{prefix}-*", ignore=404)


def es_store(es_url: str, prefix: str) -> Any:
    from indexer.store.elastic import ElasticStore

    return ElasticStore(ElasticsearchSettings(hosts=(es_url,), index_prefix=prefix))


class Run:
    """One run's tables, filled size by size."""

    def __init__(self, es_url: str | None, work: Path, args: argparse.Namespace) -> None:
        self.es_url, self.work, self.args = es_url, work, args
        self.pages = ["| backend | objects | case | p50 ms | p95 ms | n |", "|---|---:|---|---:|---:|---:|"]
        self.reindex = [
            "| objects | indices | reindex s | objects/s | peak RSS MB | second run s | second run says |",
            "|---:|---|---:|---:|---:|---:|---|",
        ]
        self.compare = ["| objects | what | embedded | elasticsearch | same |", "|---:|---|---:|---:|---|"]
        self.write: list[str] = ["| backend | measure | value |", "|---|---|---:|"]
        self.made: list[tuple[Path, str | None]] = []  # dropped at the end unless --reuse

    def write_path(self, size: int) -> None:
        """CyberLab's ingest with validation on, into a fresh store of each backend."""
        write_dir = Path(tempfile.mkdtemp(prefix="cyberlab-es-bench-write-"))
        fresh: list[tuple[str, Store]] = [("embedded", EmbeddedStore(write_dir))]
        self.made.append((write_dir, None))
        if self.es_url:
            prefix = f"es-bench-{uuid.uuid4().hex[:8]}"
            self.made.append((write_dir, prefix))
            fresh.append(("elasticsearch", es_store(self.es_url, prefix)))
        for name, store in fresh:
            store.initialize()
            rate = write_path(store, size)
            self.write.append(
                f"| {name} | write path, validation on ({size * 11 // 10:,} objects, batches of 5,000) "
                f"| {rate:,.0f} objects/s |"
            )
            store.close()
        self.write_over_http(size)

    def write_over_http(self, size: int) -> None:
        """TAXII POSTs over HTTP into a fresh store of each backend: validation, sanitizer,
        statuses and all, with as many clients as the server has workers and one more."""
        every = list(objects(size, size // 10))
        clients, envelope = 3, 1000
        for name in ("embedded", "elasticsearch") if self.es_url else ("embedded",):
            data_dir = Path(tempfile.mkdtemp(prefix="cyberlab-es-bench-post-"))
            prefix = f"es-bench-{uuid.uuid4().hex[:8]}" if name == "elasticsearch" else None
            self.made.append((data_dir, prefix))
            extra = es_env(self.es_url, prefix) if self.es_url and prefix else {}
            store = es_store(self.es_url, prefix) if self.es_url and prefix else EmbeddedStore(data_dir)
            store.initialize()
            store.add_account(Account(USER, "admin", hash_key(KEY), now_micros()))
            store.close()
            server = start_server(data_dir, extra)
            try:
                rate, added = posted(server, every, clients, envelope)
            finally:
                server.stop()
            self.write.append(
                f"| {name} | TAXII POSTs over HTTP, validation and sanitizer on ({added:,} of "
                f"{len(every):,} added; {clients} clients, envelopes of {envelope:,}, 2 workers) "
                f"| {rate:,.0f} objects/s |"
            )

    def size(self, size: int) -> None:
        data_dir = self.work / f"size-{size}"
        marker, prefix_file = data_dir / "filled", data_dir / "prefix"
        reused = self.args.reuse and marker.exists()
        if not reused:
            shutil.rmtree(data_dir, ignore_errors=True)
            progress(f"{size:,}: filling a fresh embedded store in {data_dir}\n")
            fill_embedded(data_dir, size)
            marker.write_text("filled")
        source = EmbeddedStore(data_dir)
        versions = sum(source.count(c) for c in (CITY, PARTNER_SIGHTINGS))
        source.close()
        prefix: str | None = None
        reused_prefix = bool(self.es_url and reused and prefix_file.exists())
        if self.es_url:
            if reused_prefix:
                prefix = prefix_file.read_text().strip()
                self.reindex.append(f"| {versions:,} | reused {prefix} (not timed) | | | | | |")
            else:
                prefix = f"es-bench-{uuid.uuid4().hex[:8]}"
                prefix_file.write_text(prefix)
                self.copy(data_dir, prefix, versions)
            self.counts(data_dir, prefix, versions)
        self.made.append((data_dir, prefix))
        backends: list[tuple[str, dict[str, str]]] = [("embedded", {})]
        if self.es_url and prefix:
            backends.append(("elasticsearch", es_env(self.es_url, prefix)))
        for name, extra in backends:
            store = (
                es_store(self.es_url, prefix) if extra and self.es_url and prefix else EmbeddedStore(data_dir)
            )
            mid = mid_range(store)
            store.close()
            server = start_server(data_dir, extra)
            # "reused": filled by an earlier run (the indices only when their prefix was reused too)
            label = f"{name}{' (reused)' if reused and (name == 'embedded' or reused_prefix) else ''}"
            try:
                for case, samples in pages(server, mid, self.args.repeats, f"{name} {size:,}").items():
                    p50, p95 = statistics.median(samples), pct(samples, 0.95)
                    self.pages.append(
                        f"| {label} | {versions:,} | {case} | {p50:.1f} | {p95:.1f} | {len(samples)} |"
                    )
            finally:
                server.stop()

    def copy(self, data_dir: Path, prefix: str, versions: int) -> None:
        assert self.es_url
        progress(f"cyberlab reindex --to elasticsearch into fresh {prefix}-*\n")
        seconds, rss, said = reindex(data_dir, self.es_url, prefix)
        progress(f"  {said}\n")
        again = ("", "not run")
        if not self.args.no_rerun:
            progress("reindex again (must add nothing)\n")
            seconds2, _, said2 = reindex(data_dir, self.es_url, prefix)
            progress(f"  {said2}\n")
            again = (f"{seconds2:,.0f}", said2.split(";")[0])
        self.reindex.append(
            f"| {versions:,} | fresh | {seconds:,.0f} | {versions / seconds:,.0f} | {rss:,.0f} "
            f"| {again[0]} | {again[1]} |"
        )

    def counts(self, data_dir: Path, prefix: str, versions: int) -> None:
        assert self.es_url
        embedded, target = EmbeddedStore(data_dir), es_store(self.es_url, prefix)
        left = counts(embedded, [CITY, PARTNER_SIGHTINGS])
        right = counts(target, [CITY, PARTNER_SIGHTINGS])
        for key in left:
            same = "yes" if left[key] == right[key] else "**NO**"
            self.compare.append(f"| {versions:,} | {key} | {left[key]} | {right[key]} | {same} |")
        embedded.close()
        target.close()

    def drop(self) -> None:
        for data_dir, prefix in self.made:
            shutil.rmtree(data_dir, ignore_errors=True)
            if self.es_url and prefix:
                drop(self.es_url, prefix)

    def tables(self) -> str:
        tables = [self.write] if len(self.write) > 2 else []
        tables.append(self.pages)
        if self.es_url:
            tables += [self.reindex, self.compare]
        return "\n\n".join("\n".join(t) for t in tables if len(t) > 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000", help="indicators, comma-separated (+10%% sightings)")
    parser.add_argument("--repeats", type=int, default=200, help="first pages timed per backend and size")
    parser.add_argument("--write-size", type=int, default=0, help="also time the write path at this size")
    parser.add_argument("--work", type=Path, help="folder for the embedded stores (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="keep what is filled in --work, reuse it")
    parser.add_argument("--no-rerun", action="store_true", help="do not run reindex a second time")
    args = parser.parse_args()
    if args.reuse and args.work is None:
        parser.error("--reuse needs --work DIR")
    es_url = os.environ.get("CYBERLAB_ES_URL")
    if not es_url:
        progress("Elasticsearch: skipped (set CYBERLAB_ES_URL to compare)\n")
    work = args.work or Path(tempfile.mkdtemp(prefix="cyberlab-es-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    run = Run(es_url, work, args)
    try:
        if args.write_size:
            run.write_path(args.write_size)
        for size in (int(s) for s in args.sizes.split(",")):
            run.size(size)
    finally:
        if not args.reuse:
            run.drop()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)  # the temporary folder itself
    print("\n" + run.tables() + "\n")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
