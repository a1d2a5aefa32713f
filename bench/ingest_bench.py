"""Ingest benchmark: prints tables, asserts nothing (not a test).

    python bench/ingest_bench.py                # SOC 100k and 1M lines, MISP feed x4
    python bench/ingest_bench.py --soc-lines 100000,1000000,5000000 --misp-copies 8
    python bench/ingest_bench.py --soc-lines 300 --misp-copies 1 --misp-events 2   # does it run

SOC: a synthetic log mixing every supported format (EVE, netfilter, pfSense, FortiGate, CEF)
is parsed and aggregated by the soc connector; lines/s and peak memory per size (each size in its
own process, so peak RSS is that run's). MISP: the CERT-FR sample feed, copied N times with fresh
uuids so every copy is new content, measured as misp-stix's conversion alone and as CyberLab's
whole path (convert, sanitize, validate, dedupe, store into SQLite) with 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FEED = ROOT / "connectors" / "samples" / "misp-feed" / "cert-fr-anssi"


def synthetic_log(path: Path, lines: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    templates = [
        '{{"timestamp":"2026-11-20T10:{m:02d}:{s:02d}.000000+0000","event_type":"alert","src_ip":"{ip}",'
        '"src_port":4{s}1,"dest_ip":"10.1.2.3","dest_port":443,"proto":"TCP","alert":{{"action":"allowed",'
        '"signature_id":2034125,"signature":"ET SCAN Suspicious inbound","category":"Attempted Recon",'
        '"severity":2}}}}',
        "Nov 20 10:{m:02d}:{s:02d} fw kernel: DROP IN=eth0 OUT= MAC=00:11 SRC={ip} DST=10.0.0.5 LEN=40 "
        "TOS=0x00 PROTO=TCP SPT=5{s}0 DPT=22 WINDOW=1024",
        "Nov 20 10:{m:02d}:{s:02d} pfSense filterlog: 5,,,1000102433,em0,match,block,in,4,0x0,,128,24677,0,"
        "none,6,tcp,60,{ip},10.9.0.1,51234,3389,0",
        "date=2026-11-20 time=10:{m:02d}:{s:02d} devname=fw devid=FG100 logid=0000000013 type=traffic "
        "subtype=forward level=notice srcip={ip} srcport=5123 dstip=10.2.0.9 dstport=445 action=deny "
        'service="SMB" msg="blocked"',
        "CEF:0|Vendor|IDS|1.0|100|SSH brute force|7|src={ip} spt=5{s}2 dst=10.3.3.3 dpt=22 rt=1763632800000",
        '{{"timestamp":"2026-11-20T10:{m:02d}:{s:02d}.000000+0000","event_type":"flow","src_ip":"{ip}"}}',
    ]
    pool = [
        f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(50_000)
    ]
    with path.open("w") as fh:
        for n in range(lines):
            template = templates[n % len(templates)]
            fh.write(template.format(m=n % 60, s=(n // 60) % 60, ip=pool[rng.randrange(len(pool))]) + "\n")


def soc_run(path: str) -> None:
    """Child mode: parse and aggregate one file, print JSON with timings and peak RSS."""
    from dataclasses import replace

    from config import load_settings
    from connectors.soc.connector import SocConnector

    settings = load_settings(environ={})
    conn = SocConnector(replace(settings.connectors["city-soc"], paths=(path,)))
    started = time.perf_counter()
    lines = values = 0
    for batch in conn.batches(None):
        lines += batch.read
        values += len(batch.records)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"lines": lines, "aggregates": values, "seconds": elapsed, "peak_mb": peak}))


def replicate_feed(target: Path, copies: int, events: int | None = None) -> int:
    """The sample feed (its first `events` events, or all) `copies` times over, each copy with
    new event and attribute uuids."""
    manifest = dict(list(json.loads((FEED / "manifest.json").read_text()).items())[:events])
    out_manifest = {}
    attributes = 0
    for copy in range(copies):
        for event_uuid, meta in manifest.items():
            event = json.loads((FEED / f"{event_uuid}.json").read_text())
            text = json.dumps(event)
            for old in {a["uuid"] for a in event["Event"].get("Attribute", [])} | {event_uuid}:
                text = text.replace(old, str(uuid.uuid5(uuid.NAMESPACE_OID, f"{copy}:{old}")))
            # Distinct values per copy, so every copy is new indicators, not merges of one.
            text = text.replace(".", f".c{copy}x", 0)
            new_event = json.loads(text)
            for attribute in new_event["Event"].get("Attribute", []):
                if copy and attribute.get("type") in ("md5", "sha1", "sha256"):
                    attribute["value"] = attribute["value"][:-4] + f"{copy:04x}"
            new_uuid = new_event["Event"]["uuid"]
            (target / f"{new_uuid}.json").write_text(json.dumps(new_event))
            out_manifest[new_uuid] = dict(meta, timestamp=int(meta["timestamp"]) + copy)
            attributes += len(new_event["Event"].get("Attribute", []))
    (target / "manifest.json").write_text(json.dumps(out_manifest))
    return attributes


def misp_stix_alone(feed: Path) -> float:
    from misp_stix_converter import MISPtoSTIX21Parser

    started = time.perf_counter()
    for path in sorted(feed.glob("*-*.json")):
        parser = MISPtoSTIX21Parser()
        parser.parse_misp_event(json.loads(path.read_text()))
    return time.perf_counter() - started


def misp_end_to_end(feed: Path, workers: int, tmp: Path) -> tuple[float, int]:
    from dataclasses import replace

    from config import load_settings
    from indexer.pipeline import Pipeline
    from indexer.sanitize import _warninglists
    from indexer.store.embedded import EmbeddedStore

    data = tmp / f"store-{workers}"
    settings = load_settings(environ={"CYBERLAB_STORE__DATA_DIR": str(data)})
    conn = replace(settings.connectors["cert-fr"], paths=(str(feed),))
    settings = replace(settings, connectors={"cert-fr": conn})
    store = EmbeddedStore(data)
    store.initialize()
    _warninglists(settings.sanitize.warninglists_exclude)  # loaded once per process: not measured
    started = time.perf_counter()
    report = Pipeline(settings, store, "cert-fr", workers=workers).run()
    return time.perf_counter() - started, report.created + report.updated


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--soc-lines", default="100000,1000000", help="SOC log sizes, comma-separated")
    parser.add_argument("--misp-copies", type=int, default=4, help="copies of the MISP feed (default 4)")
    parser.add_argument(
        "--misp-events",
        type=int,
        default=None,
        metavar="N",
        help="only the first N events of the MISP feed in each copy (default: all of them)",
    )
    parser.add_argument("--soc-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.misp_events is not None and args.misp_events < 1:
        parser.error("--misp-events must be at least 1")
    if args.soc_child:
        soc_run(args.soc_child)
        return
    rows = ["| case | input | seconds | throughput | peak RSS MB |", "|---|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="cyberlab-ingest-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for lines in [int(n) for n in args.soc_lines.split(",")]:
            log = tmp / f"mixed-{lines}.log"
            synthetic_log(log, lines)
            size_mb = log.stat().st_size / 1e6
            sys.stderr.write(f"SOC: {lines:,} lines ({size_mb:,.0f} MB) ...\n")
            out = subprocess.run(
                [sys.executable, __file__, "--soc-child", str(log)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            result = json.loads(out)
            rows.append(
                f"| SOC parse + aggregate | {lines:,} lines ({size_mb:,.0f} MB) | {result['seconds']:.1f} | "
                f"{lines / result['seconds']:,.0f} lines/s | {result['peak_mb']:,.0f} |"
            )
            log.unlink()
        feed = tmp / "feed"
        feed.mkdir()
        attributes = replicate_feed(feed, args.misp_copies, args.misp_events)
        sys.stderr.write(f"MISP: {attributes:,} attributes, misp-stix alone ...\n")
        alone = misp_stix_alone(feed)
        rows.append(
            f"| misp-stix conversion alone (1 core) | {attributes:,} attributes | {alone:.1f} | "
            f"{attributes / alone:,.0f} attributes/s | |"
        )
        for workers in (1, 2):
            sys.stderr.write(f"MISP: end to end, {workers} worker(s) ...\n")
            seconds, objects = misp_end_to_end(feed, workers, tmp)
            rows.append(
                f"| CyberLab end to end, {workers} worker(s) | {attributes:,} attributes -> "
                f"{objects:,} objects stored | {seconds:.1f} | {attributes / seconds:,.0f} attributes/s | |"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("\n".join(rows))
    print(f"\nbenchmark process peak RSS (MISP runs): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
