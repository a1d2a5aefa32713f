"""Stores: the contract (base.py) and its backends."""

from __future__ import annotations

from config import Settings
from indexer.store.base import Store
from indexer.store.embedded import EmbeddedStore


def open_store(settings: Settings) -> Store:
    """The configured backend. Connections open lazily, so this is safe before a fork."""
    if settings.store.backend == "sqlite":
        return EmbeddedStore(settings.store.data_dir)
    if settings.store.backend == "elasticsearch":
        from indexer.store.elastic import ElasticStore  # the client is only needed when chosen

        return ElasticStore(settings.store.elasticsearch)
    raise ValueError(f"unknown store backend {settings.store.backend!r}")


__all__ = ["EmbeddedStore", "Store", "open_store"]
