"""Crash and resume, the worker, and the ingest command, with real processes."""

from __future__ import annotations

import dataclasses
import http.server
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from indexer.pipeline import Pipeline, cursor_key
from indexer.store.base import ObjectQuery, Store
from indexer.store.embedded import EmbeddedStore
from indexer.worker import run_worker
from tests.helpers import Backend, make_settings, server_env

ROOT = Path(__file__).resolve().parents[2]
FEED = ROOT / "connectors" / "samples" / "misp-feed" / "cert-fr-anssi"


class SlowFeed(http.server.SimpleHTTPRequestHandler):
    """Serves the real feed, slowly, so an ingest can be killed in the middle."""

    def do_GET(self) -> None:
        if "manifest" not in self.path:
            time.sleep(0.4)
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def feed_url() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(SlowFeed, directory=str(FEED)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def snapshot(data_dir: Path, store: Store | None = None) -> set[tuple[str, str, bytes]]:
    settings = make_settings(data_dir)
    store = store or EmbeddedStore(data_dir)
    page = store.query(
        ObjectQuery(settings.collections["public-blocklist"].id, versions=("all",), limit=10**6)
    )
    rows = [(o.id, o.version_text, o.body) for o in page.objects]
    assert len(rows) == len(set(rows)), "no object version may be stored twice"
    return set(rows)


def ingest_process(data_dir: Path, url: str, backend: Backend | None = None) -> subprocess.Popen[bytes]:
    # An environment variable may name the hyphenated connector; the shell can't, the OS can.
    env = server_env(
        data_dir, **{"CYBERLAB_CONNECTORS__CERT-FR__URL": url}, **(backend.env if backend else {})
    )
    return subprocess.Popen(
        [sys.executable, "-m", "cyberlab.cli", "ingest", "cert-fr"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: a crash takes its worker processes too
    )


def test_kill_mid_ingest_then_resume_equals_one_clean_run(
    tmp_path: Path, feed_url: str, backend: Backend
) -> None:
    """The ingest into `backend` is killed with SIGKILL, then resumed: the result equals one clean
    run into the embedded store (the reference)."""
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    for data_dir in (clean, crashed):
        data_dir.mkdir()
    EmbeddedStore(clean).initialize()
    store = backend.open(crashed)
    store.initialize()
    settings = make_settings(clean)
    Pipeline(settings, EmbeddedStore(clean), "cert-fr").run()  # the same feed, read from its folder

    process = ingest_process(crashed, feed_url, backend)
    deadline = time.monotonic() + 60
    cursor = None
    while time.monotonic() < deadline and process.poll() is None:
        cursor = store.get_cursor(cursor_key("cert-fr"))
        if (
            cursor
            and len(
                store.query(
                    ObjectQuery(settings.collections["public-blocklist"].id, versions=("all",), limit=10**6)
                ).objects
            )
            > 500
        ):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the ingest finished before it could be killed"
    # The whole ingest dies, parent and workers (killing the parent alone left its workers
    # running: orphans that kept writing into the store beside the resumed run).
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial_state = snapshot(crashed, store)
    assert 0 < len(partial_state) < len(snapshot(clean))

    resumed = ingest_process(crashed, feed_url, backend)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    assert snapshot(crashed, store) == snapshot(clean)
    assert re.search(rb"dead-lettered:\s+0\n", out)


def test_worker_survives_a_failing_connector(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path)
    broken = dataclasses.replace(settings.connectors["cert-fr"], name="gone", paths=(str(tmp_path / "nope"),))
    settings = dataclasses.replace(
        settings, connectors={"gone": broken, "city-soc": settings.connectors["city-soc"]}
    )
    store = EmbeddedStore(tmp_path)
    store.initialize()
    with caplog.at_level("INFO"):
        run_worker(settings, store, once=True)
    assert store.count(settings.collections["city-indicators"].id) > 0
    assert any("worker.failed connector=gone" in r.getMessage() for r in caplog.records)


def test_ingest_command_dry_run_and_report(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    subprocess.run([sys.executable, "-m", "cyberlab.cli", "init"], env=env, check=True, capture_output=True)
    dry = subprocess.run(
        [sys.executable, "-m", "cyberlab.cli", "ingest", "city-soc", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing stored" in dry.stdout and "objects to create:" in dry.stdout
    assert EmbeddedStore(tmp_path).count(make_settings(tmp_path).collections["city-indicators"].id) == 0
    real = subprocess.run(
        [sys.executable, "-m", "cyberlab.cli", "ingest", "city-soc"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "non-public-address" in real.stdout and "unknown-format: 5" in real.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "cyberlab.cli", "ingest", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode != 0 and "no connector 'nope'" in unknown.stderr
    letters = subprocess.run(
        [sys.executable, "-m", "cyberlab.cli", "deadletter", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "no dead letters" in letters.stdout


def test_soc_logs_from_stdin(tmp_path: Path) -> None:
    env = server_env(tmp_path, **{"CYBERLAB_CONNECTORS__CITY-SOC__PATHS": "-"})
    subprocess.run([sys.executable, "-m", "cyberlab.cli", "init"], env=env, check=True, capture_output=True)
    lines = (
        "Aug 17 10:03:37 h kernel: DROP IN=eth0 OUT= SRC=222.186.130.227 DST=10.0.0.5 PROTO=TCP DPT=22\n"
        "CEF:0|Vendor|IDS|1.0|100|SSH brute force|7|src=222.186.130.227 rt=1763632800000\n"
        "garbage that is no log format\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "cyberlab.cli", "ingest", "city-soc"],
        env=env,
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"input read:\s+3 ", result.stdout) and "unknown-format: 1" in result.stdout
    settings = make_settings(tmp_path)
    stored = EmbeddedStore(tmp_path).query(ObjectQuery(settings.collections["city-indicators"].id, limit=100))
    sighting = next(o for o in stored.objects if o.type == "sighting")
    assert b'"count":2' in sighting.body  # one attacker, two lines, aggregated
