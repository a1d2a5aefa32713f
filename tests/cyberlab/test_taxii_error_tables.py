"""The TAXII error tables, one request each, in-process: the spec's status code and a TAXII error
body, never a 500. Flask's test client on the real app and store (each backend in turn): these
need no socket and no worker. Error paths that need a real server (gunicorn's body limits, state
across requests) are in test_taxii_errors.py."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from indexer.synthetic import demo_bundle
from tests.helpers import TAXII, account, assert_taxii_error

DEMO = demo_bundle(20)
INDICATOR = DEMO[1]
API_ROOT = "/taxii2/cyberlab/"


def call(
    client: FlaskClient,
    method: str,
    path: str,
    role: str | None = "subscriber",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> TestResponse:
    merged = {"Accept": TAXII}
    if method == "POST":
        merged["Content-Type"] = TAXII
    merged.update(headers or {})
    url = path if path.startswith("/") else API_ROOT + path
    return client.open(url, method=method, headers=merged, auth=account(role) if role else None, **kwargs)


def objects_path(alias: str) -> str:
    return f"collections/{alias}/objects/"


# -- media types --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        (TAXII, True),
        ("application/taxii+json", True),
        ("application/taxii+json; version=2.1", True),
        ("*/*", True),
        ("text/html,application/taxii+json;version=2.1;q=0.9", True),
        ("application/taxii+json;version=2.0", False),
        ("application/json", False),
        ("text/html", False),
        ("application/taxii+json;version=2.1;q=0", False),
    ],
)
def test_accept_header(client: FlaskClient, accept: str, ok: bool) -> None:
    response = call(client, "GET", "collections/", headers={"Accept": accept})
    if ok:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == TAXII
    else:
        assert_taxii_error(response, 406, "accept")


@pytest.mark.parametrize("content_type", ["application/json", "application/taxii+json;version=2.0", ""])
def test_post_content_type_must_be_taxii(client: FlaskClient, content_type: str) -> None:
    response = call(
        client,
        "POST",
        objects_path("inbox"),
        role="partner",
        headers={"Content-Type": content_type},
        data=b'{"objects": []}',
    )
    assert_taxii_error(response, 415, "content-type")


def test_post_content_type_without_version_is_accepted(client: FlaskClient) -> None:
    response = call(
        client,
        "POST",
        objects_path("inbox"),
        role="partner",
        headers={"Content-Type": "application/taxii+json"},
        json={"objects": [DEMO[2]]},
    )
    assert response.status_code == 202


# -- authentication -----------------------------------------------------------------------------
def test_no_credentials_on_a_private_collection_is_401_with_challenge(client: FlaskClient) -> None:
    response = call(client, "GET", objects_path("city-indicators"), role=None)
    assert_taxii_error(response, 401, "not public")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"subscriber:wrong-key").decode(),
        "Basic " + base64.b64encode(b"nobody:key-for-subscriber-0123456789").decode(),
        "Basic not-base64!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer abc",
    ],
)
def test_wrong_credentials_are_401_even_on_public_resources(client: FlaskClient, authorization: str) -> None:
    response = client.get("/taxii2/", headers={"Accept": TAXII, "Authorization": authorization})
    assert_taxii_error(response, 401)
    assert "WWW-Authenticate" in response.headers


def test_anonymous_reads_public_collection(client: FlaskClient) -> None:
    response = call(client, "GET", objects_path("public-blocklist"), role=None)
    assert response.status_code == 200
    # dates only when there is something to date (an empty page without added_after has none)
    assert ("X-TAXII-Date-Added-First" in response.headers) == bool(response.json.get("objects"))


def test_anonymous_cannot_post_even_to_public_collection(client: FlaskClient) -> None:
    response = call(
        client, "POST", objects_path("public-blocklist"), role=None, json={"objects": [INDICATOR]}
    )
    assert_taxii_error(response, 401)


# -- authorization ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "role", "alias", "status"),
    [
        ("GET", "subscriber", "partner-sightings", 403),  # no access at all
        ("GET", "analyst", "inbox", 403),  # write-only
        ("POST", "subscriber", "inbox", 403),  # read-only
        ("POST", "subscriber", "city-indicators", 403),
        ("GET", "partner", "inbox", 200),
        ("GET", "admin", "partner-sightings", 200),
    ],
)
def test_read_write_matrix(client: FlaskClient, method: str, role: str, alias: str, status: int) -> None:
    kwargs = {"json": {"objects": [INDICATOR]}} if method == "POST" else {}
    response = call(client, method, objects_path(alias), role=role, **kwargs)
    if status == 200:
        assert response.status_code == 200
    else:
        assert_taxii_error(response, status)


# -- not found ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "/taxii2/nope/",
        "/taxii2/nope/collections/",
        "/taxii2/cyberlab/collections/does-not-exist/",
        "/taxii2/cyberlab/collections/does-not-exist/objects/",
        f"/taxii2/cyberlab/collections/city-indicators/objects/indicator--{uuid.uuid4()}/",
        f"/taxii2/cyberlab/collections/city-indicators/objects/indicator--{uuid.uuid4()}/versions/",
        f"/taxii2/cyberlab/status/{uuid.uuid4()}/",
        "/taxii2/cyberlab/nothing-here/",
    ],
)
def test_unknown_resources_are_404(client: FlaskClient, url: str) -> None:
    assert_taxii_error(call(client, "GET", url), 404)


def test_wrong_method_is_405_with_taxii_body(client: FlaskClient) -> None:
    response = call(client, "PUT", objects_path("inbox"), role="partner")
    assert_taxii_error(response, 405)
    assert "GET" in response.headers["Allow"]


# -- request bodies -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "mentions"),
    [
        (b"{not json", 400, "not valid UTF-8 JSON"),
        (b'{"objects": ["\xff\xfe"]}', 400, "not valid UTF-8 JSON"),
        (b"[1, 2, 3]", 400, "envelope"),
        (b'{"type": "bundle", "id": "bundle--x"}', 400, "envelope"),
        (b'{"objects": {"a": 1}}', 400, "envelope"),
        (b'{"objects": []}', 400, "empty"),
        (b"", 400, "JSON"),
    ],
)
def test_bad_bodies(client: FlaskClient, body: bytes, status: int, mentions: str) -> None:
    response = call(client, "POST", objects_path("inbox"), role="partner", data=body)
    assert_taxii_error(response, status, mentions)


# -- query parameters ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("added_after=yesterday", "added_after"),
        ("added_after=2026-13-01T00:00:00Z", "added_after"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("match[version]=newest", "match[version]"),
        ("match[id]=not-an-id", "match[id]"),
        ("match[id]=indicator--1,", "match[id]"),
        ("match[type]=Bad!", "match[type]"),
        ("match[spec_version]=latest", "match[spec_version]"),
        ("match[spec_version]=٢.١", "match[spec_version]"),  # Arabic-Indic 2.1
        ("match[color]=red", "does not support"),
        ("next=garbage", "next"),
        ("next=eyJ4IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA", "signature"),
    ],
)
def test_malformed_parameters_are_400(client: FlaskClient, query: str, mentions: str) -> None:
    response = call(client, "GET", f"{objects_path('city-indicators')}?{query}")
    assert_taxii_error(response, 400, mentions)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("versions/", "match[version]=all"),
        ("versions/", "match[type]=indicator"),
        ("", "match[id]=indicator--0a000000-0000-4000-8000-000000000001"),
    ],
)
def test_filters_an_endpoint_does_not_take_are_400(client: FlaskClient, path: str, query: str) -> None:
    url = f"{objects_path('public-blocklist')}{DEMO[1]['id']}/{path}?{query}"
    assert_taxii_error(call(client, "GET", url, role="admin"), 400, "does not support")
