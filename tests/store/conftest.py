"""The `store` fixture that runs a suite against every backend.

The embedded store always runs; Elasticsearch runs when CYBERLAB_ES_URL names a server and skips,
saying so, otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.store.base import Store
from indexer.store.embedded import EmbeddedStore


def _es_store(tmp_path: Path) -> Store:
    if not os.environ.get("CYBERLAB_ES_URL"):
        pytest.skip("Elasticsearch tests need CYBERLAB_ES_URL (e.g. http://127.0.0.1:9200)")
    pytest.skip("the Elasticsearch backend is not built yet (issue 4)")


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        backend: Store = EmbeddedStore(tmp_path)
    else:
        backend = _es_store(tmp_path)
    backend.initialize()
    yield backend
    backend.close()
