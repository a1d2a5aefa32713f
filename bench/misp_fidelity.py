"""Fidelity on the shared MISP samples: objects made, stored, refused by reason, values exported.

    python bench/misp_fidelity.py              # every sample event (the README's table)
    python bench/misp_fidelity.py --events 3   # the first 3 only: a quick check that it runs

The CERT-FR feed events and the MISP API events in connectors/samples/, put in one MISP feed folder
(manifest written here), go through the misp-feed connector into public-blocklist with expiry off
(old events still count), into a fresh SQLite store. Then the export module's entries() runs over
every stored indicator, and the Suricata rules and RPZ zone are built from them. Prints a table;
asserts nothing (not a test). The README's table for the shared samples is pasted from it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT / "connectors" / "samples"


def feed_folder(target: Path, limit: int | None = None) -> int:
    """The sample events (the first `limit`, or all) as one MISP feed (files + manifest.json);
    returns the event count."""
    target.mkdir()
    manifest: dict[str, dict[str, Any]] = {}
    events = sorted((SAMPLES / "misp-feed").glob("*/*-*.json")) + sorted(
        (SAMPLES / "misp-api").glob("*-*.json")
    )
    events = events[:limit]
    for path in events:
        event = json.loads(path.read_text(encoding="utf-8"))
        body = event.get("Event", event)
        manifest[body["uuid"]] = {"timestamp": int(body["timestamp"]), "info": body.get("info", "")}
        shutil.copy(path, target / f"{body['uuid']}.json")
    (target / "manifest.json").write_text(json.dumps(manifest))
    return len(events)


def stored_objects(store: Any, collection: str) -> list[dict[str, Any]]:
    from indexer.store.base import ObjectQuery

    objects: list[dict[str, Any]] = []
    after = None
    while True:
        page = store.query(ObjectQuery(collection, limit=5000, after=after))
        objects += [json.loads(o.body) for o in page.objects]
        if not page.more:
            return objects
        after = page.objects[-1].keyset


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        metavar="N",
        help="only the first N sample events, CERT-FR's feed first (default: all of them)",
    )
    args = parser.parse_args()
    if args.events is not None and args.events < 1:
        parser.error("--events must be at least 1")

    from config import load_settings
    from cyberlab.api.exports import entries
    from indexer.pipeline import Pipeline
    from indexer.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        events = feed_folder(data / "feed", args.events)
        (data / "config.toml").write_text(
            f"""[expiry]
ip_days = 0
domain_days = 0
url_days = 0
email_days = 0
hash_days = 0
other_days = 0

[connectors.samples]
type = "misp-feed"
collection = "public-blocklist"
paths = ["{data / "feed"}"]
default_tlp = "clear"
source_name = "MISP samples"
"""
        )
        settings = load_settings(
            environ={
                "CYBERLAB_CONFIG": str(data / "config.toml"),
                "CYBERLAB_STORE__DATA_DIR": str(data / "store"),
                "CYBERLAB_LOG_LEVEL": "ERROR",
            }
        )
        store = open_store(settings)
        store.initialize()
        collection = settings.collection("public-blocklist")
        assert collection is not None
        report = Pipeline(settings, store, "samples", workers=1).run(use_saved_cursor=False)
        objects = stored_objects(store, collection.id)
        store.close()

    indicators = [o for o in objects if o["type"] == "indicator"]
    exported = [entries(o) for o in indicators]
    kinds = Counter(e.kind for found in exported for e in found)
    made = report.created + report.updated + report.unchanged + sum(report.dropped.values())
    rows: list[tuple[str, str]] = [
        ("code", str(Path(sys.modules["cyberlab"].__file__ or "").parent.parent)),
        ("events", f"{events}"),
        ("objects misp-stix made (stored + dropped)", f"{made:,}"),
        ("objects stored", f"{len(objects):,}"),
        ("indicators stored", f"{len(indicators):,}"),
        *((f"refused: {reason}", f"{n:,}") for reason, n in sorted(report.dropped.items())),
        ("dead-lettered events", f"{report.dead_lettered:,}"),
        ("indicators with at least one exported value", f"{sum(1 for found in exported if found):,}"),
        *((f"exported values: {kind}", f"{n:,}") for kind, n in sorted(kinds.items())),
    ]
    try:
        from cyberlab.api import suricata
    except ImportError:  # older code: no Suricata export
        suricata = None  # type: ignore[assignment]
    if suricata is not None:
        body, left_out = suricata.rules([e for found in exported for e in found], "public-blocklist")
        lines = [line for line in body.decode().splitlines() if not line.startswith("#")]
        longest = max((len(line.encode()) for line in lines), default=0)
        rows += [
            ("Suricata rules (left out over 8,191 bytes)", f"{len(lines):,} ({left_out})"),
            ("longest rule, bytes", f"{longest:,}"),
        ]
    width = max(len(label) for label, _ in rows)
    print(f"| {'MISP samples':<{width}} | value |\n|{'-' * (width + 2)}|------:|")
    for label, value in rows:
        print(f"| {label:<{width}} | {value} |")


if __name__ == "__main__":
    main()
