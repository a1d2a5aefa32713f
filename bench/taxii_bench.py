"""TAXII 2.1 server benchmark: prints tables, asserts nothing (not a test).

    python bench/taxii_bench.py --sizes 10000,100000,1000000
    python bench/taxii_bench.py --sizes 1000 --medallion      # side by side with medallion

For each size it fills a fresh embedded store with N synthetic indicators, starts the real server
(gunicorn, 2 workers) on 127.0.0.1 and measures, over HTTP with authentication:
first page, added_after mid-range, match[id], following `next` 10 pages, manifest (p50/p95),
pages/s with 8 concurrent clients, and POST ingest objects/s with validation on.
With --medallion it runs the same cases against medallion (OASIS reference server, memory
backend, installed into bench/.venv-medallion on first use) at the same size, in the same run.
The client runs on the same 2-core machine as the server: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cyberlab import devserver  # noqa: E402
from cyberlab.auth.keys import hash_key  # noqa: E402
from indexer.store.base import Account, NewObject  # noqa: E402
from indexer.store.embedded import EmbeddedStore  # noqa: E402
from indexer.synthetic import indicators  # noqa: E402
from indexer.timestamps import now_micros, parse_timestamp  # noqa: E402

TAXII = "application/taxii+json;version=2.1"
COLLECTION_ID = "5f1e7d4a-0b9c-4c8e-9a51-3c1e2f6b7a01"  # city-indicators in config/defaults.toml
SIGNING_KEY = "bench-signing-key-" + "x" * 32
USER, KEY = "bench", "bench-key-0123456789"
MEDALLION_VENV = ROOT / "bench" / ".venv-medallion"


@dataclass
class Result:
    server: str
    size: int
    latencies: dict[str, list[float]] = field(default_factory=dict)
    pages_per_s: float = 0.0
    errors: int = 0
    post_objects_per_s: float = 0.0
    server_rss_mb: float = 0.0


# -- servers ------------------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn master + workers)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def fill_cyberlab(data_dir: Path, size: int) -> None:
    """Bulk-load `size` indicators straight into the store (the fill is not what is measured)."""
    store = EmbeddedStore(data_dir)
    store.initialize()
    store.add_account(Account(USER, "admin", hash_key(KEY), now_micros()))
    batch: list[NewObject] = []
    started = time.perf_counter()
    for obj in indicators(size, seed=1):
        body = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
        stamp = obj["modified"]
        batch.append(NewObject(obj["id"], "indicator", parse_timestamp(stamp), stamp, "2.1", body))
        if len(batch) == 20_000:
            store.add_objects(COLLECTION_ID, batch)
            batch = []
            progress(f"  filling store: {store.count(COLLECTION_ID):,}/{size:,}")
    store.add_objects(COLLECTION_ID, batch)
    elapsed = time.perf_counter() - started
    progress(f"  filled {size:,} objects in {elapsed:.1f} s ({size / elapsed:,.0f}/s)\n")
    store.close()


def start_cyberlab(data_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """gunicorn with 2 workers on the store in `data_dir`, the way the tests start it."""
    env = dict(
        os.environ,
        CYBERLAB_STORE__DATA_DIR=str(data_dir),
        CYBERLAB_SERVER__SIGNING_KEY=SIGNING_KEY,
        CYBERLAB_LOG_LEVEL="WARNING",
        CYBERLAB_TAXII__MAX_CONTENT_LENGTH="104857600",
        # The benchmark measures the server, not the rate limiter.
        CYBERLAB_RATE_LIMIT__ENABLED="false",
        # Synthetic indicators use the RFC 5737 documentation ranges; POSTs are sanitized.
        CYBERLAB_SANITIZE__ALLOWED_NETWORKS="192.0.2.0/24,198.51.100.0/24,203.0.113.0/24",
    )
    try:
        server = devserver.start(env, workers=2, timeout=300, startup_seconds=120)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    return f"{server.url}/taxii2/cyberlab/collections/{COLLECTION_ID}/", server.process


def ensure_medallion() -> Path:
    python = MEDALLION_VENV / "bin" / "python"
    if not python.exists():
        progress("installing medallion 3.0.0 into bench/.venv-medallion ...\n")
        subprocess.run([sys.executable, "-m", "venv", str(MEDALLION_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "medallion==3.0.0"], check=True)
    return python


def start_medallion(work: Path) -> tuple[str, subprocess.Popen[bytes]]:
    python = ensure_medallion()
    port = devserver.free_port()
    data = {
        "/discovery": {"title": "bench", "api_roots": [f"http://127.0.0.1:{port}/api1/"]},
        "api1": {
            "information": {"title": "api1", "versions": [TAXII], "max_content_length": 104857600},
            "status": [],
            "collections": [
                {
                    "id": COLLECTION_ID,
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    (work / "medallion-data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(work / "medallion-data.json"),
        },
        "users": {USER: KEY},
        "taxii": {"max_page_size": 100},
    }
    (work / "medallion.json").write_text(json.dumps(config))
    process = subprocess.Popen(
        [
            str(python),
            "-m",
            "medallion.scripts.run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            str(work / "medallion.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api1/collections/{COLLECTION_ID}/"
    try:
        devserver.wait_until_answering(base, process, 120)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    return base, process


# -- measurements -------------------------------------------------------------------------------
def progress(text: str) -> None:
    sys.stderr.write("\r" + text)
    sys.stderr.flush()


def timed(session: requests.Session, url: str, params: dict[str, str] | None = None) -> tuple[float, Any]:
    started = time.perf_counter()
    response = session.get(url, params=params, headers={"Accept": TAXII}, timeout=600)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {response.url} -> {response.status_code}: {response.text[:300]}")
    return elapsed, response


def post_objects(base: str, count: int, seed: int) -> float:
    """POST `count` new indicators in envelopes of 1,000; returns objects/s."""
    objs = list(indicators(count, seed=seed))
    session = requests.Session()
    session.auth = (USER, KEY)
    started = time.perf_counter()
    for start in range(0, count, 1000):
        chunk = objs[start : start + 1000]
        response = session.post(
            base + "objects/",
            data=orjson.dumps({"objects": chunk}),
            timeout=600,
            headers={"Accept": TAXII, "Content-Type": TAXII},
        )
        if response.status_code != 202:
            raise SystemExit(f"POST -> {response.status_code}: {response.text[:300]}")
    return count / (time.perf_counter() - started)


def measure(
    name: str, size: int, base: str, process: subprocess.Popen[bytes], args: argparse.Namespace, repeats: int
) -> Result:
    result = Result(name, size)
    session = requests.Session()
    session.auth = (USER, KEY)
    manifest = timed(session, base + "manifest/", {"limit": "100"})[1].json()["objects"]
    mid_added = manifest[0]["date_added"]
    # added_after mid-range: the date_added of the object in the middle of the collection.
    probe = base + "manifest/"
    params: dict[str, str] = {"limit": "100"}
    target = size // 2
    if name == "cyberlab":
        store = EmbeddedStore(args.data_dir)
        row = (
            store._conn()
            .execute(  # direct read: finding the midpoint is not what is measured
                "SELECT date_added FROM objects ORDER BY date_added LIMIT 1 OFFSET ?", (target,)
            )
            .fetchone()
        )
        from indexer.timestamps import format_timestamp

        mid_added = format_timestamp(row[0])
        store.close()
    else:
        mid_added = manifest[min(len(manifest) - 1, target)]["date_added"] if size <= 100 else mid_added
        walked = 0
        while walked + 100 <= target:
            _, response = timed(session, probe, params)
            body = response.json()
            walked += len(body["objects"])
            if not body.get("more"):
                break
            params["next"] = body["next"]
            mid_added = body["objects"][-1]["date_added"]
    some_ids = [m["id"] for m in manifest]
    rng = random.Random(3)

    cases: dict[str, Callable[[], dict[str, str]]] = {
        "first page (limit=100)": lambda: {"limit": "100"},
        "added_after mid-range": lambda: {"limit": "100", "added_after": mid_added},
        "match[id]": lambda: {"match[id]": rng.choice(some_ids)},
    }
    for label, make_params in cases.items():
        samples = []
        for n in range(repeats):
            progress(f"  {name} {size:,}: {label} {n + 1}/{repeats}   ")
            samples.append(timed(session, base + "objects/", make_params())[0])
        result.latencies[label] = samples
    samples = []
    for n in range(max(1, repeats // 10)):
        token: dict[str, str] = {"limit": "100"}
        for _ in range(10):
            progress(f"  {name} {size:,}: next x10, walk {n + 1}   ")
            elapsed, response = timed(session, base + "objects/", token)
            samples.append(elapsed)
            body = response.json()
            if not body.get("more"):
                break
            token = {"limit": "100", "next": body["next"]}
    result.latencies["following next (per page)"] = samples
    result.latencies["manifest (limit=100)"] = [
        timed(session, base + "manifest/", {"limit": "100"})[0] for _ in range(repeats)
    ]
    result.pages_per_s, result.errors = concurrent_pages(base, args.clients, args.seconds, name, size)
    result.server_rss_mb = rss_mb(process.pid)
    progress(f"  {name} {size:,}: POST ingest ...                      ")
    result.post_objects_per_s = post_objects(base, args.post_objects, seed=99)
    progress(" " * 70 + "\n")
    return result


def concurrent_pages(base: str, clients: int, seconds: float, name: str, size: int) -> tuple[float, int]:
    """`clients` threads walk the collection with `next` for `seconds`; pages/s over all of them."""
    pages = [0] * clients
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def walk(i: int) -> None:
        session = requests.Session()
        session.auth = (USER, KEY)
        params: dict[str, str] = {"limit": "100"}
        while time.monotonic() < stop:
            response = session.get(base + "objects/", params=params, headers={"Accept": TAXII}, timeout=600)
            if response.status_code != 200:
                errors[i] += 1
                params = {"limit": "100"}
                continue
            pages[i] += 1
            body = response.json()
            params = {"limit": "100", "next": body["next"]} if body.get("more") else {"limit": "100"}

    progress(f"  {name} {size:,}: {clients} clients for {seconds:.0f} s ...      ")
    started = time.monotonic()
    threads = [threading.Thread(target=walk, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(pages) / (time.monotonic() - started), sum(errors)


# -- report -------------------------------------------------------------------------------------
def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(results: list[Result]) -> str:
    lines = ["| server | objects | case | p50 ms | p95 ms | n |", "|---|---:|---|---:|---:|---:|"]
    for r in results:
        for label, samples in r.latencies.items():
            lines.append(
                f"| {r.server} | {r.size:,} | {label} | {statistics.median(samples):.1f} | "
                f"{pct(samples, 0.95):.1f} | {len(samples)} |"
            )
    lines += [
        "",
        "| server | objects | pages/s (8 clients) | errors | POST objects/s | server RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.server} | {r.size:,} | {r.pages_per_s:,.1f} | {r.errors} | "
            f"{r.post_objects_per_s:,.0f} | {r.server_rss_mb:,.0f} |"
        )
    cyber = [r for r in results if r.server == "cyberlab"]
    if len(cyber) > 1:
        # The target compares the largest size against 10k (or the smallest size run).
        small = next((r for r in cyber if r.size == 10_000), cyber[0])
        big = cyber[-1]
        first = "first page (limit=100)"
        ratio = statistics.median(big.latencies[first]) / statistics.median(small.latencies[first])
        lines += ["", f"first-page p50 at {big.size:,} / at {small.size:,}: {ratio:.2f}x"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines += [f"benchmark client peak RSS: {peak:,.0f} MB"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated collection sizes")
    parser.add_argument("--repeats", type=int, default=200, help="requests per latency case (CyberLab)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for pages/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the concurrent run")
    parser.add_argument("--post-objects", type=int, default=10_000, help="objects POSTed for ingest rate")
    parser.add_argument("--medallion", action="store_true", help="also run medallion at the smallest size")
    parser.add_argument("--medallion-repeats", type=int, default=5, help="requests per case for medallion")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cyberlab-bench-") as tmp:
        for size in sizes:
            args.data_dir = Path(tmp) / f"cyberlab-{size}"
            fill_cyberlab(args.data_dir, size)
            base, process = start_cyberlab(args.data_dir)
            try:
                results.append(measure("cyberlab", size, base, process, args, args.repeats))
            finally:
                process.terminate()
                process.wait()
        if args.medallion:
            size = sizes[0]
            base, process = start_medallion(Path(tmp))
            try:
                progress(f"  medallion: POSTing {size:,} objects ...\n")
                fill_rate = post_objects(base, size, seed=1)
                progress(f"  medallion: filled at {fill_rate:,.0f} objects/s\n")
                saved_post, args.post_objects = args.post_objects, min(args.post_objects, 1000)
                saved_seconds, args.seconds = args.seconds, min(args.seconds, 20.0)
                results.append(measure("medallion", size, base, process, args, args.medallion_repeats))
                args.post_objects, args.seconds = saved_post, saved_seconds
            finally:
                process.terminate()
                process.wait()
    print()
    print(report(results))


if __name__ == "__main__":
    main()
