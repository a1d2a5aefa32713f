"""Operations: health endpoints over HTTP, and backup/restore of a store that is being written to."""

from __future__ import annotations

import threading
from pathlib import Path

import requests

from cyberlab.devserver import free_port
from indexer.ingest import ingest_objects
from indexer.store.base import ObjectQuery
from indexer.store.embedded import EmbeddedStore
from indexer.synthetic import indicators
from tests.helpers import TAXII, LiveServer, cli, make_settings, start_server


def test_health_and_readiness(server: LiveServer, tmp_path: Path) -> None:
    assert requests.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(server.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"

    no_store = start_server(tmp_path, {})  # a data directory nobody initialized
    try:
        assert requests.get(no_store.url + "/healthz", timeout=5).status_code == 200
        unready = requests.get(no_store.url + "/readyz", timeout=5)
        assert unready.status_code == 503
        assert unready.json() == {
            "status": "unavailable",
            "cause": "not_initialized",
            "reason": "the store has not been initialized",
        }
        assert str(tmp_path) not in unready.text  # the error names the file; the caller never sees it
    finally:
        no_store.stop()


def test_readyz_says_the_cause_and_the_log_has_the_error_without_its_password(tmp_path: Path) -> None:
    """Elasticsearch configured by a URL with credentials, and nothing listening there."""
    server = start_server(
        tmp_path,
        {},
        CYBERLAB_STORE__BACKEND="elasticsearch",
        CYBERLAB_STORE__ELASTICSEARCH__HOSTS=f"http://cyberlab:secret@127.0.0.1:{free_port()}",
        CYBERLAB_STORE__ELASTICSEARCH__REQUEST_TIMEOUT="2",
    )
    try:
        ready = requests.get(server.url + "/readyz", timeout=30)
        page = requests.get(
            server.collection_url("public-blocklist") + "objects/", headers={"Accept": TAXII}, timeout=30
        )
    finally:
        server.stop()
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "cause": "unavailable",
        "reason": "the store cannot be reached",
    }
    assert page.status_code == 503 and "secret" not in page.text
    (log_file,) = tmp_path.glob("gunicorn-*.log")
    logged = log_file.read_text()
    # The whole error is in the log, for the admin, with the URL's password masked.
    assert (
        "readyz.unavailable cause=unavailable error=Elasticsearch at http://cyberlab:********@127.0.0.1:"
        in logged
    )
    assert "store.error path=/taxii2/" in logged
    assert "secret" not in logged


def snapshot(data_dir: Path, collection: str) -> list[tuple[str, int, bytes]]:
    page = EmbeddedStore(data_dir).query(ObjectQuery(collection, versions=("all",), limit=10**6))
    return [(o.id, o.version, o.body) for o in page.objects]


def test_backup_while_writing_then_restore(tmp_path: Path) -> None:
    live, restored = tmp_path / "live", tmp_path / "restored"
    live.mkdir()
    assert cli(live, "init").returncode == 0
    settings = make_settings(live)
    coll = settings.collections["city-indicators"]
    store = EmbeddedStore(live)
    ingest_objects(store, coll, indicators(2000, seed=1), sanitizer=None)

    writing = threading.Thread(
        target=lambda: ingest_objects(EmbeddedStore(live), coll, indicators(3000, seed=2), sanitizer=None)
    )
    writing.start()  # the backup must be consistent while this writer commits
    result = cli(live, "backup", str(tmp_path / "copy.db"))
    writing.join()
    assert result.returncode == 0, result.stderr
    assert "integrity check: ok" in result.stdout
    assert cli(live, "backup", str(tmp_path / "copy.db")).returncode != 0  # never overwrites

    copy = snapshot_of_file(tmp_path / "copy.db", coll.id)
    # The writer commits 2,000 objects per transaction: a consistent copy holds whole transactions.
    assert len(copy) in (2000, 4000, 5000)
    restored.mkdir()
    assert cli(restored, "restore", str(tmp_path / "copy.db"), "--yes").returncode == 0
    assert snapshot(restored, coll.id) == copy

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    bad = cli(restored, "restore", str(junk), "--yes")
    assert bad.returncode == 2 and "not a CyberLab store backup" in bad.stderr
    assert snapshot(restored, coll.id) == copy  # the failed restore changed nothing


def snapshot_of_file(path: Path, collection: str) -> list[tuple[str, int, bytes]]:
    holder = path.parent / "inspect"
    holder.mkdir()
    (holder / "cyberlab.db").write_bytes(path.read_bytes())
    return snapshot(holder, collection)
