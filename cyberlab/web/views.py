"""The web pages: home, indicator, search, subscribe, login/logout and the sightings upload."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext, lazy_gettext, ngettext
from werkzeug.exceptions import HTTPException

from cyberlab.api import suricata
from cyberlab.api.search import SEARCH_PARAMS
from cyberlab.api.sightings import lines_from_csv, lines_from_stix, record_sightings
from cyberlab.auth.access import readable_collections
from cyberlab.auth.caller import Caller
from cyberlab.auth.clearance import tlp_clearance
from cyberlab.errors import Forbidden, NotFound, TaxiiError, register_error_page
from cyberlab.indicators import HitView, hit_view, indicator_detail
from cyberlab.services import services
from cyberlab.urls import site_url
from cyberlab.web.search_form import bad_search, run_search
from cyberlab.web.security import check_csrf, csrf_token, web_caller
from cyberlab.web.trends import KINDS as TREND_KINDS
from cyberlab.web.trends import build_trend
from indexer.search.model import SORTS, SearchQuery
from indexer.sightings import MAX_LINES
from indexer.timestamps import format_timestamp, now_micros

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
DAY = 86_400_000_000


HOME_ROWS = 15  # rows in each table of the home page


def kind_name(kind: str) -> str:
    """One value's kind in the reader's language ('IP address', 'dirección IP')."""
    names = {
        "ip": lazy_gettext("IP address"),
        "cidr": lazy_gettext("network"),
        "domain": lazy_gettext("domain"),
        "url": lazy_gettext("URL"),
        "hash": lazy_gettext("file hash"),
        "email": lazy_gettext("email address"),
    }
    return str(names.get(kind, kind))


def kind_count(kind: str, n: int) -> str:
    """'1 IP address', '2,310 IP addresses', in the reader's language."""
    count = f"{n:,}"
    if kind == "ip":
        return str(ngettext("%(count)s IP address", "%(count)s IP addresses", n, count=count))
    if kind == "domain":
        return str(ngettext("%(count)s domain", "%(count)s domains", n, count=count))
    if kind == "url":
        return str(ngettext("%(count)s URL", "%(count)s URLs", n, count=count))
    if kind == "hash":
        return str(ngettext("%(count)s file hash", "%(count)s file hashes", n, count=count))
    return str(ngettext("%(count)s other value", "%(count)s other values", n, count=count))


def kind_plural(kind: str) -> str:
    """The legend's name for a kind: 'IP addresses'."""
    names = {
        "ip": lazy_gettext("IP addresses"),
        "domain": lazy_gettext("domains"),
        "url": lazy_gettext("URLs"),
        "hash": lazy_gettext("file hashes"),
    }
    return str(names.get(kind, lazy_gettext("other values")))


def status_title(status: int, title: str) -> str:
    """An error page's title in the reader's language (the explanation below it stays as raised)."""
    titles = {
        400: lazy_gettext("Bad request"),
        401: lazy_gettext("Log in needed"),
        403: lazy_gettext("Forbidden"),
        404: lazy_gettext("Not found"),
        405: lazy_gettext("Method not allowed"),
        413: lazy_gettext("Too large"),
        415: lazy_gettext("Unsupported media type"),
        422: lazy_gettext("Cannot process this"),
        429: lazy_gettext("Too many requests"),
        500: lazy_gettext("Server error"),
        503: lazy_gettext("Unavailable"),
    }
    return str(titles[status]) if status in titles else title


def advice_word(code: str) -> str:
    return str(gettext("block") if code == "block" else gettext("watch"))


@dataclass(frozen=True)
class Row:
    hit: HitView
    value: dict[str, str] | None  # None: an object shown by name (search results only)
    advice: tuple[str, str]  # (block or watch, what to do)


def visible(text: Any, limit: int = 0) -> str:
    """Attacker text made inert for display: bidi controls shown as escapes, long text cut."""
    shown = _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text or ""))
    if limit and len(shown) > limit:
        return f"{shown[:limit]}… ({len(shown):,} characters)"
    return shown


@bp.app_template_filter("stamp_date")
def _stamp_date(micros: int | None) -> str:
    return format_timestamp(micros)[:10] if micros else ""


@bp.app_template_filter("visible")
def _visible_filter(text: Any, limit: int = 0) -> str:
    return visible(text, limit)


@bp.app_context_processor
def _page_context() -> dict[str, Any]:
    return {
        "caller": web_caller(),
        "csrf_token": csrf_token,
        "platform": services().settings.platform_name,
        "kind_count": kind_count,
        "kind_name": kind_name,
        "kind_plural": kind_plural,
        "advice_word": advice_word,
        "status_title": status_title,
    }


def _scope(caller: Caller) -> tuple[tuple[str, ...], int]:
    readable = readable_collections(caller, services().settings.collections.values())
    return tuple(c.id for c in readable) or ("-none-",), tlp_clearance(caller)


def advice(hit: HitView) -> tuple[str, str]:
    if hit.revoked:
        return "watch", gettext("Withdrawn: no longer considered malicious. Remove it from blocklists.")
    until = hit.valid_until
    if until and until < datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"):
        return "watch", gettext("Expired: not seen recently. Watch your logs for it; blocking is optional.")
    kind = hit.values[0]["kind"] if hit.values else ""
    if kind in ("ip", "cidr"):
        return "block", gettext("Block it in your firewall, and check your logs for past contact.")
    if kind == "domain":
        return "block", gettext("Block it in your DNS filter, and check your logs for past contact.")
    if kind == "url":
        return "block", gettext("Block it in your web proxy, and check your logs for past contact.")
    return "block", gettext("Block it in your security tools, and check your logs for past contact.")


def _hits(caller: Caller, **filters: Any) -> list[HitView]:
    collections, clearance = _scope(caller)
    result = services().store.search(SearchQuery(collections=collections, max_tlp=clearance, **filters))
    return [hit_view(h, services().settings) for h in result.hits]


@bp.get("/")
def home() -> str:
    caller = web_caller()
    collections, clearance = _scope(caller)
    latest = _hits(caller, types=("indicator",), revoked=False, valid_at=now_micros(), limit=HOME_ROWS)
    sighted = _hits(caller, types=("indicator",), min_sightings=1, sort="-sightings", limit=HOME_ROWS)
    trend = build_trend(
        services().store,
        collections,
        clearance,
        now_micros(),
        max_objects=services().settings.limits.trend_objects,
    )
    return render_template(
        "home.html",
        latest=value_rows(latest, HOME_ROWS),
        sighted=value_rows(sighted, HOME_ROWS),
        trend=trend,
        trend_kinds=TREND_KINDS,
    )


def value_rows(hits: list[HitView], limit: int = 0, keep_valueless: bool = False) -> list[Row]:
    """One table row per blockable value (a file with three hashes is three rows to block).

    The values are what indexer.search.values extracted; objects without any (a compound
    pattern no single value stands for, a report) are left out unless `keep_valueless`.
    """
    rows: list[Row] = []
    for hit in hits:
        values: list[dict[str, str] | None] = [*hit.values] or ([None] if keep_valueless else [])
        for value in values:
            rows.append(Row(hit, value, advice(hit)))
            if limit and len(rows) >= limit:
                return rows
    return rows


@bp.get("/indicators/<object_id>")
def indicator(object_id: str) -> str:
    svc = services()
    detail = indicator_detail(svc.store, svc.settings, web_caller(), object_id)
    if detail is None:
        raise NotFound("there is no such indicator, or you may not see it (log in?)")
    return render_template(
        "indicator.html",
        d=detail,
        advice=advice(detail.summary),
        pivots=pivots(detail.summary),
    )


def pivots(hit: HitView) -> list[tuple[str, str]]:
    """Searches an analyst runs next from this indicator: its network, its domain, its sources."""
    links = []
    for value in hit.values:
        if value["kind"] == "ip" and "." in value["value"]:
            net = ".".join(value["value"].split(".")[:3]) + ".0/24"
            links.append((f"Everything in {net}", url_for("web.search_page", cidr=net)))
        elif value["kind"] == "domain":
            links.append(
                (f"Everything on {value['value']}", url_for("web.search_page", domain=value["value"]))
            )
    for source in hit.sources[:5]:
        links.append((f"Everything from {source}", url_for("web.search_page", source=source)))
    return links


@bp.get("/search")
def search_page() -> tuple[str, int]:
    caller = web_caller()
    collections, clearance = _scope(caller)
    analyst = caller.role in ("analyst", "admin")
    status = 200
    try:
        page = run_search(collections, clearance, with_facets=analyst)
    except TaxiiError as exc:  # a malformed filter: the form again, saying what was wrong
        page, status = bad_search(exc), exc.status
    form = {name: request.args.get(name, "") for name in SEARCH_PARAMS}
    html = render_template(
        "search.html",
        page=page,
        hits=page.hits,
        rows=value_rows(page.hits, keep_valueless=True),
        form=form,
        analyst=analyst,
        sorts=SORTS,
    )
    return html, status


@bp.get("/subscribe")
def subscribe() -> str:
    caller = web_caller()
    settings = services().settings
    collections = readable_collections(caller, settings.collections.values())
    return render_template(
        "subscribe.html",
        base=site_url(settings),
        api_root=settings.taxii.api_root,
        collections=collections,
        edl_lines=settings.limits.edl_lines,
        sid_first=suricata.SID_BASE,
        sid_last=suricata.SID_BASE + suricata.SID_SPAN - 1,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    error = ""
    if request.method == "POST":
        check_csrf()
        name, key = request.form.get("name", "").strip(), request.form.get("key", "")
        # The same check as HTTP Basic: equal work for unknown names, failed logins throttled.
        account = services().auth.authenticate(name, key) if name else None
        if account is not None:
            services().sessions.start(account)
            return redirect(url_for("web.home"))  # type: ignore[return-value]
        error = gettext("That account name and API key do not match an active account.")
    return render_template("login.html", error=error)


@bp.post("/logout")
def logout() -> Response:
    check_csrf()
    services().sessions.end()  # the cookie's generation is now stale, wherever a copy of it is
    return redirect(url_for("web.home"))  # type: ignore[return-value]


@bp.route("/sightings/upload", methods=["GET", "POST"])
def upload() -> Response | str:
    caller = web_caller()
    if caller.anonymous:
        return redirect(url_for("web.login"))  # type: ignore[return-value]
    if caller.role not in ("partner", "analyst", "admin"):
        raise Forbidden("uploading sightings is for partner and analyst accounts")
    if request.method == "GET":
        return _upload_form("")
    check_csrf()
    file = request.files.get("file")
    text = (
        file.read().decode("utf-8", "replace") if file and file.filename else request.form.get("values", "")
    )
    try:
        stix = text.lstrip().startswith("{")
        lines = lines_from_stix(text, caller) if stix else lines_from_csv(text)
    except TaxiiError as exc:  # malformed, or over limits.upload_lines (then a 413)
        return _upload_form(exc.description, exc.status)
    if not lines:
        return _upload_form("Paste at least one value, or choose a CSV or STIX file.")
    try:
        receipt = record_sightings(caller, lines)
    except TaxiiError as exc:
        return _upload_form(exc.description)
    return render_template("receipt.html", receipt=receipt)


def _upload_form(error: str, status: int = 200) -> Response | str:
    settings = services().settings
    limit = settings.taxii.max_content_length
    max_lines = min(MAX_LINES, settings.limits.upload_lines)
    page = render_template("upload.html", error=error, max_lines=max_lines, max_mb=round(limit / 1e6, 1))
    return Response(page, status=status, content_type="text/html; charset=utf-8") if status != 200 else page


def render_error(exc: HTTPException | TaxiiError) -> tuple[str, int]:
    status = exc.status if isinstance(exc, TaxiiError) else (exc.code or 500)
    title = exc.title if isinstance(exc, TaxiiError) else exc.name
    description = exc.description if isinstance(exc, TaxiiError) else (exc.description or "")
    return render_template("error.html", status=status, title=title, description=description), status


@bp.record_once
def _error_pages(state: BlueprintSetupState) -> None:
    register_error_page(state.app, bp.name, render_error)
