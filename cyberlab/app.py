"""The application factory."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from flask import Flask

from config import Settings, load_settings
from cyberlab import health, observability, proxies, ratelimit
from cyberlab.api import check, exports, openapi, search, sightings
from cyberlab.errors import register_error_handlers
from cyberlab.services import build_services
from cyberlab.taxii import collections, discovery, manifest, objects, status
from cyberlab.web import admin as web_admin
from cyberlab.web import check_views as web_check
from cyberlab.web import digest_views as web_digest
from cyberlab.web import views as web_views
from cyberlab.web.security import add_security_headers
from indexer.store import open_store
from indexer.store.base import Store

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """Build the CyberLab WSGI app. Refuses unsafe settings outside dev mode."""
    settings = settings or load_settings()
    settings.require_safe_for_serving()
    observability.configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__, static_folder=None)  # the web blueprint serves /static/
    # Werkzeug answers bodies over this with 413 before we read them.
    app.config["MAX_CONTENT_LENGTH"] = settings.taxii.max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cyberlab"] = build_services(settings, store or open_store(settings))
    app.secret_key = hashlib.sha256(
        b"cyberlab-session:" + settings.server.signing_key.reveal().encode()
    ).digest()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.server.secure_cookies and not settings.server.dev,
        SESSION_COOKIE_NAME="cyberlab_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.server.session_hours),
    )
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
        check,
        openapi,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(web_views.bp)
    app.register_blueprint(web_admin.bp)
    app.register_blueprint(web_digest.bp)
    app.register_blueprint(web_check.bp)
    app.after_request(add_security_headers)
    observability.install(app)
    ratelimit.install(app, settings)
    proxies.install(app, settings.server.trusted_proxies, settings.server.proxy_hops)
    if settings.server.dev:
        log.warning("app.dev_mode: do not expose this server; next tokens use a development key")
    return app
