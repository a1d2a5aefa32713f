"""What the JSON API's endpoints share: callers, parameters, times, JSON responses."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, request

from cyberlab.auth.caller import Caller
from cyberlab.errors import BadRequest, Forbidden, Unauthorized
from cyberlab.services import services
from indexer.timestamps import now_micros, parse_timestamp


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
