"""What the tests share: settings, stores with an account per role, backends, real servers, HTTP calls.

Fixtures live in the conftest.py files and are built on these. Test modules import from here,
tests/data.py (sample objects), tests/mail.py (an SMTP server) and tests/resolver.py (Unbound),
never from one another.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
import requests

from config import Settings, load_settings
from config.settings import ROLES
from cyberlab import devserver
from cyberlab.auth.keys import hash_key
from indexer.ingest import ingest_objects
from indexer.store.base import Account, Store
from indexer.timestamps import now_micros

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "tests" / "fixtures" / "test-config.toml"
# Spelled out, not imported from config.media: what clients must see is the spec's string.
TAXII = "application/taxii+json;version=2.1"
SIGNING_KEY = "test-signing-key-0123456789-abcdefghijklmnop"
BACKENDS = ("sqlite", "elasticsearch")


# -- settings -------------------------------------------------------------------------------------
def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a test server or CLI runs with: test-config.toml on `data_dir`, plus `extra`.

    Inherited CYBERLAB_* variables are dropped, so a developer's own settings never leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYBERLAB_")}
    env.update(
        CYBERLAB_CONFIG=str(TEST_CONFIG),
        CYBERLAB_STORE__DATA_DIR=str(data_dir),
        CYBERLAB_SERVER__SIGNING_KEY=SIGNING_KEY,
        CYBERLAB_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def make_settings(data_dir: Path, **env: str) -> Settings:
    """The settings a test server started with the same `env` in `data_dir` has: the one way
    tests build settings (the `settings` fixture is this on tmp_path)."""
    return load_settings(environ=server_env(data_dir, **env))


def with_connector(settings: Settings, name: str, **fields: Any) -> Settings:
    """`settings` whose only connector is `name`: cert-fr's entry with `fields` replaced (for
    connectors the config files do not have, e.g. a TAXII or MISP upstream on a test port)."""
    connector = dataclasses.replace(settings.connectors["cert-fr"], name=name, **fields)
    return dataclasses.replace(settings, connectors={name: connector})


def cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`cyberlab ARGS` as its own process, with the test settings on `data_dir`."""
    return subprocess.run(
        [sys.executable, "-m", "cyberlab.cli", *args],
        env=server_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- backends and stores --------------------------------------------------------------------------
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

    def settings(self, data_dir: Path, **env: str) -> Settings:
        """What a server started with this backend (and `env`) in `data_dir` runs with."""
        return make_settings(data_dir, **self.env, **env)

    def open(self, data_dir: Path) -> Store:
        """The store a server started with `env` in `data_dir` uses (not yet initialized)."""
        from indexer.store import open_store

        return open_store(self.settings(data_dir))

    def drop(self) -> None:
        if self.name == "elasticsearch":
            from elasticsearch import Elasticsearch

            prefix = self.env["CYBERLAB_STORE__ELASTICSEARCH__INDEX_PREFIX"]
            client = Elasticsearch(self.env["CYBERLAB_STORE__ELASTICSEARCH__HOSTS"].split(","))
            client.indices.delete(index=f"{prefix}-*", ignore=404)
            client.indices.delete_template(name=f"{prefix}-*", ignore=404)
            client.close()


SQLITE = Backend("sqlite")


def key_for(role: str) -> str:
    """The API key of the account prepare_store makes for `role` (named after the role)."""
    return f"key-for-{role}-0123456789"


def account(role: str) -> tuple[str, str]:
    """HTTP Basic credentials of prepare_store's `role` account (for Flask's client, `auth=`)."""
    return (role, key_for(role))


def prepare_store(data_dir: Path, backend: Backend | None = None) -> dict[str, str]:
    """An initialized store with one account per role (named after the role); returns their keys."""
    store = (backend or SQLITE).open(data_dir)
    store.initialize()
    keys = {}
    for role in ROLES:
        store.add_account(Account(role, role, hash_key(key_for(role)), now_micros()))
        keys[role] = key_for(role)
    store.close()
    return keys


def seed(data_dir: Path, alias: str, objects: list[dict[str, Any]]) -> None:
    """Objects put in the embedded store through the ingest path before a server starts (fast)."""
    store = SQLITE.open(data_dir)
    collection = make_settings(data_dir).collection(alias)
    assert collection is not None, alias
    try:
        report = ingest_objects(store, collection, objects, sanitizer=None)  # test data, made here
    finally:
        store.close()
    assert not report.failures, report.failures[:3]


# -- real servers ---------------------------------------------------------------------------------
@dataclass
class LiveServer:
    """gunicorn serving wsgi:app on 127.0.0.1 with the test settings on `data_dir`."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    keys: dict[str, str]
    backend: Backend | None = None  # None: the embedded store in data_dir

    def open_store(self) -> Store:
        """The store this server uses, initialized (close it when done)."""
        opened = (self.backend or SQLITE).open(self.data_dir)
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
        devserver.stop(self.process)


def start_server(
    data_dir: Path,
    keys: dict[str, str],
    workers: int = 1,
    extra_args: tuple[str, ...] = (),
    backend: Backend | None = None,
    **env: str,
) -> LiveServer:
    """Start gunicorn (cyberlab.devserver) on a free loopback port and wait until it answers.

    Its output goes to data_dir/gunicorn-PORT.log."""
    if backend is not None:
        env = {**backend.env, **env}
    started = devserver.start(
        server_env(data_dir, **env), workers=workers, extra_args=extra_args, log_dir=data_dir
    )
    return LiveServer(started.url, started.process, data_dir, keys, backend)


# -- HTTP -----------------------------------------------------------------------------------------
class Answer(Protocol):
    """What requests' Response and Flask's test response both have."""

    status_code: int
    headers: Any

    @property
    def text(self) -> str: ...


def assert_taxii_error(response: Answer, status: int, mentions: str = "") -> dict[str, Any]:
    """`response` is a TAXII error of `status` whose title or description mentions `mentions`."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == TAXII
    body: dict[str, Any] = json.loads(response.text)
    assert body["http_status"] == str(status)
    assert body["title"]
    if mentions:
        assert mentions.lower() in (body.get("description", "") + body["title"]).lower(), body
    return body


def basic(name: str, key: str, scheme: str = "Basic", gap: str = " ") -> str:
    """An Authorization header value, with room to get the scheme or the gap wrong."""
    return scheme + gap + base64.b64encode(f"{name}:{key}".encode()).decode()


def csrf(session: requests.Session, url: str) -> str:
    """The CSRF token of the form on the page at `url`."""
    page = session.get(url, timeout=10).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def web_login(url: str, name: str, key: str) -> tuple[requests.Session, requests.Response]:
    """A session that posted the login form; the response says whether it worked (302)."""
    session = requests.Session()
    token = csrf(session, f"{url}/login")
    response = session.post(
        f"{url}/login",
        data={"name": name, "key": key, "csrf_token": token},
        allow_redirects=False,
        timeout=20,
    )
    return session, response


def login(server: LiveServer, role: str) -> requests.Session:
    """A web session logged in as the `role` account."""
    session, response = web_login(server.url, role, server.keys[role])
    assert response.status_code == 302, response.text
    return session


def post(server: LiveServer, alias: str, objects: list[Any], role: str = "partner") -> requests.Response:
    """A raw TAXII POST: the status is returned whatever it says."""
    return requests.post(
        server.collection_url(alias) + "objects/",
        json={"objects": objects},
        auth=server.auth(role),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=60,
    )


def failures(status: requests.Response) -> dict[str, str]:
    """A TAXII status's failures: id -> message."""
    assert status.status_code == 202, status.text
    return {f["id"]: f["message"] for f in status.json().get("failures", [])}


EXPORTS = [
    f"{kind}.{fmt}" for kind in ("ip", "cidr", "domain", "url", "hash", "all") for fmt in ("txt", "csv")
] + ["all.rpz", "all.hosts", "all.zeek", "all.edl", "all.rules"]  # what DNS filters, firewalls, IDSs load


def export(server: LiveServer, alias: str, name: str, role: str = "subscriber") -> str:
    collection = server.collection_url(alias).rstrip("/").rsplit("/", 1)[1]
    response = requests.get(
        f"{server.url}/api/v1/collections/{collection}/export/{name}", auth=server.auth(role), timeout=30
    )
    assert response.status_code == 200, response.text
    return response.text


def all_exports(server: LiveServer, alias: str, role: str = "subscriber") -> dict[str, str]:
    return {name: export(server, alias, name, role) for name in EXPORTS}
