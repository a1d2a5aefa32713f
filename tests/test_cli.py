"""The `cyberlab` command, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from cyberlab import devserver
from cyberlab.devserver import free_port
from cyberlab.gunicorn_command import HOOKS, gunicorn_argv
from indexer.ingest import ingest_objects
from indexer.pipeline import cursor_key
from indexer.store.embedded import EmbeddedStore
from indexer.synthetic import demo_bundle
from tests.helpers import (
    SIGNING_KEY,
    TAXII,
    Backend,
    cli,
    make_settings,
    prepare_store,
    server_env,
    start_server,
)


def test_help_explains_the_commands(tmp_path: Path) -> None:
    out = cli(tmp_path, "--help").stdout
    for command in ("init", "serve", "users", "ingest-file"):
        assert command in out
    assert "API key" in cli(tmp_path, "users", "add", "--help").stdout


def test_init_users_and_revocation_take_effect_at_once(tmp_path: Path) -> None:
    assert cli(tmp_path, "init").returncode == 0
    added = cli(tmp_path, "users", "add", "acme", "--role", "subscriber")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("clk_")
    assert cli(tmp_path, "users", "add", "acme", "--role", "admin").returncode != 0
    listing = cli(tmp_path, "users", "list").stdout
    assert "acme" in listing and "subscriber" in listing and key not in listing
    assert key.encode() not in (tmp_path / "cyberlab.db").read_bytes(), "only a hash may be stored"

    server = start_server(tmp_path, {"acme": key})
    try:
        url = f"{server.url}/taxii2/cyberlab/collections/"
        for _ in range(3):  # repeated requests ride the verification cache
            assert (
                requests.get(url, auth=("acme", key), headers={"Accept": TAXII}, timeout=10).status_code
                == 200
            )
        assert cli(tmp_path, "users", "revoke", "acme").returncode == 0
        assert requests.get(url, auth=("acme", key), headers={"Accept": TAXII}, timeout=10).status_code == 401
        rotated = cli(tmp_path, "users", "rotate", "acme").stdout.strip().splitlines()[-1]
        assert requests.get(url, auth=("acme", key), headers={"Accept": TAXII}, timeout=10).status_code == 401
        assert (
            requests.get(url, auth=("acme", rotated), headers={"Accept": TAXII}, timeout=10).status_code
            == 200
        )
    finally:
        server.stop()
    logs = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
    assert key not in logs and rotated not in logs and SIGNING_KEY not in logs


def test_ingest_file_reports_each_bad_object_and_stores_the_rest(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    objects = demo_bundle(10)
    objects[3] = dict(objects[3], pattern="[broken")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}))
    result = cli(tmp_path, "ingest-file", str(bundle), "--collection", "city-indicators")
    assert result.returncode == 1
    assert f"{len(objects)} objects read, {len(objects) - 1} added" in result.stdout
    assert objects[3]["id"] in result.stderr and "invalid STIX pattern" in result.stderr
    again = cli(tmp_path, "ingest-file", str(bundle), "--collection", "city-indicators")
    assert f"0 added, {len(objects) - 1} already present" in again.stdout


def test_ingest_file_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\xff\xfe not json")
    result = cli(tmp_path, "ingest-file", str(junk), "--collection", "city-indicators")
    assert result.returncode == 1 and "not valid UTF-8 JSON" in result.stderr
    junk.write_text('{"hello": 1}')
    result = cli(tmp_path, "ingest-file", str(junk), "--collection", "city-indicators")
    assert "neither a STIX bundle nor a TAXII envelope" in result.stderr
    result = cli(tmp_path, "ingest-file", str(junk), "--collection", "nope")
    assert "no collection 'nope'" in result.stderr


def test_serve_refuses_the_placeholder_key_outside_dev_mode(tmp_path: Path) -> None:
    result = cli(tmp_path, "serve", CYBERLAB_SERVER__SIGNING_KEY="CHANGE-ME")
    assert result.returncode == 2
    assert "placeholder" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_runs_gunicorn_on_the_given_bind_with_access_log_and_summed_metrics(tmp_path: Path) -> None:
    assert cli(tmp_path, "init").returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cyberlab.cli", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=server_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        devserver.wait_until_answering(f"http://127.0.0.1:{port}/healthz", process, 60)
        for _ in range(6):  # fresh connections: either worker may answer
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).ok
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        devserver.stop(process)
    output = process.stdout.read().decode() if process.stdout else ""
    assert f"serving on http://127.0.0.1:{port}/taxii2/" in output
    answered = output.count('"GET /healthz HTTP/1.1" 200')  # the access log, on stdout
    assert answered >= 7 and output.count("Booting worker") == 2
    # The hooks config (-c) and the multiprocess directory are in place: /metrics sums the workers.
    assert (
        f'cyberlab_http_requests_total{{endpoint="/healthz",method="GET",status="200"}} {answered}.0'
        in metrics
    )
    assert (tmp_path / "prometheus").is_dir()


def test_one_gunicorn_command_line_for_serve_and_the_dev_server() -> None:
    argv = gunicorn_argv("127.0.0.1:8123", 3, 45, access_log="-", config=HOOKS)
    assert argv[:3] == [sys.executable, "-m", "gunicorn"] and argv[-1] == "wsgi:app"
    flags = dict(zip(argv[3:-1:2], argv[4:-1:2], strict=True))
    assert flags == {
        "--chdir": str(Path(devserver.__file__).resolve().parent.parent),
        "--bind": "127.0.0.1:8123",
        "--workers": "3",
        "--timeout": "45",
        "--access-logfile": "-",
        "--config": "python:cyberlab.gunicorn_hooks",
    }
    # Extra arguments go before the app; without an access log or config, neither flag is there.
    bare = gunicorn_argv("127.0.0.1:1", 1, 60, extra_args=("--graceful-timeout", "5"))
    assert bare[-3:] == ["--graceful-timeout", "5", "wsgi:app"]
    assert "--access-logfile" not in bare and "--config" not in bare


def test_init_demo_loads_collections(tmp_path: Path) -> None:
    result = cli(tmp_path, "init", "--demo")
    assert result.returncode == 0, result.stderr
    assert "city-indicators: 481 objects read, 481 added" in result.stdout
    assert "0 invalid" in result.stdout


def test_demo_replay_shifts_soc_logs_to_now_once_and_leaves_the_feed_as_published(tmp_path: Path) -> None:
    """`make run`'s config/demo.toml: the SOC's old sample logs look recent; a re-run adds nothing."""
    import time

    from config import load_settings

    root = Path(__file__).resolve().parents[1]
    demo = load_settings(root / "config" / "demo.toml", environ={})
    assert demo.connectors["city-soc"].demo_shift_to_now
    assert not demo.connectors["cert-fr"].demo_shift_to_now  # the MISP feed stays as published

    env = {"CYBERLAB_CONNECTORS__CITY-SOC__DEMO_SHIFT_TO_NOW": "true"}
    assert cli(tmp_path, "init").returncode == 0
    started = time.time()
    first = cli(tmp_path, "ingest", "city-soc", **env)
    assert first.returncode == 0, first.stderr
    assert "timestamps shifted by" in first.stdout and "days (demo)" in first.stdout
    again = cli(tmp_path, "ingest", "city-soc", **env)
    assert again.returncode == 0, again.stderr
    assert "input read:           0 " in again.stdout and "shifted" not in again.stdout

    from indexer.store import open_store
    from indexer.store.base import ObjectQuery

    settings = make_settings(tmp_path)
    store = open_store(settings)
    city = settings.collection("city-indicators")
    assert city is not None
    try:
        page = store.query(ObjectQuery(city.id, types=("indicator",), limit=1000))
        indicators = [json.loads(o.body) for o in page.objects]
    finally:
        store.close()
    assert indicators
    newest = max(i["modified"] for i in indicators)  # an SOC indicator's modified = last seen
    assert newest[:10] in {time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (started, time.time())}
    assert min(i["valid_from"] for i in indicators) > "2023"  # the 2016 and 2022 logs moved too


NOTHING_ELSE = "; digest subscriptions: 0; check reports: 0; dead letters: 0; ingest totals: 0 connectors"


def test_reindex_copies_a_small_store_into_elasticsearch_with_matching_counts(
    tmp_path: Path, backend: Backend
) -> None:
    """`cyberlab reindex --to elasticsearch` on a real node: a progress bar on stderr, and the
    counts it prints are what the new store holds (objects, accounts, the connector's cursor)."""
    if backend.name != "elasticsearch":
        pytest.skip("reindex copies the embedded store into Elasticsearch")
    keys = prepare_store(tmp_path)  # the embedded source: one account per role
    source = EmbeddedStore(tmp_path)
    settings = make_settings(tmp_path)
    city = settings.collection("city-indicators")
    assert city is not None
    report = ingest_objects(source, city, demo_bundle(40), sanitizer=None)
    source.save_cursor(cursor_key("city-soc"), "offset=7")
    stored = source.count(city.id)
    source.close()
    assert stored == len(report.successes) > 40

    done = cli(tmp_path, "reindex", "--to", "elasticsearch", **backend.env)
    assert done.returncode == 0, done.stderr
    assert "copying objects" in done.stderr  # the progress bar's label
    assert done.stdout.strip() == (
        f"objects: {stored:,} added; accounts: {len(keys)}; cursors: 1" + NOTHING_ELSE
    )
    target = backend.open(tmp_path)
    target.initialize()
    try:
        assert target.count(city.id) == stored
        assert {a.name for a in target.list_accounts()} == set(keys)
        assert target.get_cursor(cursor_key("city-soc")) == "offset=7"
    finally:
        target.close()
    again = cli(tmp_path, "reindex", "--to", "elasticsearch", **backend.env)
    assert again.stdout.strip() == f"objects: {stored:,} duplicate; accounts: 0; cursors: 1" + NOTHING_ELSE
