"""The OpenAPI 3.0 description of the JSON API, served at /api/v1/openapi.json.

Written by hand, next to the code it describes, and checked against the running server by the
schemathesis run in tests/cyberlab/test_openapi.py: every documented operation is called with
generated requests, and no answer may be a 5xx or break this description. Lists that the code
also uses (sort orders, facet names, export kinds and formats) come from the code.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, Response

from config.media import STIX_JSON, STIX_MEDIA_TYPE
from cyberlab.api.common import json_response
from cyberlab.api.exports import FORMATS, KINDS
from cyberlab.api.search import MAX_LIMIT
from cyberlab.services import services
from indexer.search.model import FACETS, SORTS
from indexer.sightings import MAX_LINES
from indexer.tlp import TLP_ORDER

bp = Blueprint("openapi", __name__)

NULLABLE_STRING = {"type": "string", "nullable": True}
TIMESTAMP = {"type": "string", "nullable": True, "description": "RFC 3339, UTC"}
ERRORS = {
    "400": "The request is malformed; the description says what was wrong.",
    "401": "An account is needed: HTTP Basic with the account name and API key.",
    "403": "The account's role or collections do not allow this.",
    "404": "Not found, or not in a collection the caller may read.",
    "429": "A rate limit or quota is exhausted; Retry-After says when to try again.",
    "503": "The store is unavailable; nothing was changed. Retry-After says when to try again.",
}


def _error_responses(*codes: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        out[code] = {
            "description": ERRORS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if code == "400":
            # gunicorn itself refuses a request line over 4 KiB, before the application sees it.
            out[code]["content"]["text/html"] = {
                "schema": {
                    "type": "string",
                    "description": "From the HTTP server: the request line is too long.",
                }
            }
        if code in ("429", "503"):
            out[code]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return out


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _list_param(name: str, description: str, enum: tuple[str, ...] = ()) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "string", "enum": list(enum)} if enum else {"type": "string"}
    return {
        **_query(name, {"type": "array", "items": item}, description + " Repeat or comma-separate."),
        "style": "form",
        "explode": True,
    }


def _search_parameters() -> list[dict[str, Any]]:
    when = {"type": "string", "format": "date-time"}
    return [
        _query(
            "q",
            {"type": "string", "maxLength": 1000},
            "Free text over values, names, descriptions, patterns.",
        ),
        _query(
            "syntax", {"type": "string", "enum": ["plain", "advanced"]}, "plain: q is words, never syntax."
        ),
        _list_param("type", "STIX type, e.g. indicator."),
        _list_param("value", "Exact observable value, e.g. 203.0.113.7."),
        _query("cidr", {"type": "string"}, "IP addresses inside this network, e.g. 198.51.100.0/24."),
        _query("domain", {"type": "string"}, "This domain and its subdomains."),
        _list_param("source", "Source name (external reference)."),
        _list_param("label", "Label."),
        _list_param("tlp", "TLP level.", TLP_ORDER),
        _list_param("collection", "Collection alias or id."),
        _query("first_seen_after", when, "First seen at or after."),
        _query("first_seen_before", when, "First seen before."),
        _query("last_seen_after", when, "Last seen at or after."),
        _query("last_seen_before", when, "Last seen before."),
        _query("valid_at", when, "Valid at this instant."),
        _query("active", {"type": "boolean"}, "Valid now and not revoked."),
        _query("has_sightings", {"type": "boolean"}, "Sighted at least once."),
        _query(
            "min_sightings", {"type": "integer", "minimum": 0, "maximum": 2**31}, "Minimum sighting count."
        ),
        _query("revoked", {"type": "boolean"}, "Only revoked (true) or only live (false) objects."),
        _query("sort", {"type": "string", "enum": list(SORTS)}, "Order; relevance needs q."),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Results per page."),
        _query("next", {"type": "string"}, "The cursor of the previous page, with the same filters."),
        _query(
            "facets",
            {"type": "boolean"},
            f"Counts of all matches (not only this page) by {', '.join(FACETS)}: the 50 most frequent"
            " values of each. Exact, except when free text matches more than the server's"
            " search.facet_sample_size (default 50,000): then estimated from a spread sample of about"
            " that many matches, scaled up to all of them, and the answer says so"
            " (facets_sampled, facets_sample_size).",
        ),
        _query("histogram", {"type": "boolean"}, "Sightings per day."),
    ]


def _schemas() -> dict[str, Any]:
    hit = {
        "type": "object",
        "required": ["id", "type", "collection", "values", "labels", "sources", "revoked", "sightings"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "collection": {"type": "string"},
            "values": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "name": NULLABLE_STRING,
            "description": NULLABLE_STRING,
            "labels": {"type": "array", "items": {"type": "string"}},
            "sources": {"type": "array", "items": {"type": "string"}},
            "tlp": NULLABLE_STRING,
            "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP,
            "valid_until": TIMESTAMP,
            "revoked": {"type": "boolean"},
            "sightings": {"type": "integer", "minimum": 0},
            "organizations": {"type": "integer", "minimum": 0},
            "links": {"type": "object", "properties": {"self": {"type": "string"}}},
        },
    }
    counts = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
    receipt_line = {
        "type": "object",
        "required": ["line", "status"],
        "properties": {
            "line": {"type": "integer"},
            "value": {"type": "string"},
            "status": {"type": "string", "enum": ["accepted", "duplicate", "rejected"]},
            "reason": {"type": "string"},
            "sighting_id": {"type": "string"},
            "indicator_id": {"type": "string"},
            "new_indicator": {"type": "boolean"},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["title", "http_status"],
            "properties": {
                "title": {"type": "string"},
                "http_status": {"type": "string"},
                "description": {"type": "string"},
            },
        },
        "Hit": hit,
        "SearchResult": {
            "type": "object",
            "required": ["total", "total_is_exact", "more", "results"],
            "properties": {
                "total": {"type": "integer", "minimum": 0},
                "total_is_exact": {"type": "boolean"},
                "more": {"type": "boolean"},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                "next": {"type": "string"},
                "facets": {"type": "object", "additionalProperties": counts},
                "facets_sampled": {
                    "type": "boolean",
                    "description": "With facets: true when the counts are estimates scaled up from a sample",
                },
                "facets_sample_size": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "With sampled facets: how many matches were counted",
                },
                "histogram": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["day", "sightings"],
                        "properties": {
                            "day": {"type": "string", "format": "date"},
                            "sightings": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "IndicatorDetail": {
            "type": "object",
            "required": ["object", "summary", "collections", "versions", "sightings", "related"],
            "properties": {
                "object": {"type": "object", "description": "The newest version, as STIX 2.1 JSON."},
                "summary": {"$ref": "#/components/schemas/Hit"},
                "collections": {"type": "array", "items": {"type": "string"}},
                "versions": {"type": "array", "items": {"type": "object"}},
                "sightings": {
                    "type": "object",
                    "required": ["organizations", "count"],
                    "properties": {
                        "organizations": {"type": "integer"},
                        "count": {"type": "integer"},
                        "first_seen": TIMESTAMP,
                        "last_seen": TIMESTAMP,
                        "by_organization": {
                            "type": "array",
                            "description": "Analysts only: who saw it.",
                            "items": {"type": "object"},
                        },
                    },
                },
                "related": {"type": "array", "items": {"type": "object"}},
            },
        },
        "SightingsUpload": {
            "type": "object",
            "required": ["sightings"],
            "properties": {
                "sightings": {
                    "type": "array",
                    "maxItems": MAX_LINES,
                    "items": {
                        "type": "object",
                        "required": ["value"],
                        "properties": {
                            "value": {"type": "string", "example": "203.0.113.7"},
                            "type": {"type": "string", "example": "ipv4"},
                            "count": {"type": "integer", "minimum": 1},
                            "first_seen": {"type": "string", "format": "date-time"},
                            "last_seen": {"type": "string", "format": "date-time"},
                        },
                    },
                }
            },
        },
        "Receipt": {
            "type": "object",
            "required": ["accepted", "duplicate", "rejected", "collection", "lines"],
            "properties": {
                "accepted": {"type": "integer"},
                "duplicate": {"type": "integer"},
                "rejected": {"type": "integer"},
                "collection": {"type": "string"},
                "lines": {"type": "array", "items": receipt_line},
            },
        },
    }


def _paths() -> dict[str, Any]:
    export_names = [f"{kind}.{fmt}" for kind in KINDS for fmt in FORMATS]
    return {
        "/api/v1/search": {
            "get": {
                "operationId": "search",
                "summary": "Search indicators, sightings and sources (analyst role).",
                "parameters": _search_parameters(),
                "responses": {
                    "200": {
                        "description": "A page of results.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/SearchResult"}}
                        },
                    },
                    **_error_responses("400", "401", "403", "429", "503"),
                },
            }
        },
        "/api/v1/indicators/{object_id}": {
            "get": {
                "operationId": "indicator",
                "summary": "One object with its versions, sightings and related objects (the pivot).",
                "parameters": [
                    {
                        "name": "object_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        "description": "A STIX id, e.g. indicator--<uuid>.",
                    }
                ],
                "security": [{"basic": []}, {}],
                "responses": {
                    "200": {
                        "description": "The object and what is known about it.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/IndicatorDetail"}}
                        },
                    },
                    **_error_responses("400", "401", "404", "429", "503"),
                },
            }
        },
        "/api/v1/sightings": {
            "post": {
                "operationId": "uploadSightings",
                "summary": "Report sightings (partner or analyst role); a receipt line per line.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/SightingsUpload"}},
                        STIX_JSON: {
                            "schema": {
                                "type": "object",
                                "description": "A STIX 2.1 bundle of sightings, indicators, observables.",
                                "required": ["objects"],
                                "properties": {"objects": {"type": "array", "items": {"type": "object"}}},
                            }
                        },
                        "text/csv": {
                            "schema": {"type": "string", "example": "value,type,count\n203.0.113.7,ipv4,3\n"}
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "The receipt: accepted, duplicate or rejected, line by line.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}},
                    },
                    "413": {
                        "description": "The upload is larger than the server accepts.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                    **_error_responses("400", "401", "403", "429", "503"),
                },
            }
        },
        "/api/v1/collections/{collection_id}/export/{name}": {
            "get": {
                "operationId": "export",
                "summary": "A firewall- or DNS-filter-ready list; poll with If-None-Match.",
                "security": [{"basic": []}, {}],
                "parameters": [
                    {
                        "name": "collection_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "Collection alias or id.",
                    },
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": export_names},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "txt, edl, csv, a STIX bundle, RPZ, hosts or Zeek intel.",
                        "headers": {
                            "ETag": {"schema": {"type": "string"}},
                            "Last-Modified": {"schema": {"type": "string"}},
                        },
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "text/csv": {"schema": {"type": "string"}},
                            STIX_MEDIA_TYPE: {"schema": {"type": "object"}},
                        },
                    },
                    "304": {"description": "Unchanged since the ETag or date the client sent."},
                    **_error_responses("400", "401", "403", "404", "429", "503"),
                },
            }
        },
    }


@cache
def openapi_document(platform: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{platform} JSON API",
            "version": "1.0.0",
            "description": (
                "Search, indicator pivot, partner sightings and firewall exports. The TAXII 2.1 "
                "API lives under /taxii2/ and follows the OASIS specification."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"basic": []}],
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "Account name and API key."}
            },
            "schemas": {**_schemas(), **_check_schemas()},
        },
        "paths": {**_paths(), **_check_paths()},
    }


def _check_schemas() -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "CheckResult": {
            "type": "object",
            "required": ["value", "kind", "type", "verdict", "why", "advice", "found_in"],
            "properties": {
                "value": {"type": "string", "description": "Refanged: hxxp://a[.]b is http://a.b."},
                "kind": {"type": "string", "enum": ["ip", "domain", "url", "email", "hash"]},
                "type": {
                    "type": "string",
                    "enum": ["ipv4", "ipv6", "domain", "url", "email", "md5", "sha1", "sha256"],
                },
                "verdict": {"type": "string", "enum": ["known-bad", "known-benign", "unknown"]},
                "why": {"type": "string", "description": "Which feeds and when, or which list."},
                "advice": {"type": "string", "description": "What to do, in plain language."},
                "found_in": {**strings, "description": "Where: the text, Received hop 2, reply-to domain..."},
                "sources": strings,
                "collections": strings,
                "last_seen": {"type": "string"},
                "indicators": {**strings, "description": "Pages of the matching indicators."},
            },
        },
        "CheckAnswer": {
            "type": "object",
            "required": [
                "results",
                "count",
                "not_checked",
                "email",
                "attachments",
                "stored",
                "note",
                "limits",
            ],
            "properties": {
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/CheckResult"}},
                "count": {"type": "integer", "minimum": 0},
                "not_checked": {"type": "integer", "minimum": 0, "description": "Values over max_values."},
                "email": {"type": "boolean", "description": "Whether the input was read as an email."},
                "attachments": {
                    "type": "array",
                    "description": "Attachments, hashed, never opened or stored.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "size": {"type": "integer"},
                            "sha256": {"type": "string"},
                            "md5": {"type": "string"},
                        },
                    },
                },
                "stored": {"type": "boolean", "enum": [False]},
                "note": {"type": "string"},
                "limits": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
    }


def _check_paths() -> dict[str, Any]:
    return {
        "/api/v1/check": {
            "post": {
                "operationId": "check",
                "summary": "Is this suspicious? The observables in a text or an email, each with a verdict.",
                "description": (
                    "Anyone may call it (anonymous callers get answers from the public collections "
                    "only). Nothing sent is stored; no link is visited; attachments are only hashed. "
                    "Sizes are capped by the [check] settings (413 names the caps)."
                ),
                "security": [{"basic": []}, {}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["text"],
                                "properties": {
                                    "text": {
                                        "type": "string",
                                        "description": "A URL, address, domain, hash, or a whole email.",
                                    }
                                },
                            }
                        },
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "string", "format": "binary", "description": "An .eml."},
                                    "text": {"type": "string"},
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "One entry per value found.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/CheckAnswer"}}
                        },
                    },
                    "413": {
                        "description": "Over the caps for text or emails; the description names them.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                    **_error_responses("400", "401", "429", "503"),
                },
            }
        }
    }


@bp.get("/api/v1/openapi.json")
def openapi() -> Response:
    return json_response(openapi_document(services().settings.platform_name))
