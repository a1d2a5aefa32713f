"""Error paths over real HTTP that need the real server: gunicorn's body limit, and state across
requests (deletes, statuses, partial success, conflicts, `next` tokens). The spec's status code and
a TAXII error body, never a 500. The single-request tables are in test_taxii_error_tables.py."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import requests

from indexer.synthetic import demo_bundle
from indexer.tlp import MARKING_FOR_LEVEL
from tests.helpers import TAXII, LiveServer, assert_taxii_error

DEMO = demo_bundle(20)


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
    return requests.request(method, server.root + path, headers=merged, auth=auth, timeout=30, **kwargs)


def objects_path(alias: str) -> str:
    return f"collections/{alias}/objects/"


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


def test_status_of_another_account_is_404(server: LiveServer) -> None:
    status = call(server, "POST", objects_path("inbox"), role="partner", json={"objects": [DEMO[5]]}).json()
    assert call(server, "GET", f"status/{status['id']}/", role="partner").status_code == 200
    assert call(server, "GET", f"status/{status['id']}/", role="admin").status_code == 200
    assert_taxii_error(call(server, "GET", f"status/{status['id']}/", role="analyst"), 404)
    assert_taxii_error(call(server, "GET", f"status/{status['id']}/", role=None), 401)


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


def test_timestamps_in_other_digits_are_refused(server: LiveServer) -> None:
    """'٢٠٢٦' (Arabic-Indic) and '２０２６' (fullwidth) are digits to \\d and to int(), not to RFC 3339."""
    for year in ("\u0662\u0660\u0662\u0666", "\uff12\uff10\uff12\uff16"):
        page = call(
            server, "GET", f"{objects_path('inbox')}?added_after={year}-01-01T00:00:00Z", role="partner"
        )
        assert_taxii_error(page, 400, "added_after")
        assert "RFC 3339" in page.json()["description"]
    good, bad = (dict(DEMO[n], id=f"indicator--{uuid.uuid4()}") for n in (12, 13))
    bad["modified"] = "\u0662\u0660\u0662\u0666" + bad["modified"][4:]
    response = call(server, "POST", objects_path("inbox"), role="partner", json={"objects": [good, bad]})
    assert response.status_code == 202, response.text
    status = response.json()
    assert [s["id"] for s in status["successes"]] == [good["id"]]
    assert [f["id"] for f in status["failures"]] == [bad["id"]]
    assert "modified" in status["failures"][0]["message"]


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
