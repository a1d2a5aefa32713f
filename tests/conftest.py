"""The shared fixtures: settings on temporary directories, stores, real gunicorn servers on 127.0.0.1,
and the app in-process. Fixtures only; what they are built on is in tests/helpers.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config import Settings
from cyberlab import create_app
from indexer.store.base import Store
from indexer.store.embedded import EmbeddedStore
from tests.helpers import BACKENDS, Backend, LiveServer, make_settings, prepare_store, start_server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each backend in turn, fresh for this test: pass `backend=backend` to start_server."""
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


@pytest.fixture(scope="session", params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The real app (create_app on the test settings) in this process, once per backend, with one
    account per role (tests/helpers.py account()); tests own their collections, as with `server`."""
    chosen = Backend.make(request.param)
    data_dir = tmp_path_factory.mktemp("app")
    try:
        prepare_store(data_dir, chosen)
        # create_app sets up the process's logging (right under gunicorn); pytest keeps its own.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        built = create_app(chosen.settings(data_dir))
        root.handlers[:] = handlers
        root.setLevel(level)
        yield built
        built.extensions["cyberlab"].store.close()
    finally:
        chosen.drop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A Flask test client on `app` (each backend in turn), for single-request tables: no gunicorn,
    no socket. What needs real workers (fork, kill, several workers, taxii2-client) takes `server`."""
    return app.test_client()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The test settings on this test's own directory (tests/helpers.py make_settings)."""
    return make_settings(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """An initialized embedded store in the test's own directory."""
    backend = EmbeddedStore(tmp_path)
    backend.initialize()
    yield backend
    backend.close()
