"""Store faults over real HTTP: a full disk and a read-only store give clear 503s, lose nothing,
and corrupt nothing.

The full disk is a real one: a 3 MiB tmpfs mounted for the test. The read-only store is real too:
the server runs as `nobody` over a store owned by root. Both need root; the tests skip with the
reason otherwise. The disk that fills at the status write, after the objects committed, is
SQLite's max_page_count (Elasticsearch's flood-stage block), set by a gunicorn hook of the test's
(tests/fixtures/full_at_save_status.py) at that very write: no root needed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from indexer.store.base import ObjectQuery
from indexer.store.embedded import EmbeddedStore
from indexer.synthetic import indicators
from tests.helpers import ROOT, TAXII, Backend, cli, make_settings, prepare_store, start_server

FULL_AT_SAVE_STATUS = ROOT / "tests" / "fixtures" / "full_at_save_status.py"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root (tmpfs mount, running a server as nobody)")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def post(url: str, auth: tuple[str, str], objects: list[dict]) -> requests.Response:  # type: ignore[type-arg]
    return requests.post(
        url,
        json={"objects": objects},
        auth=auth,
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=60,
    )


def test_disk_full_is_a_clear_503_and_loses_nothing(tiny_disk: Path) -> None:
    keys = prepare_store(tiny_disk)
    logs = tiny_disk.parent / "logs"
    logs.mkdir()
    server = start_server(tiny_disk, keys, CYBERLAB_LOG_LEVEL="ERROR")
    coll = make_settings(tiny_disk).collections["city-indicators"]
    url = server.collection_url("city-indicators") + "objects/"
    try:
        objects = list(indicators(20_000, seed=3))
        accepted = 0
        full = None
        for start in range(0, len(objects), 500):
            response = post(url, server.auth("admin"), objects[start : start + 500])
            if response.status_code != 202:
                full = response
                break
            accepted += 500
        assert full is not None, "the 3 MiB disk never filled up"
        assert full.status_code == 503 and full.headers["Content-Type"] == TAXII
        assert "disk is full" in full.json()["description"] and full.headers["Retry-After"]
        # Reading still works and holds exactly the accepted batches: the failed one left nothing.
        page = requests.get(
            server.collection_url("city-indicators") + "manifest/",
            params={"limit": "1"},
            auth=server.auth("subscriber"),
            headers={"Accept": TAXII},
            timeout=10,
        )
        assert page.status_code == 200
        assert requests.get(server.url + "/readyz", timeout=5).status_code == 200
    finally:
        server.stop()
    stored = EmbeddedStore(tiny_disk).query(ObjectQuery(coll.id, limit=10**6)).objects
    assert len(stored) == accepted
    with sqlite3.connect(tiny_disk / "cyberlab.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_ingest_on_a_full_disk_fails_clearly_and_keeps_the_cursor(tiny_disk: Path) -> None:
    prepare_store(tiny_disk)
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (tiny_disk.stat().st_size or 0))
    free = shutil.disk_usage(tiny_disk).free
    filler.write_bytes(b"\0" * max(0, free - 64 * 1024))  # leave almost nothing
    result = cli(tiny_disk, "ingest", "cert-fr")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "full" in result.stderr.lower()
    filler.unlink()
    assert EmbeddedStore(tiny_disk).get_cursor("connector:cert-fr") is None
    with sqlite3.connect(tiny_disk / "cyberlab.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_read_only_store_is_a_clear_503_never_a_500(tiny_disk: Path) -> None:
    keys = prepare_store(tiny_disk)
    probe = EmbeddedStore(tiny_disk)
    before = probe.count("any")  # opening once leaves WAL files, as a live store has
    probe.close()  # a file open for writing would keep the remount below busy
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    logs = tiny_disk.parent / "logs"
    logs.mkdir()
    server = start_server(logs, keys, CYBERLAB_STORE__DATA_DIR=str(tiny_disk))
    try:
        url = server.root + "collections/city-indicators/objects/"
        write = post(url, server.auth("admin"), list(indicators(5, seed=4)))
        assert write.status_code == 503, write.text
        assert write.headers["Content-Type"] == TAXII
        assert "read-only" in write.json()["description"]
        read = requests.get(url, auth=server.auth("subscriber"), headers={"Accept": TAXII}, timeout=10)
        assert read.status_code in (200, 503) and read.headers["Content-Type"] == TAXII
        ready = requests.get(server.url + "/readyz", timeout=5)
        assert ready.status_code == 503 and "read-only" in ready.json()["reason"]
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
    finally:
        server.stop()
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_disk)], check=False)
    assert EmbeddedStore(tiny_disk).count("any") == before
    with sqlite3.connect(tiny_disk / "cyberlab.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_disk_full_at_save_status_is_a_503_and_the_request_can_be_sent_again(
    tmp_path: Path, backend: Backend
) -> None:
    """The disk fills after the objects committed, at the status write (issue 11: the driver's
    error escaped the store untranslated, a 500). The objects stay stored; the client is told
    the disk is full, when to come back, and that sending again is safe: it is."""
    keys = prepare_store(tmp_path, backend)
    marker = tmp_path / "full-at-next-save-status"
    server = start_server(
        tmp_path,
        keys,
        extra_args=("--config", str(FULL_AT_SAVE_STATUS)),
        backend=backend,
        TEST_FULL_AT_SAVE_STATUS=str(marker),
    )
    coll = backend.settings(tmp_path).collections["city-indicators"]
    url = server.collection_url("city-indicators") + "objects/"
    objects = list(indicators(300, seed=21))  # a status of 300 successes needs new pages
    try:
        marker.touch()
        full = post(url, server.auth("admin"), objects)
        assert not marker.exists(), "the hook never ran"
        assert full.status_code == 503, full.text
        assert full.headers["Content-Type"] == TAXII
        body = full.json()
        assert body["http_status"] == "503" and body["title"] == "Store unavailable"
        assert "disk is full" in body["description"] and "already present" in body["description"]
        assert int(full.headers["Retry-After"]) > 0
        store = server.open_store()
        try:
            assert store.count(coll.id) == len(objects)  # committed before the status failed
        finally:
            store.close()

        again = post(url, server.auth("admin"), objects)
        assert again.status_code == 202, again.text
        status = again.json()
        assert status["success_count"] == len(objects) and status["failure_count"] == 0
        assert all("already present" in s["message"] for s in status["successes"])
        kept = requests.get(
            server.root + f"status/{status['id']}/",
            auth=server.auth("admin"),
            headers={"Accept": TAXII},
            timeout=10,
        )
        assert kept.status_code == 200 and kept.json()["success_count"] == len(objects)
    finally:
        server.stop()
    if backend.name == "sqlite":
        with sqlite3.connect(tmp_path / "cyberlab.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
