"""Search benchmark: prints a table, asserts nothing (not a test).

    python bench/search_bench.py                 # 1M indicators + 100k sightings, embedded store
    python bench/search_bench.py --size 100000
    CYBERLAB_ES_URL=http://127.0.0.1:9200 python bench/search_bench.py   # Elasticsearch side by side

Fills a fresh store with N indicators (IPs spread over the IPv4 space, domains, URLs, hashes,
names and descriptions like the SOC's), then asks each question repeatedly through the store's
search (what GET /api/v1/search runs after parsing): exact value, CIDR /16 and /8, a rare and a
common free-text word, facets over everything and over a filtered set. p50/p95 per question (and,
embedded, the p50 of the facets alone, asked apart right after each search); the
fill rate is the bulk indexing rate (docs/s, search index included).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.search.model import SearchQuery  # noqa: E402
from indexer.store.base import NewObject, Store  # noqa: E402
from indexer.store.embedded import EmbeddedStore  # noqa: E402
from indexer.timestamps import parse_timestamp  # noqa: E402

COLLECTION = "bench"
NS = uuid.UUID("2f1d6c1e-0f4b-4a8e-9c55-1b2a3c4d5e6f")
SIGNATURES = (
    "ET SCAN MSSQL probe",
    "Apache log4j RCE attempt",
    "SSH brute force",
    "Phishing page",
    "Malware drop",
)
FACET_RUNS = 11  # runs per facet question: more than 5 steadies the p50 on shared cores
WORDS = ("invoice", "login", "secure", "update", "account", "verify", "portal", "cdn", "mail", "pay")


def ip_for(i: int) -> str:
    rng = random.Random(i)
    return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def objects(size: int, sightings: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(3)
    for i in range(size):
        kind = i % 5
        if kind in (0, 1):
            value, pattern = ip_for(i), f"[ipv4-addr:value = '{ip_for(i)}']"
        elif kind == 2:
            value = f"{WORDS[i % 10]}-{WORDS[(i // 10) % 10]}{i}.example.com"
            pattern = f"[domain-name:value = '{value}']"
        elif kind == 3:
            value = f"http://{rng.choice(WORDS)}{i}.example.net/{rng.choice(WORDS)}.php"
            pattern = f"[url:value = '{value}']"
        else:
            value = f"{rng.getrandbits(256):064x}"
            pattern = f"[file:hashes.'SHA-256' = '{value}']"
        day = 1 + i % 28
        signature = SIGNATURES[i % 5]
        yield {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid5(NS, str(i))}",
            "created": f"2026-10-{day:02d}T00:00:00.000Z",
            "modified": f"2026-10-{day:02d}T{i % 24:02d}:00:00.000Z",
            "name": f"{signature}: {value}",
            "description": f"Seen by the city SOC ({signature}).",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": f"2026-10-{day:02d}T00:00:00.000Z",
            "labels": [signature.split()[-1].lower()],
            "external_references": [
                {"source_name": ("city-soc", "cert-fr", "partner")[i % 3], "description": "x"}
            ],
        }
    for n in range(sightings):
        i = (n * 7919) % size
        yield {
            "type": "sighting",
            "spec_version": "2.1",
            "id": f"sighting--{uuid.uuid5(NS, 's' + str(n))}",
            "created": "2026-10-20T00:00:00.000Z",
            "modified": "2026-10-20T00:00:00.000Z",
            "sighting_of_ref": f"indicator--{uuid.uuid5(NS, str(i))}",
            "where_sighted_refs": [f"identity--{uuid.uuid5(NS, 'org' + str(n % 40))}"],
            "count": 1 + n % 9,
            "first_seen": f"2026-10-{1 + n % 28:02d}T00:00:00.000Z",
            "last_seen": f"2026-10-{1 + n % 28:02d}T00:00:00.000Z",
        }


def fill(store: Store, size: int, sightings: int) -> float:
    batch: list[NewObject] = []
    started, done = time.perf_counter(), 0
    for obj in objects(size, sightings):
        stamp = obj["modified"]
        batch.append(
            NewObject(obj["id"], obj["type"], parse_timestamp(stamp), stamp, "2.1", orjson.dumps(obj))
        )
        if len(batch) == 5000:
            store.add_objects(COLLECTION, batch)
            done += len(batch)
            batch = []
            print(f"\r  indexing {done:,}/{size + sightings:,}", end="", file=sys.stderr, flush=True)
    store.add_objects(COLLECTION, batch)
    done += len(batch)
    elapsed = time.perf_counter() - started
    print(f"\r  indexed {done:,} objects in {elapsed:.0f} s", file=sys.stderr)
    return done / elapsed


def cases(size: int) -> dict[str, list[SearchQuery]]:
    base = SearchQuery(collections=(COLLECTION,), max_tlp=3)
    picks = [i * 5 for i in range(1, 41)]  # IPs that exist
    domains = [i for i in range(2, size, 5)]
    rare = [f"{WORDS[(i // 10) % 10]}{i}" for i in domains[:: max(len(domains) // 40, 1)]][:40]

    def q(**kw: Any) -> SearchQuery:
        return SearchQuery(**{**base.__dict__, **kw})

    return {
        "exact value": [q(values=(ip_for(i),)) for i in picks],
        "CIDR /16": [q(cidr=".".join(ip_for(i).split(".")[:2]) + ".0.0/16") for i in picks],
        "CIDR /8": [q(cidr=ip_for(i).split(".")[0] + ".0.0.0/8") for i in picks[:20]],
        "free text, rare word": [q(text=w) for w in rare] or [q(text="portal")],
        "free text, 20% of docs": [q(text=w) for w in ("log4j", "brute", "phishing", "malware", "mssql") * 4],
        "free text, 20%, by relevance": [
            q(text=w, sort="relevance") for w in ("log4j", "brute", "phishing", "malware", "mssql") * 4
        ],
        "facets, everything": [q(facets=True, limit=1)] * FACET_RUNS,
        "facets, 20% (text)": [q(text="brute", facets=True, limit=1)] * FACET_RUNS,
        "facets, 20% (text), sampled (API default 50,000)": [
            q(text="brute", facets=True, limit=1, facet_sample=50_000)
        ]
        * FACET_RUNS,
        "facets, 20% (text) + label": [q(text="brute", labels=("force",), facets=True, limit=1)] * FACET_RUNS,
        "facets, 10% (text + date)": [
            q(text="brute", first_seen_after=parse_timestamp("2026-10-15T00:00:00Z"), facets=True, limit=1)
        ]
        * FACET_RUNS,
        "facets, 50% (date)": [
            q(first_seen_after=parse_timestamp("2026-10-15T00:00:00Z"), facets=True, limit=1)
        ]
        * FACET_RUNS,
        "facets, 20% (date range, mid-day edges)": [
            q(
                last_seen_after=parse_timestamp("2026-10-15T07:30:00Z"),
                last_seen_before=parse_timestamp("2026-10-20T13:00:00Z"),
                facets=True,
                limit=1,
            )
        ]
        * FACET_RUNS,
    }


def facets_alone(store: Store, query: SearchQuery) -> float | None:
    """Milliseconds the embedded store's facets alone take for `query` (None elsewhere)."""
    if not isinstance(store, EmbeddedStore) or not query.facets:
        return None
    from indexer.store import embedded_facets

    started = time.perf_counter()
    store._read("facets", lambda conn: embedded_facets.facets_alone(conn, query))
    return (time.perf_counter() - started) * 1000


def measure(
    store: Store, size: int, only_facets: bool = False
) -> list[tuple[str, float, float, int, float | None]]:
    rows = []
    for name, queries in cases(size).items():
        if only_facets and (
            not name.startswith("facets") or name == "facets, everything" or "sampled" in name
        ):
            continue
        store.search(queries[0])  # warm
        samples, alone, hits = [], [], 0
        for query in queries:
            started = time.perf_counter()
            result = store.search(query)
            samples.append((time.perf_counter() - started) * 1000)
            hits += result.total
            own = facets_alone(store, query)  # right after, in the same conditions
            if own is not None:
                alone.append(own)
        samples.sort()
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        facets_p50 = statistics.median(alone) if alone else None
        rows.append((name, statistics.median(samples), p95, hits // len(queries), facets_p50))
        print(f"  {name}: p50 {statistics.median(samples):.1f} ms", file=sys.stderr)
    return rows


def cell(ms: float | None) -> str:
    return "" if ms is None else f"{ms:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="indicators (default 1,000,000)")
    parser.add_argument("--sightings", type=int, default=100_000)
    parser.add_argument(
        "--store",
        type=Path,
        help="keep the embedded store in this folder and reuse it when it is already filled",
    )
    parser.add_argument(
        "--compare-facets",
        action="store_true",
        help="also time the filtered facets the old way (four GROUP BYs over the documents)",
    )
    args = parser.parse_args()
    backends: list[tuple[str, Store]] = []
    work = args.store or Path(tempfile.mkdtemp(prefix="cyberlab-search-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    filled = work / f"filled-{args.size}-{args.sightings}"
    embedded = EmbeddedStore(work)
    embedded.initialize()
    backends.append(("embedded", embedded))
    if os.environ.get("CYBERLAB_ES_URL"):
        from config.settings import ElasticsearchSettings
        from indexer.store.elastic import ElasticStore

        # A fresh index prefix every run: a reused index would time only duplicates.
        es = ElasticStore(
            ElasticsearchSettings(
                hosts=(os.environ["CYBERLAB_ES_URL"],), index_prefix=f"cyberlab-bench-{uuid.uuid4().hex[:8]}"
            )
        )
        es.initialize()
        print(
            f"Elasticsearch: fresh indices {es.settings.index_prefix}-* (dropped at the end)", file=sys.stderr
        )
        backends.append(("elasticsearch", es))
    else:
        print("Elasticsearch: skipped (set CYBERLAB_ES_URL to compare)", file=sys.stderr)
    print(
        "| backend | question | p50 ms | p95 ms | avg hits | facets alone p50 ms |\n|---|---|---|---|---|---|"
    )
    lines = []
    for name, store in backends:
        print(f"{name}:", file=sys.stderr)
        if name == "embedded" and filled.exists():
            rate = float(filled.read_text())  # measured when it was filled
        else:
            rate = fill(store, args.size, args.sightings)
            if name == "embedded":
                filled.write_text(str(rate))
        for question, p50, p95, hits, own in measure(store, args.size):
            lines.append(f"| {name} | {question} | {p50:.2f} | {p95:.2f} | {hits:,} | {cell(own)} |")
        if name == "embedded" and args.compare_facets:
            from indexer.store import embedded_facets

            embedded_facets.FACETS_BY_SET = False
            try:
                for question, p50, p95, hits, own in measure(store, args.size, only_facets=True):
                    lines.append(
                        f"| {name} | {question}, before (4 GROUP BYs) | {p50:.2f} | {p95:.2f} | {hits:,}"
                        f" | {cell(own)} |"
                    )
            finally:
                embedded_facets.FACETS_BY_SET = True
        lines.append(f"| {name} | bulk indexing (docs/s) | {rate:,.0f} docs/s | | | |")
    for name, store in backends:
        if name == "elasticsearch":
            from indexer.store.elastic import ElasticStore

            assert isinstance(store, ElasticStore)
            store._es().indices.delete(index=f"{store.settings.index_prefix}-*", ignore=404)
            store._es().indices.delete_template(name=f"{store.settings.index_prefix}-*", ignore=404)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db = sum(p.stat().st_size for p in work.glob("cyberlab.db*"))
    print("\n".join(lines))
    print(
        f"\n{args.size:,} indicators + {args.sightings:,} sightings; peak RSS {rss:.0f} MB;"
        f" embedded store {db / 2**20:,.0f} MB"
    )


if __name__ == "__main__":
    main()
