"""The `store` fixture that runs a suite against every backend.

The embedded store always runs; Elasticsearch runs when CYBERLAB_ES_URL names a server and skips,
saying so, otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.store.base import Store
from indexer.store.embedded import EmbeddedStore


def _es_store(tmp_path: Path) -> Store:
    url = os.environ.get("CYBERLAB_ES_URL")
    if not url:
        pytest.skip("Elasticsearch tests need CYBERLAB_ES_URL (e.g. http://127.0.0.1:9200)")
    from config.settings import ElasticsearchSettings
    from indexer.store.elastic import ElasticStore

    # Each test gets its own indices, removed afterwards by the fixture.
    return ElasticStore(
        ElasticsearchSettings(hosts=(url,), index_prefix=f"cyberlab-test-{uuid.uuid4().hex[:12]}")
    )


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        backend: Store = EmbeddedStore(tmp_path)
    else:
        backend = _es_store(tmp_path)
    backend.initialize()
    yield backend
    if request.param == "elasticsearch":
        from indexer.store.elastic import ElasticStore

        assert isinstance(backend, ElasticStore)
        backend._es().indices.delete(index=f"{backend.settings.index_prefix}-*")
        backend._es().indices.delete_template(name=f"{backend.settings.index_prefix}-*", ignore=404)
    backend.close()
