"""Every error path over real HTTP: the spec's status code and a TAXII error body, never a 500."""

from __future__ import annotations

import base64
import copy
import uuid
from typing import Any

import pytest
import requests

from indexer.synthetic import demo_bundle
from indexer.tlp import MARKING_FOR_LEVEL
from tests.helpers import TAXII, LiveServer

DEMO = demo_bundle(20)
INDICATOR = DEMO[1]


def call(
    server: LiveServer,
    method: str,
    path: str,
    role: str | None = "subscriber",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    merged = {"Accept": TAXII}
    if method == "POST":
        merged["Content-Type"] = TAXII
    merged.update(headers or {})
    auth = server.auth(role) if role else None
    url = path if path.startswith("http") else server.root + path
    return requests.request(method, url, headers=merged, auth=auth, timeout=30, **kwargs)


def assert_taxii_error(response: requests.Response, status: int, mentions: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == TAXII
    body: dict[str, Any] = response.json()
    assert body["http_status"] == str(status)
    assert body["title"]
    if mentions:
        assert mentions.lower() in (body.get("description", "") + body["title"]).lower(), body
    return body


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
def test_accept_header(server: LiveServer, accept: str, ok: bool) -> None:
    response = call(server, "GET", "collections/", headers={"Accept": accept})
    if ok:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == TAXII
    else:
        assert_taxii_error(response, 406, "accept")


@pytest.mark.parametrize("content_type", ["application/json", "application/taxii+json;version=2.0", ""])
def test_post_content_type_must_be_taxii(server: LiveServer, content_type: str) -> None:
    response = call(
        server,
        "POST",
        objects_path("inbox"),
        role="partner",
        headers={"Content-Type": content_type},
        data=b'{"objects": []}',
    )
    assert_taxii_error(response, 415, "content-type")


def test_post_content_type_without_version_is_accepted(server: LiveServer) -> None:
    response = call(
        server,
        "POST",
        objects_path("inbox"),
        role="partner",
        headers={"Content-Type": "application/taxii+json"},
        json={"objects": [DEMO[2]]},
    )
    assert response.status_code == 202


# -- authentication -----------------------------------------------------------------------------
def test_no_credentials_on_a_private_collection_is_401_with_challenge(server: LiveServer) -> None:
    response = call(server, "GET", objects_path("city-indicators"), role=None)
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
def test_wrong_credentials_are_401_even_on_public_resources(server: LiveServer, authorization: str) -> None:
    response = requests.get(
        server.url + "/taxii2/", headers={"Accept": TAXII, "Authorization": authorization}, timeout=10
    )
    assert_taxii_error(response, 401)
    assert "WWW-Authenticate" in response.headers


def test_anonymous_reads_public_collection(server: LiveServer) -> None:
    response = call(server, "GET", objects_path("public-blocklist"), role=None)
    assert response.status_code == 200
    # dates only when there is something to date (an empty page without added_after has none)
    assert ("X-TAXII-Date-Added-First" in response.headers) == bool(response.json().get("objects"))


def test_anonymous_cannot_post_even_to_public_collection(server: LiveServer) -> None:
    response = call(
        server, "POST", objects_path("public-blocklist"), role=None, json={"objects": [INDICATOR]}
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
def test_read_write_matrix(server: LiveServer, method: str, role: str, alias: str, status: int) -> None:
    kwargs = {"json": {"objects": [INDICATOR]}} if method == "POST" else {}
    response = call(server, method, objects_path(alias), role=role, **kwargs)
    if status == 200:
        assert response.status_code == 200
    else:
        assert_taxii_error(response, status)


@pytest.fixture(scope="module")
def deletable(server: LiveServer) -> str:
    call(
        server, "POST", objects_path("inbox"), role="partner", json={"objects": [DEMO[3]]}
    ).raise_for_status()
    return str(DEMO[3]["id"])


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), ("subscriber", 403), ("analyst", 403)],  # anonymous; read-only; write-only
)
def test_delete_needs_read_and_write(
    server: LiveServer, deletable: str, role: str | None, status: int
) -> None:
    response = call(server, "DELETE", f"{objects_path('inbox')}{deletable}/", role=role)
    assert_taxii_error(response, status)


def test_delete_by_reader_writer_then_404(server: LiveServer, deletable: str) -> None:
    path = f"{objects_path('inbox')}{deletable}/"
    assert call(server, "DELETE", path, role="partner").status_code == 200
    assert_taxii_error(call(server, "GET", path, role="partner"), 404)
    assert_taxii_error(call(server, "DELETE", path, role="partner"), 404)


def test_delete_with_version_filter_matching_nothing_is_404(server: LiveServer) -> None:
    obj = DEMO[4]
    call(server, "POST", objects_path("inbox"), role="partner", json={"objects": [obj]}).raise_for_status()
    path = f"{objects_path('inbox')}{obj['id']}/?match[version]=2001-01-01T00:00:00Z"
    assert_taxii_error(call(server, "DELETE", path, role="partner"), 404)
    assert call(server, "GET", f"{objects_path('inbox')}{obj['id']}/", role="partner").status_code == 200


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
def test_unknown_resources_are_404(server: LiveServer, url: str) -> None:
    assert_taxii_error(call(server, "GET", server.url + url), 404)


def test_status_of_another_account_is_404(server: LiveServer) -> None:
    status = call(server, "POST", objects_path("inbox"), role="partner", json={"objects": [DEMO[5]]}).json()
    assert call(server, "GET", f"status/{status['id']}/", role="partner").status_code == 200
    assert call(server, "GET", f"status/{status['id']}/", role="admin").status_code == 200
    assert_taxii_error(call(server, "GET", f"status/{status['id']}/", role="analyst"), 404)
    assert_taxii_error(call(server, "GET", f"status/{status['id']}/", role=None), 401)


def test_wrong_method_is_405_with_taxii_body(server: LiveServer) -> None:
    response = call(server, "PUT", objects_path("inbox"), role="partner")
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
def test_bad_bodies(server: LiveServer, body: bytes, status: int, mentions: str) -> None:
    response = call(server, "POST", objects_path("inbox"), role="partner", data=body)
    assert_taxii_error(response, status, mentions)


def test_oversized_body_is_413(server: LiveServer) -> None:
    huge = b'{"objects": [' + b'"x",' * 600_000 + b'"x"]}'
    response = call(server, "POST", objects_path("inbox"), role="partner", data=huge)
    assert_taxii_error(response, 413, "max_content_length")


def test_invalid_objects_are_failures_and_valid_ones_are_stored(server: LiveServer) -> None:
    bad_pattern = dict(DEMO[6], pattern="[ipv4-addr:value = ")
    red = dict(DEMO[7], object_marking_refs=[MARKING_FOR_LEVEL["red"]])
    envelope = {"objects": [DEMO[8], bad_pattern, "not an object", red, {"type": "indicator"}, DEMO[9]]}
    response = call(server, "POST", objects_path("inbox"), role="partner", json=envelope)
    assert response.status_code == 202
    status = response.json()
    assert (status["total_count"], status["success_count"], status["failure_count"]) == (6, 2, 4)
    assert status["status"] == "complete" and status["pending_count"] == 0
    messages = {f["id"]: f["message"] for f in status["failures"]}
    assert "invalid STIX pattern" in messages[DEMO[6]["id"]]
    assert "TLP:RED" in messages[DEMO[7]["id"]]
    stored = call(
        server,
        "GET",
        objects_path("inbox")
        + "?match[id]="
        + ",".join(o["id"] for o in (DEMO[6], DEMO[7], DEMO[8], DEMO[9])),
        role="partner",
    ).json()
    assert {o["id"] for o in stored["objects"]} == {DEMO[8]["id"], DEMO[9]["id"]}


def test_duplicates_are_successes_and_conflicts_never_alter_what_is_stored(server: LiveServer) -> None:
    obj = DEMO[11]
    first = call(server, "POST", objects_path("inbox"), role="partner", json={"objects": [obj]}).json()
    again = call(server, "POST", objects_path("inbox"), role="partner", json={"objects": [obj]}).json()
    assert first["success_count"] == again["success_count"] == 1
    assert "already present" in again["successes"][0]["message"]
    changed = copy.deepcopy(obj)
    changed["name"] = "tampered without a new modified"
    conflict = call(server, "POST", objects_path("inbox"), role="partner", json={"objects": [changed]}).json()
    assert conflict["failure_count"] == 1 and "modified" in conflict["failures"][0]["message"]
    stored = call(server, "GET", f"{objects_path('inbox')}{obj['id']}/", role="partner").json()["objects"]
    assert [o["name"] for o in stored] == [obj["name"]]


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
        ("match[color]=red", "does not support"),
        ("next=garbage", "next"),
        ("next=eyJ4IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA", "signature"),
    ],
)
def test_malformed_parameters_are_400(server: LiveServer, query: str, mentions: str) -> None:
    response = call(server, "GET", f"{objects_path('city-indicators')}?{query}")
    assert_taxii_error(response, 400, mentions)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("versions/", "match[version]=all"),
        ("versions/", "match[type]=indicator"),
        ("", "match[id]=indicator--0a000000-0000-4000-8000-000000000001"),
    ],
)
def test_filters_an_endpoint_does_not_take_are_400(server: LiveServer, path: str, query: str) -> None:
    url = f"{objects_path('public-blocklist')}{DEMO[1]['id']}/{path}?{query}"
    assert_taxii_error(call(server, "GET", url, role="admin"), 400, "does not support")


def test_next_token_is_bound_to_its_query(server: LiveServer) -> None:
    clear = {"objects": demo_bundle(10, tlp="clear")}
    call(server, "POST", objects_path("public-blocklist"), role="admin", json=clear).raise_for_status()
    first = call(server, "GET", f"{objects_path('public-blocklist')}?limit=2", role=None).json()
    token = first["next"]
    other = call(
        server, "GET", f"{objects_path('public-blocklist')}?limit=2&match[type]=indicator&next={token}"
    )
    assert_taxii_error(other, 400, "different collection or different filters")
    elsewhere = call(server, "GET", f"{objects_path('city-indicators')}?limit=2&next={token}", role="admin")
    assert_taxii_error(elsewhere, 400, "different collection")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_taxii_error(
        call(server, "GET", f"{objects_path('public-blocklist')}?next={tampered}", role=None), 400
    )


def test_limit_above_maximum_is_capped(server: LiveServer) -> None:
    big = {"objects": demo_bundle(520, tlp="green")[1:]}
    call(server, "POST", objects_path("city-indicators"), role="admin", json=big).raise_for_status()
    page = call(server, "GET", f"{objects_path('city-indicators')}?limit=100000").json()
    assert len(page["objects"]) == 500  # the test server's max_page_size
    assert page["more"] is True


def test_missing_trailing_slash_redirects_to_the_canonical_url(server: LiveServer) -> None:
    response = requests.get(
        server.url + "/taxii2/cyberlab/collections",
        headers={"Accept": TAXII},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/taxii2/cyberlab/collections/")
    followed = requests.get(server.url + "/taxii2", headers={"Accept": TAXII}, auth=server.auth("subscriber"))
    assert followed.status_code == 200 and followed.json()["api_roots"]
