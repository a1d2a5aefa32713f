"""Load and fault run (loopback only, bounded in time): prints figures, asserts nothing itself.

    python bench/load_fault.py [--objects 100000] [--clients 50] [--seconds 60]

1. Fills an embedded store with N indicators and serves it with gunicorn (2 workers) on 127.0.0.1.
2. C clients walk the collection with `next` (limit 1000) again and again for S seconds (and until
   each has finished at least one walk); each walk must hold every object present when it started,
   each exactly once.
3. Meanwhile an ingest process POSTs new objects; it is killed with SIGKILL half-way and run again
   (a rerun re-sends everything: what was stored must be "already present", nothing twice).
4. A third of the way in, one gunicorn worker is killed with SIGKILL; the master replaces it. A
   request cut off by the kill is retried by its client with the same stateless `next` token.
Prints requests served, 5xx, connection errors retried, p95, objects lost/duplicated.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from taxii_bench import COLLECTION_ID, KEY, TAXII, USER, fill_cyberlab, start_cyberlab  # noqa: E402

INGEST_SCRIPT = """
import sys, time, orjson, requests
sys.path.insert(0, {root!r})
from indexer.synthetic import indicators
objs = list(indicators({count}, seed=777))
session = requests.Session()
session.auth = ({user!r}, {key!r})
for start in range(0, len(objs), 250):
    r = session.post({url!r}, data=orjson.dumps({{"objects": objs[start:start + 250]}}),
                     headers={{"Accept": {taxii!r}, "Content-Type": {taxii!r}}}, timeout=120)
    assert r.status_code == 202, r.text
    print(start + 250, flush=True)
    time.sleep({pause})  # a connector's pace, spread over the whole run
"""


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.status: dict[int, int] = {}
        self.conn_errors = 0
        self.walks = 0
        self.bad_walks: list[str] = []


def get_with_retry(
    session: requests.Session, url: str, params: dict[str, str], stats: Stats
) -> requests.Response:
    for _ in range(5):
        started = time.perf_counter()
        try:
            response = session.get(url, params=params, headers={"Accept": TAXII}, timeout=120)
        except requests.ConnectionError:
            with stats.lock:
                stats.conn_errors += 1  # e.g. the worker serving us was killed: retry the same token
            time.sleep(0.2)
            continue
        with stats.lock:
            stats.latencies.append((time.perf_counter() - started) * 1000)
            stats.status[response.status_code] = stats.status.get(response.status_code, 0) + 1
        return response
    raise RuntimeError("five connection errors in a row")


def client(
    base: str, stop_at: float, initial_ids: frozenset[str], stats: Stats, must_walk: threading.Event
) -> None:
    session = requests.Session()
    session.auth = (USER, KEY)
    done_one = False
    while time.monotonic() < stop_at or not done_one:
        seen: list[str] = []
        params = {"limit": "1000"}
        while True:
            response = get_with_retry(session, base + "objects/", params, stats)
            if response.status_code != 200:
                with stats.lock:
                    stats.bad_walks.append(f"HTTP {response.status_code}")
                break
            body = orjson.loads(response.content)
            seen.extend(o["id"] for o in body.get("objects", []))
            if not body.get("more"):
                break
            params = {"limit": "1000", "next": body["next"]}
        duplicates = len(seen) - len(set(seen))
        missing = len(initial_ids - set(seen))
        with stats.lock:
            stats.walks += 1
            if duplicates or missing:
                stats.bad_walks.append(f"walk with {duplicates} duplicates, {missing} missing")
        done_one = True
        if time.monotonic() > stop_at + 300:
            break
    must_walk.set()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--ingest-objects", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cyberlab-load-") as tmp:
        data = Path(tmp) / "store"
        fill_cyberlab(data, args.objects)
        base, server = start_cyberlab(data)
        try:
            run(args, base, server, Path(tmp))
        finally:
            server.terminate()
            server.wait()


def run(args: argparse.Namespace, base: str, server: subprocess.Popen[bytes], tmp: Path) -> None:
    from indexer.store.base import ObjectQuery
    from indexer.store.embedded import EmbeddedStore

    store = EmbeddedStore(tmp / "store")
    initial = frozenset(o.id for o in store.query(ObjectQuery(COLLECTION_ID, limit=10**7)).objects)
    stats = Stats()
    started = time.monotonic()
    stop_at = started + args.seconds
    events = [threading.Event() for _ in range(args.clients)]
    threads = [
        threading.Thread(target=client, args=(base, stop_at, initial, stats, events[i]))
        for i in range(args.clients)
    ]
    for t in threads:
        t.start()

    pause = args.seconds * 0.8 / max(1, args.ingest_objects // 250)
    script = INGEST_SCRIPT.format(
        root=str(ROOT),
        count=args.ingest_objects,
        user=USER,
        key=KEY,
        url=base + "objects/",
        taxii=TAXII,
        pause=pause,
    )
    ingest = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    killed_worker = killed_ingest = False
    posted_before_kill = 0
    while any(t.is_alive() for t in threads):
        elapsed = time.monotonic() - started
        if not killed_worker and elapsed > args.seconds / 3:
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            os.kill(int(children[0]), signal.SIGKILL)
            killed_worker = True
            sys.stderr.write(f"  t={elapsed:.0f}s: killed gunicorn worker {children[0]}\n")
        if not killed_ingest and elapsed > args.seconds / 2 and ingest.poll() is None:
            os.kill(ingest.pid, signal.SIGKILL)
            killed_ingest = True
            sys.stderr.write(f"  t={elapsed:.0f}s: killed the ingest process; running it again\n")
            ingest.wait()
            posted_before_kill = sum(1 for _ in (ingest.stdout or []))
            ingest = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
    ingest.wait(timeout=600)
    duration = time.monotonic() - started

    after = store.query(ObjectQuery(COLLECTION_ID, versions=("all",), limit=10**7)).objects
    pairs = [(o.id, o.version) for o in after]
    five_xx = sum(n for code, n in stats.status.items() if code >= 500)
    rows = [
        "| figure | value |",
        "|---|---:|",
        f"| objects at start | {len(initial):,} |",
        f"| concurrent clients | {args.clients} |",
        f"| duration | {duration:.0f} s |",
        f"| requests served | {sum(stats.status.values()):,} |",
        f"| pages/s | {sum(stats.status.values()) / duration:,.0f} |",
        f"| latency p50 / p95 (1000-object pages) | {statistics.median(stats.latencies):.0f} / "
        f"{sorted(stats.latencies)[int(0.95 * (len(stats.latencies) - 1))]:.0f} ms |",
        f"| HTTP 5xx | {five_xx} |",
        f"| status codes | {dict(sorted(stats.status.items()))} |",
        f"| connection errors retried (worker killed) | {stats.conn_errors} |",
        f"| complete walks | {stats.walks:,} |",
        f"| walks with a missing or repeated object | {len(stats.bad_walks)} |",
        f"| ingest killed after (posted batches) | {posted_before_kill}; rerun exit {ingest.returncode} |",
        f"| objects stored by the ingest (expected {args.ingest_objects:,}) | "
        f"{len(after) - len(initial):,} |",
        f"| object versions stored twice | {len(pairs) - len(set(pairs))} |",
    ]
    print("\n".join(rows))
    if stats.bad_walks:
        print("bad walks:", stats.bad_walks[:5])


if __name__ == "__main__":
    main()
