"""What the JSON API's endpoints share: callers, parameters, times, JSON responses."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, request

from cyberlab.auth.access import read_scope, readable_collections
from cyberlab.auth.caller import Caller
from cyberlab.auth.clearance import tlp_clearance
from cyberlab.errors import BadRequest, Forbidden, Unauthorized
from cyberlab.services import services
from indexer.search.model import Hit, SearchQuery
from indexer.timestamps import format_timestamp, now_micros, parse_timestamp


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json")


def require_role(*roles: str) -> Caller:
    """The authenticated caller, if its role is one of `roles` (admin always is)."""
    caller = services().auth.caller()
    if caller.anonymous:
        raise Unauthorized("this endpoint needs an account: HTTP Basic with your account name and API key")
    if caller.role != "admin" and caller.role not in roles:
        raise Forbidden(f"this endpoint is for the {' or '.join(roles)} role")
    return caller


def check_known_params(known: tuple[str, ...]) -> None:
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        raise BadRequest(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}")


def many(name: str) -> tuple[str, ...]:
    """A parameter given several times or comma-separated: ?type=a&type=b or ?type=a,b.
    Duplicates are dropped and the distinct values capped (limits.filter_values)."""
    values = tuple(
        dict.fromkeys(v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip())
    )
    cap = services().settings.limits.filter_values
    if len(values) > cap:
        raise BadRequest(
            f"{name}: {len(values)} different values; at most {cap} are allowed (limits.filter_values)"
        )
    return values


def time_param(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw == "now":
        return now_micros()
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an RFC 3339 timestamp such as 2026-03-01T00:00:00Z") from None


def int_param(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def bool_param(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name} must be true or false")


def stamp(micros: int | None) -> str | None:
    """RFC 3339, as short as the instant allows (2026-03-01T00:00:00Z, ...00.250Z)."""
    if not micros:
        return None
    text = format_timestamp(micros)  # ...SS.ffffffZ
    if micros % 1_000_000 == 0:
        return text[:19] + "Z"
    return text[:23] + "Z" if micros % 1000 == 0 else text


def visible_copies(caller: Caller, object_id: str) -> list[Hit]:
    """The latest version of one id in each collection holding it, as far as the caller may see
    it: a collection it may read, a TLP its clearance covers, and (where it reads only its own
    objects) its own. What the pivot shows and what a sighting upload may refer to."""
    svc = services()
    readable = readable_collections(caller, svc.settings.collections.values())
    if not readable or len(object_id) > 200:
        return []
    query = SearchQuery(
        collections=tuple(c.id for c in readable), max_tlp=tlp_clearance(caller), ids=(object_id,)
    )
    visible = []
    for hit in svc.store.search(query).hits:
        collection = svc.settings.collection(hit.collection)
        if collection is None:
            continue
        scope = read_scope(caller, collection, svc.settings.sightings_collection)
        if scope.owner is None or svc.store.object_owner(collection.id, object_id) == scope.owner:
            visible.append(hit)
    return visible
