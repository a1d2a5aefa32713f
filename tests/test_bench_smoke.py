"""Every script in bench/ still runs, at its smallest sizes, and prints its table.

A bench is not a test (it asserts nothing about speed), but one that no longer runs (a changed
signature, a renamed setting) should fail CI, not the next person who measures. Each script runs
as its own process, as a person runs it, all at once (most of their time is starting Python and
gunicorn); each test waits for its own and checks the exit code and the table's header row, never
a timing. The Elasticsearch parts run only with CYBERLAB_ES_URL (skipped, saying so, without it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ES_URL = os.environ.get("CYBERLAB_ES_URL")


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]
    table: str  # the header row the script prints first
    elasticsearch: bool = False


BENCHES = [
    Bench(
        "es_bench",
        ("es_bench.py", "--sizes", "300", "--repeats", "5", "--write-size", "300", "--no-rerun"),
        "| backend | measure | value |",
    ),
    Bench(
        "es_bench_elasticsearch",
        ("es_bench.py", "--sizes", "300", "--repeats", "5", "--write-size", "300", "--no-rerun"),
        "| elasticsearch | write path",
        elasticsearch=True,
    ),
    Bench(
        "search_bench",
        ("search_bench.py", "--size", "300", "--sightings", "30"),
        "| backend | question | p50 ms | p95 ms | avg hits |",
    ),
    Bench(
        "search_bench_elasticsearch",
        ("search_bench.py", "--size", "300", "--sightings", "30"),
        "| elasticsearch | exact value",
        elasticsearch=True,
    ),
    Bench(
        "ingest_bench",
        ("ingest_bench.py", "--soc-lines", "300", "--misp-copies", "1", "--misp-events", "2"),
        "| case | input | seconds | throughput | peak RSS MB |",
    ),
    Bench("misp_fidelity", ("misp_fidelity.py", "--events", "3"), "| exported values: ip"),
    Bench(
        "taxii_bench",
        (
            "taxii_bench.py",
            *("--sizes", "300", "--repeats", "5", "--clients", "2"),
            *("--seconds", "1", "--post-objects", "200"),
        ),
        "| server | objects | pages/s",
    ),
    Bench(
        "load_fault",
        ("load_fault.py", "--objects", "300", "--clients", "2", "--seconds", "3", "--ingest-objects", "200"),
        "| walks with a missing or repeated object | 0 |",
    ),
    # es_failover needs a 3-node cluster and kills one of its nodes: only its command line is
    # checked here (it imports everything it uses, and reads its arguments).
    Bench("es_failover", ("es_failover.py", "--help"), "--hosts"),
]


def _environment(bench: Bench) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if not bench.elasticsearch:
        env.pop("CYBERLAB_ES_URL", None)  # the embedded store alone; its own case runs both
    return env


@pytest.fixture(scope="module")
def running() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Every bench that can run here, started at once (module scope: the first test starts them)."""
    started = {
        bench.name: subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / bench.args[0]), *bench.args[1:]],
            cwd=ROOT,
            env=_environment(bench),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for bench in BENCHES
        if ES_URL or not bench.elasticsearch
    }
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("bench", BENCHES, ids=[b.name for b in BENCHES])
def test_bench_runs_and_prints_its_table(bench: Bench, running: dict[str, subprocess.Popen[str]]) -> None:
    if bench.elasticsearch and not ES_URL:
        pytest.skip("the Elasticsearch part of this bench needs CYBERLAB_ES_URL (a node on 127.0.0.1)")
    stdout, stderr = running[bench.name].communicate(timeout=240)
    assert running[bench.name].returncode == 0, f"{bench.args[0]} failed:\n{stderr[-3000:]}"
    assert bench.table in stdout, f"{bench.args[0]} printed no table:\n{stdout[-2000:]}\n{stderr[-2000:]}"
