"""Firewall- and DNS-filter-ready exports of a collection's current indicators.

    GET /api/v1/collections/<collection>/export/<kind>.<format>
        kind:   ip | cidr | domain | url | hash | all
        format: txt (one value per line; pfBlockerNG, Pi-hole, FortiGate external feeds)
                csv (value,type,first_seen,last_seen,valid_until,tlp,labels,sources,indicator)
                stix.json (a STIX 2.1 bundle of the indicators themselves)
                rpz, hosts, zeek, edl (formats.py), rules (Suricata rules, suricata.py)

Only the latest version of each indicator, neither revoked nor expired, is exported, with the values
indexer.search.values.pattern_values finds in it: every value that identifies a thing on its own
(each hash of a file, the domain and address of a domain|ip, the address of an ip|port), never a
context comparison (file:name, a port), a negation, or observations that must be seen together
(AND, FOLLOWEDBY, WITHIN). Each csv row names its indicator. Access follows TAXII's:
HTTP Basic with the account's API key, anonymous for public collections. Every line is checked again
before it is written (defence in depth behind ingest): a value that is not one well-formed value of
its kind, or a network broader than sanitize.min_prefix_v4/v6, is never emitted. ETag and
Last-Modified change only when the collection gains or loses objects or an exported indicator
expires, so a poller's If-None-Match is answered 304 without rebuilding the list.
"""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import threading
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import orjson
from flask import Blueprint, Response, request

from config.media import STIX_MEDIA_TYPE
from cyberlab.api import formats, suricata
from cyberlab.auth.access import ReadScope, can_read, read_scope
from cyberlab.errors import Forbidden, NotFound, Unauthorized
from cyberlab.services import services
from indexer.search.values import pattern_values
from indexer.store.base import Keyset, ObjectQuery
from indexer.timestamps import now_micros, parse_timestamp
from indexer.tlp import effective_tlp
from indexer.wellformed import scheme_less_url, value_problem

bp = Blueprint("exports", __name__)
KINDS = ("ip", "cidr", "domain", "url", "hash", "all")
FORMATS = {
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "stix.json": STIX_MEDIA_TYPE,
    # formats.py: what DNS filters and firewalls load
    "rpz": "text/dns; charset=utf-8",
    "hosts": "text/plain; charset=utf-8",
    "zeek": "text/tab-separated-values; charset=utf-8",
    "edl": "text/plain; charset=utf-8",
    "rules": "text/plain; charset=utf-8",  # suricata.py: Suricata rules
}
# Kinds a format can hold (a hosts file lists names only; an RPZ zone names and addresses).
FORMAT_KINDS = {
    "hosts": ("domain", "all"),
    "rpz": ("ip", "cidr", "domain", "all"),
    "rules": ("ip", "cidr", "domain", "url", "all"),
}
_PAGE = 5000


@dataclass(frozen=True)
class Entry:
    value: str
    kind: str  # ip, cidr, domain, url, hash
    indicator: dict[str, Any]

    @property
    def indicator_id(self) -> str:
        return str(self.indicator.get("id", ""))


def entries(indicator: dict[str, Any], min_prefix: dict[int, int] | None = None) -> list[Entry]:
    """The values a blocklist can carry for one indicator (pattern_values), none that is not exactly
    one well-formed value (or is a network broader than min_prefix)."""
    pattern = indicator.get("pattern", "")
    if indicator.get("pattern_type") != "stix" or not isinstance(pattern, str):
        return []
    found = []
    for v in pattern_values(pattern):
        # A URL stored without its scheme (MISP: `www.example.top/x`) is listed as the http:// URL
        # it means; an IP address stored as a domain name reaches no list (not a DNS name).
        value = (scheme_less_url(v.value) or v.value) if v.kind == "url" else v.value
        if v.kind in KINDS and exportable(v.kind, value, min_prefix or _MIN_PREFIX):
            found.append(Entry(value, v.kind, indicator))
    return found


_MIN_PREFIX = {4: 16, 6: 32}


def exportable(kind: str, value: str, min_prefix: dict[int, int]) -> bool:
    """Whether `value` may be one line of a blocklist: one well-formed value of its kind, and no
    network broader than the minimum prefixes (0.0.0.0/0 in a firewall list blocks everything)."""
    if value_problem(kind, value):
        return False
    if kind in ("ip", "cidr"):
        network = ipaddress.ip_network(value, strict=False)
        return network.prefixlen >= min_prefix[network.version]
    return True


def _current(indicator: dict[str, Any], now: int) -> bool:
    if indicator.get("revoked"):
        return False
    until = indicator.get("valid_until")
    return not until or parse_timestamp(until) > now


@dataclass
class Built:
    body: bytes
    etag: str
    last_modified: int  # micros
    fresh_until: int  # micros: the earliest valid_until among what was exported
    left_out: int = 0  # entries over a format's line limit (edl, rules)


# Keyed by the reader's scope too: a subscriber's list must never be an analyst's cached one.
_cache: dict[tuple[str, str, str, ReadScope], Built] = {}
_cache_lock = threading.Lock()


def _build(collection: str, kind: str, fmt: str, newest: int, now: int, scope: ReadScope) -> Built:
    store = services().store
    sanitize = services().settings.sanitize
    min_prefix = {4: sanitize.min_prefix_v4, 6: sanitize.min_prefix_v6}
    selected: list[Entry] = []
    fresh_until = 2**62
    after: Keyset | None = None
    while True:
        page = store.query(
            ObjectQuery(
                collection,
                types=("indicator",),
                limit=_PAGE,
                after=after,
                max_tlp_rank=scope.max_tlp_rank,
                owner=scope.owner,
            )
        )
        for stored in page.objects:
            indicator = orjson.loads(stored.body)
            if not _current(indicator, now):
                continue
            picked = [
                e
                for e in entries(indicator, min_prefix)
                if kind == "all" or e.kind == kind or (kind == "cidr" and e.kind == "ip")
            ]
            if picked and indicator.get("valid_until"):
                fresh_until = min(fresh_until, parse_timestamp(indicator["valid_until"]))
            selected.extend(picked)
        if not page.more:
            break
        after = page.objects[-1].keyset
    left_out = 0
    if fmt == "edl":
        body, left_out = formats.edl(selected, services().settings.limits.edl_lines)
    elif fmt == "rpz":
        body = formats.rpz(selected, serial=max(1, newest // 1_000_000) % 2**32)
    elif fmt == "hosts":
        body = formats.hosts(selected)
    elif fmt == "zeek":
        body = formats.zeek(selected, services().settings.platform_name)
    elif fmt == "rules":
        settings = services().settings.collection(collection)
        body, left_out = suricata.rules(selected, settings.alias if settings else collection)
    else:
        body = _render(selected, kind, fmt)
    etag = hashlib.sha256(body).hexdigest()[:32]
    return Built(body, f'"{etag}"', newest, fresh_until, left_out)


def _render(selected: list[Entry], kind: str, fmt: str) -> bytes:
    if fmt == "stix.json":
        unique = {e.indicator["id"]: e.indicator for e in selected}
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(unique.values())}
        return orjson.dumps(bundle)
    if fmt == "txt":
        values = sorted({_as_cidr(e) if kind == "cidr" else e.value for e in selected})
        return ("\n".join(values) + ("\n" if values else "")).encode()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = [
        "value",
        "type",
        "first_seen",
        "last_seen",
        "valid_until",
        "tlp",
        "labels",
        "sources",
        "indicator",
    ]
    writer.writerow(header)
    for entry in sorted(selected, key=lambda e: (e.kind, e.value)):
        ind = entry.indicator
        tlp = effective_tlp(ind) or ""
        sources = ";".join(r["source_name"] for r in ind.get("external_references", []) if "source_name" in r)
        # A leading = + - @ would be a formula to a spreadsheet: indicator values are attacker-chosen.
        cells = [
            entry.value,
            entry.kind,
            ind.get("valid_from", ""),
            ind.get("modified", ""),
            ind.get("valid_until", ""),
            tlp,
            ";".join(ind.get("labels", [])),
            sources,
            ind.get("id", ""),  # the indicator this value comes from: one indicator, several rows
        ]
        writer.writerow([_cell(str(c)) for c in cells])
    return out.getvalue().encode()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ TAB or CR would make it a formula
    (labels and sources are attacker-chosen), so it gets a leading quote; control characters
    (a bare CR or LF would break rows in some readers) become spaces."""
    if text.startswith(_FORMULA_STARTS):
        text = "'" + text
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def _as_cidr(entry: Entry) -> str:
    if entry.kind == "cidr":
        return entry.value
    return entry.value + ("/128" if ":" in entry.value else "/32")


@bp.get("/api/v1/collections/<collection_id>/export/<name>")
def export(collection_id: str, name: str) -> Response:
    kind, _, fmt = name.partition(".")
    caller = services().auth.caller()
    if caller.anonymous:
        # a logged-in web user clicking a download link (GET: no CSRF risk)
        caller = services().sessions.caller()
    collection = services().settings.collection(collection_id)
    if collection is None:
        raise NotFound(f"there is no collection {collection_id!r}", title="Collection not found")
    if not can_read(caller, collection):
        if caller.anonymous:
            raise Unauthorized("this collection is not public; use your account name and API key")
        raise Forbidden("your account may not read this collection")
    if kind not in KINDS or fmt not in FORMATS or kind not in FORMAT_KINDS.get(fmt, KINDS):
        raise NotFound(
            f"exports are <kind>.<format> with kind in {', '.join(KINDS)} and format in {', '.join(FORMATS)}"
            f" (hosts: domain or all; rpz: ip, cidr, domain or all; rules: ip, cidr, domain, url or all)",
            title="No such export",
        )
    now = now_micros()
    newest = services().store.last_change(collection.id)  # adds and deletes alike
    scope = read_scope(caller, collection, services().settings.sightings_collection)
    key = (collection.id, kind, fmt, scope)
    with _cache_lock:
        built = _cache.get(key)
    if built is None or built.last_modified != newest or now >= built.fresh_until:
        built = _build(collection.id, kind, fmt, newest, now, scope)
        with _cache_lock:
            _cache[key] = built
    last_modified = format_datetime(datetime.fromtimestamp(built.last_modified / 1e6, tz=UTC), usegmt=True)
    headers = {
        "ETag": built.etag,
        "Last-Modified": last_modified,
        "Cache-Control": "private, max-age=60",
        "X-Content-Type-Options": "nosniff",
    }
    if built.left_out:
        headers["X-Entries-Left-Out"] = str(built.left_out)  # over limits.edl_lines or a rule's length
    if _not_modified(built):
        return Response(status=304, headers=headers)
    response = Response(built.body, content_type=FORMATS[fmt], headers=headers)
    response.headers["Content-Disposition"] = f'inline; filename="{collection.alias}-{kind}.{fmt}"'
    return response


def _not_modified(built: Built) -> bool:
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return built.etag in [t.strip() for t in tags.split(",")] or tags.strip() == "*"
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return parsedate_to_datetime(since).timestamp() * 1e6 >= built.last_modified - 999_999
        except (TypeError, ValueError):
            return False
    return False


# -- for other writers of blocklists (the email digest's CSV attachment) ----------------------
def is_current(indicator: dict[str, Any], now: int) -> bool:
    """Still worth blocking: neither revoked nor past valid_until (what every export keeps)."""
    return _current(indicator, now)


def render_blocklist(selected: list[Entry], fmt: str) -> bytes:
    """A blocklist of every kind in one of FORMATS, exactly as the export endpoint writes it."""
    return _render(selected, "all", fmt)
