"""The application factory."""

from __future__ import annotations

import logging

from flask import Flask

from config import Settings, load_settings
from cyberlab import health, observability, ratelimit
from cyberlab.api import exports, search, sightings
from cyberlab.errors import register_error_handlers
from cyberlab.services import build_services
from cyberlab.taxii import collections, discovery, manifest, objects, status
from indexer.store import open_store
from indexer.store.base import Store

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """Build the CyberLab WSGI app. Refuses unsafe settings outside dev mode."""
    settings = settings or load_settings()
    settings.require_safe_for_serving()
    observability.configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    # Werkzeug answers bodies over this with 413 before we read them.
    app.config["MAX_CONTENT_LENGTH"] = settings.taxii.max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cyberlab"] = build_services(settings, store or open_store(settings))
    register_error_handlers(app)
    for module in (
        discovery,
        collections,
        objects,
        manifest,
        status,
        health,
        observability,
        exports,
        search,
        sightings,
    ):
        app.register_blueprint(module.bp)
    observability.install(app)
    ratelimit.install(app, settings)
    if settings.server.dev:
        log.warning("app.dev_mode: do not expose this server; next tokens use a development key")
    return app
