"""Request ids, JSON logs and Prometheus metrics summed across two gunicorn workers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from cyberlab.devserver import free_port
from indexer.pipeline import Pipeline
from indexer.store.embedded import EmbeddedStore
from indexer.synthetic import indicators
from tests.helpers import TAXII, key_for, make_settings, prepare_store, start_server


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        labelled = line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items())
        if labelled or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{wanted}}} in metrics")


def test_metrics_ids_and_json_logs(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    server = start_server(
        tmp_path,
        keys,
        workers=2,
        extra_args=("--config", "python:cyberlab.gunicorn_hooks"),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        CYBERLAB_LOG_FORMAT="json",
        CYBERLAB_LOG_LEVEL="INFO",
    )
    try:
        url = server.root + "collections/"
        for _ in range(40):  # fresh connections: both workers answer some of these
            assert requests.get(url, auth=server.auth("subscriber"), headers={"Accept": TAXII}, timeout=10).ok
        missing = requests.get(
            server.root + "collections/nope/",
            auth=server.auth("subscriber"),
            headers={"Accept": TAXII, "X-Request-ID": "trace-me-42"},
            timeout=10,
        )
        assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "trace-me-42"
        hostile = requests.get(url, headers={"Accept": TAXII, "X-Request-ID": "<script>"}, timeout=10)
        assert re.fullmatch(r"[0-9a-f]{16}", hostile.headers["X-Request-ID"])
        posted = requests.post(
            server.collection_url("inbox") + "objects/",
            auth=server.auth("partner"),
            json={"objects": list(indicators(3, seed=9))},
            headers={"Accept": TAXII, "Content-Type": TAXII},
            timeout=30,
        )
        assert posted.status_code == 202

        settings = make_settings(tmp_path)
        Pipeline(settings, EmbeddedStore(tmp_path), "city-soc").run()

        text = requests.get(server.url + "/metrics", timeout=10).text
        rule = "/taxii2/<api_root>/collections/"
        assert metric(text, "cyberlab_http_requests_total", endpoint=rule, method="GET", status="200") == 41
        assert (
            metric(
                text,
                "cyberlab_http_requests_total",
                endpoint="/taxii2/<api_root>/collections/<collection_id>/",
                status="404",
            )
            == 1
        )
        assert metric(text, "cyberlab_http_request_duration_seconds_count", endpoint=rule) == 41
        assert metric(text, "cyberlab_ingest_objects_total", connector="city-soc", outcome="created") > 0
        assert (
            metric(
                text,
                "cyberlab_ingest_objects_total",
                connector="city-soc",
                outcome="dropped:non-public-address",
            )
            > 0
        )
        assert metric(text, "cyberlab_store_bytes") > 0
    finally:
        server.stop()
    logs = [
        json.loads(line)
        for p in tmp_path.glob("gunicorn-*.log")
        for line in p.read_text().splitlines()
        if line.startswith("{")
    ]
    ingest = next(entry for entry in logs if entry["message"].startswith("ingest.done"))
    assert ingest["request_id"] == posted.headers["X-Request-ID"]
    assert {"time", "level", "logger", "message", "request_id"} <= set(ingest)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_unreachable_elasticsearch_is_one_log_line_per_failure(tmp_path: Path, log_format: str) -> None:
    """The driver logs each failed request with urllib3's whole traceback: it is cut to one line
    that still says which host and what failed, and the host's password never shows. Nothing
    listens at the port (no node needed: this runs everywhere)."""
    port = free_port()
    server = start_server(
        tmp_path,
        {"subscriber": key_for("subscriber")},
        CYBERLAB_STORE__BACKEND="elasticsearch",
        CYBERLAB_STORE__ELASTICSEARCH__HOSTS=f"http://elastic:hunter2-secret@127.0.0.1:{port}",
        CYBERLAB_LOG_FORMAT=log_format,
    )
    try:
        for _ in range(2):
            answer = requests.get(
                server.root + "collections/",
                auth=server.auth("subscriber"),
                headers={"Accept": TAXII},
                timeout=30,
            )
            assert answer.status_code == 503, answer.text
    finally:
        server.stop()
    log = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
    assert "Traceback" not in log and '"exception"' not in log, log
    assert "hunter2-secret" not in log, log
    driver = [line for line in log.splitlines() if "elasticsearch" in line and "WARNING" in line]
    assert len(driver) == 2, log  # one line per failed request
    for line in driver:
        assert f"127.0.0.1:{port}" in line and "Connection refused" in line, line
    assert f"elastic:********@127.0.0.1:{port} is unreachable" in log, log  # the store's own line
