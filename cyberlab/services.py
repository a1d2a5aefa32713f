"""What request handlers need, built once per app and reached through `services()`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from config import Settings
from cyberlab.auth.authenticator import Authenticator, build_authenticator
from cyberlab.auth.sessions import Sessions
from cyberlab.taxii.paging import PageTokens
from cyberlab.taxii.params import PagingLimits
from indexer import pattern
from indexer.sanitize import Sanitizer
from indexer.store.base import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    auth: Authenticator  # HTTP Basic callers
    sessions: Sessions  # web-session callers
    tokens: PageTokens
    limits: PagingLimits
    sanitizer: Sanitizer  # partner uploads pass the connectors' rules (warninglists load lazily)


def build_services(settings: Settings, store: Store) -> Services:
    pattern.configure(settings.validation)  # the limits every incoming pattern/object is held to
    return Services(
        settings=settings,
        store=store,
        auth=build_authenticator(settings, store),
        sessions=Sessions(store),
        tokens=PageTokens(settings.server.signing_key.reveal()),
        limits=PagingLimits(
            settings.taxii.default_page_size, settings.taxii.max_page_size, settings.limits.filter_values
        ),
        sanitizer=Sanitizer(settings.sanitize),
    )


def services() -> Services:
    return current_app.extensions["cyberlab"]  # type: ignore[no-any-return]
