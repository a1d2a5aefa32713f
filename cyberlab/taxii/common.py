"""Helpers shared by the TAXII resource modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from flask import Response

from config import CollectionSettings
from config.media import TAXII_MEDIA_TYPE
from cyberlab.auth.access import can_read, can_write, read_scope, write_owner
from cyberlab.auth.caller import Caller
from cyberlab.errors import Forbidden, NotFound, Unauthorized
from cyberlab.services import services
from cyberlab.taxii.media import require_taxii_accept
from cyberlab.taxii.params import parse_query
from cyberlab.urls import site_url
from indexer.store.base import ObjectQuery, Page
from indexer.timestamps import format_timestamp

EPOCH = 0


def taxii_json(
    body: Mapping[str, Any] | bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    response = Response(data, status=status, content_type=TAXII_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def api_root_url() -> str:
    settings = services().settings
    return f"{site_url(settings)}/taxii2/{settings.taxii.api_root}/"


def begin(api_root: str) -> Caller:
    """Checks every TAXII request starts with: acceptable media type, known API root, caller."""
    require_taxii_accept()
    if api_root != services().settings.taxii.api_root:
        raise NotFound(f"there is no API root named {api_root!r}", title="API root not found")
    return services().auth.caller()


def collection_for(caller: Caller, collection_id: str) -> CollectionSettings:
    """The collection, or 404; 401 for anonymous callers of a private one; 403 with no access."""
    collection = services().settings.collection(collection_id)
    if collection is None:
        raise NotFound(f"there is no collection {collection_id!r}", title="Collection not found")
    if not can_read(caller, collection) and not can_write(caller, collection):
        if caller.anonymous:
            raise Unauthorized(
                "this collection is not public; authenticate with your account name and API key"
            )
        raise Forbidden("your account has no access to this collection")
    return collection


def require_read(caller: Caller, collection: CollectionSettings) -> None:
    if not can_read(caller, collection):
        raise Forbidden("your account may not read this collection")


def require_write(caller: Caller, collection: CollectionSettings) -> None:
    if not can_write(caller, collection):
        if caller.anonymous:
            raise Unauthorized("adding objects needs an account with write access")
        raise Forbidden("your account may not write to this collection")


def readable_query(
    api_root: str, collection_id: str, endpoint: str, object_id: str | None = None, write: bool = False
) -> tuple[ObjectQuery, str]:
    """The checks every read (and delete) starts with, then the parsed query and its fingerprint.

    Deleting needs write access on top of read: you must be able to see what you remove, and
    own it (the account that stored it first; admins act for the platform and own everything).
    The query carries the caller's scope (cyberlab.auth.access.read_scope): what it may not see is
    absent, the same in every endpoint.
    """
    caller = begin(api_root)
    collection = collection_for(caller, collection_id)
    require_read(caller, collection)
    if write:
        require_write(caller, collection)
    svc = services()
    query, fingerprint = parse_query(endpoint, collection.id, svc.limits, svc.tokens, object_id)
    scope = read_scope(caller, collection, svc.settings.sightings_collection)
    query = replace(query, max_tlp_rank=scope.max_tlp_rank, owner=scope.owner)
    if object_id is not None:
        owner = svc.store.object_owner(collection.id, object_id)
        probe = replace(query, versions=("all",), spec_versions=(), added_after=None, after=None, limit=1)
        # What the caller may not see is absent for every method: a DELETE of an object outside its
        # scope is the same 404 as a GET, so neither tells whether another partner stored that id.
        if owner is None or not svc.store.query(probe).objects:
            raise NotFound(f"there is no object {object_id!r} in this collection", title="Object not found")
        if write and caller.role != "admin" and owner != write_owner(caller):
            raise Forbidden("another account stored this object: only it may delete it")
    return query, fingerprint


def date_added_headers(page: Page, query: ObjectQuery) -> dict[str, str]:
    """X-TAXII-Date-Added-First/Last. An empty page echoes the position the client asked from,
    so a client that resumes with added_after = Last neither skips nor repeats anything; an empty
    page asked from nowhere (no added_after, no next) has nothing to report and carries neither."""
    if page.objects:
        first, last = page.date_added_first, page.date_added_last
    elif query.after is None and query.added_after is None:
        return {}
    else:
        position = query.after.date_added if query.after else (query.added_after or EPOCH)
        first = last = position
    return {
        "X-TAXII-Date-Added-First": format_timestamp(first or EPOCH),
        "X-TAXII-Date-Added-Last": format_timestamp(last or EPOCH),
    }


def envelope_head(page: Page, fingerprint: str) -> dict[str, Any]:
    head: dict[str, Any] = {"more": page.more}
    if page.more:
        head["next"] = services().tokens.issue(page.objects[-1].keyset, fingerprint)
    return head
