"""Shared fixtures: settings on temporary directories and real gunicorn servers on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from config import Settings, load_settings
from config.settings import ROLES
from cyberlab.auth.keys import hash_key
from indexer.store.base import Account, Store
from indexer.store.embedded import EmbeddedStore
from indexer.timestamps import now_micros

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "tests" / "fixtures" / "test-config.toml"
# Spelled out, not imported from config.media: what clients must see is the spec's string.
TAXII = "application/taxii+json;version=2.1"
SIGNING_KEY = "test-signing-key-0123456789-abcdefghijklmnop"


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYBERLAB_")}
    env.update(
        CYBERLAB_CONFIG=str(TEST_CONFIG),
        CYBERLAB_STORE__DATA_DIR=str(data_dir),
        CYBERLAB_SERVER__SIGNING_KEY=SIGNING_KEY,
        CYBERLAB_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`cyberlab ARGS` as its own process, with the test settings on `data_dir`."""
    return subprocess.run(
        [sys.executable, "-m", "cyberlab.cli", *args],
        env=server_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def make_settings(data_dir: Path) -> Settings:
    return load_settings(environ=server_env(data_dir))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    keys: dict[str, str]
    backend: Backend | None = None  # None: the embedded store in data_dir

    def open_store(self) -> Store:
        """The store this server uses, initialized (close it when done)."""
        opened = (self.backend or Backend("sqlite")).open(self.data_dir)
        opened.initialize()
        return opened

    @property
    def root(self) -> str:
        return f"{self.url}/taxii2/cyberlab/"

    def collection_url(self, alias: str) -> str:
        """URL of a collection by its id (taxii2-client insists the id is in the URL)."""
        collection = make_settings(self.data_dir).collection(alias)
        assert collection is not None, alias
        return f"{self.root}collections/{collection.id}/"

    def auth(self, role: str) -> tuple[str, str]:
        return (role, self.keys[role])

    def post_objects(self, alias: str, objects: list[dict[str, Any]], role: str = "admin") -> dict[str, Any]:
        """POST objects to a collection over TAXII; every one must be stored. Returns the status."""
        response = requests.post(
            self.collection_url(alias) + "objects/",
            json={"objects": objects},
            auth=self.auth(role),
            headers={"Accept": TAXII, "Content-Type": TAXII},
            timeout=30,
        )
        status: dict[str, Any] = response.json()
        assert status.get("success_count") == len(objects), response.text
        return status

    def client_auth(self, role: str | None) -> dict[str, str | None]:
        """Keyword arguments for taxii2-client (its positional order is url, conn, user, password)."""
        return {"user": role, "password": self.keys[role]} if role else {"user": None, "password": None}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(
    data_dir: Path,
    keys: dict[str, str],
    workers: int = 1,
    extra_args: tuple[str, ...] = (),
    backend: Backend | None = None,
    **env: str,
) -> LiveServer:
    """Start gunicorn serving wsgi:app on a free loopback port and wait until it answers."""
    if backend is not None:
        env = {**backend.env, **env}
    port = free_port()
    log = (data_dir / f"gunicorn-{port}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
            *extra_args,
            "wsgi:app",
        ],
        env=server_env(data_dir, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(data_dir / f'gunicorn-{port}.log').read_text()}")
        try:
            # The port accepts before the worker has imported the app: a slow first answer is
            # still starting up, not a failure.
            requests.get(f"{url}/taxii2/", headers={"Accept": TAXII}, timeout=5)
            return LiveServer(url, process, data_dir, keys, backend)
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start within 30 s")


@dataclass(frozen=True)
class Backend:
    """A store backend for a server under test: the environment that selects it, and its store.

    Elasticsearch runs when CYBERLAB_ES_URL names a node (each Backend its own index prefix,
    dropped afterwards) and is a visible skip otherwise, so CI without a node is no slower."""

    name: str
    env: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def make(name: str) -> Backend:
        if name == "sqlite":
            return Backend("sqlite")
        url = os.environ.get("CYBERLAB_ES_URL")
        if not url:
            pytest.skip("Elasticsearch tests need CYBERLAB_ES_URL (e.g. http://127.0.0.1:9200)")
        return Backend(
            "elasticsearch",
            {
                "CYBERLAB_STORE__BACKEND": "elasticsearch",
                "CYBERLAB_STORE__ELASTICSEARCH__HOSTS": url,
                "CYBERLAB_STORE__ELASTICSEARCH__INDEX_PREFIX": f"cyberlab-test-{uuid.uuid4().hex[:12]}",
                # A writer killed by a test holds the lease this long: short, so tests stay fast.
                "CYBERLAB_STORE__ELASTICSEARCH__LEASE_SECONDS": "5",
            },
        )

    def open(self, data_dir: Path) -> Store:
        """The store a server started with `env` in `data_dir` uses (not yet initialized)."""
        from indexer.store import open_store

        return open_store(load_settings(environ=server_env(data_dir, **self.env)))

    def drop(self) -> None:
        if self.name == "elasticsearch":
            from elasticsearch import Elasticsearch

            prefix = self.env["CYBERLAB_STORE__ELASTICSEARCH__INDEX_PREFIX"]
            client = Elasticsearch(self.env["CYBERLAB_STORE__ELASTICSEARCH__HOSTS"].split(","))
            client.indices.delete(index=f"{prefix}-*", ignore=404)
            client.indices.delete_template(name=f"{prefix}-*", ignore=404)
            client.close()


BACKENDS = ("sqlite", "elasticsearch")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each backend in turn, fresh for this test: pass `**backend.env` to start_server."""
    chosen = Backend.make(request.param)
    yield chosen
    chosen.drop()


@pytest.fixture
def backend_store(backend: Backend, tmp_path: Path) -> Iterator[Store]:
    """An initialized store of each backend in turn (what the server would open in tmp_path)."""
    opened = backend.open(tmp_path)
    opened.initialize()
    yield opened
    opened.close()


def prepare_store(data_dir: Path, backend: Backend | None = None) -> dict[str, str]:
    """An initialized store with one account per role (named after the role); returns their keys."""
    store = (backend or Backend("sqlite")).open(data_dir)
    store.initialize()
    keys = {}
    for role in ROLES:
        key = f"key-for-{role}-0123456789"
        store.add_account(Account(role, role, hash_key(key), now_micros()))
        keys[role] = key
    store.close()
    return keys


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One gunicorn server (2 workers) per backend, shared by the HTTP tests; tests own their
    collections."""
    chosen = Backend.make(request.param)
    data_dir = tmp_path_factory.mktemp("server")
    try:
        live = start_server(data_dir, prepare_store(data_dir, chosen), workers=2, backend=chosen)
        yield live
        live.stop()
    finally:
        chosen.drop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """An initialized embedded store in the test's own directory."""
    backend = EmbeddedStore(tmp_path)
    backend.initialize()
    yield backend
    backend.close()
