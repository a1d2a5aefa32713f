"""The `misp` connector with the real PyMISP client.

A MISP server cannot run on these machines, so this test runs a real HTTP server on 127.0.0.1 that
answers the MISP REST endpoints PyMISP calls (getPyMISPVersion, getVersion, users/view/me,
events/restSearch) with the real recorded events in connectors/samples/misp-api/, applying the
restSearch filters the connector sends (published, timestamp, eventid, metadata, page, limit).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pymisp
import pytest

from config import Secret, Settings
from indexer.pipeline import Pipeline, retry_dead_letters
from indexer.store.base import ObjectQuery, Store
from tests.helpers import make_settings, with_connector

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "connectors" / "samples" / "misp-api"
API_KEY = "misp-test-key-0000000000000000000000000"


def recorded_events() -> list[dict[str, Any]]:
    return [json.loads(p.read_text())["Event"] for p in sorted(EVENTS_DIR.glob("*-*.json"))]


class FakeMisp(http.server.BaseHTTPRequestHandler):
    events: ClassVar[list[dict[str, Any]]] = []
    searches: ClassVar[list[dict[str, Any]]] = []

    def _reply(self, status: int, body: Any) -> None:
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != API_KEY:
            self._reply(403, {"name": "Authentication failed.", "message": "Authentication failed."})
            return False
        return True

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.startswith("/servers/getPyMISPVersion"):
            self._reply(200, {"version": pymisp.__version__})
        elif self.path.startswith("/servers/getVersion"):
            self._reply(200, {"version": "2.5.20"})
        elif self.path.startswith("/users/view/me"):
            self._reply(
                200,
                {
                    "User": {"id": "1", "email": "admin@example.org", "org_id": "1", "role_id": "1"},
                    "Role": {"id": "1", "name": "admin"},
                    "UserSetting": [],
                },
            )
        else:
            self._reply(404, {"message": "not found"})

    def do_POST(self) -> None:
        if not self._authorized():
            return
        body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not self.path.startswith("/events/restSearch"):
            self._reply(404, {"message": "not found"})
            return
        self.searches.append(body)
        found = [e for e in self.events if self._matches(e, body)]
        found.sort(key=lambda e: int(e["timestamp"]))
        limit, page = int(body.get("limit") or 0), int(body.get("page") or 1)
        if limit:
            found = found[(page - 1) * limit : page * limit]
        if body.get("metadata"):
            found = [{k: v for k, v in e.items() if k not in ("Attribute", "Object")} for e in found]
        self._reply(200, [{"Event": e} for e in found])

    @staticmethod
    def _matches(event: dict[str, Any], body: dict[str, Any]) -> bool:
        if body.get("published") in (True, 1, "1") and not event.get("published"):
            return False
        if body.get("timestamp") and int(event["timestamp"]) < int(body["timestamp"]):
            return False
        return not (body.get("eventid") and body["eventid"] not in (event["uuid"], event.get("id")))

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def store(backend_store: Store) -> Store:
    """Every test here that takes `store` runs over each backend (`backend_store`)."""
    return backend_store


@pytest.fixture
def misp_url() -> Iterator[str]:
    FakeMisp.events = recorded_events()
    FakeMisp.searches = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeMisp)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def misp_settings(tmp_path: Path, url: str, key: str = API_KEY) -> Settings:
    return with_connector(
        make_settings(tmp_path),
        "circl",
        type="misp",
        url=url,
        paths=(),
        api_key=Secret(key),
        source_name="CIRCL",
    )


def test_published_events_with_sightings_and_a_resumable_cursor(
    tmp_path: Path, misp_url: str, store: Store
) -> None:
    settings = misp_settings(tmp_path, misp_url)
    report = Pipeline(settings, store, "circl").run()
    published = [e for e in recorded_events() if e.get("published")]
    assert report.read == len(published) == 8
    assert report.dead_lettered == 0  # the three events misp-stix rejects as-is are repaired
    objects = [
        orjson.loads(o.body)
        for o in store.query(
            ObjectQuery(settings.collections["public-blocklist"].id, versions=("all",), limit=100_000)
        ).objects
    ]
    sightings = [o for o in objects if o["type"] == "sighting"]
    assert sightings, "5b646415's MISP sightings must arrive as STIX sightings"
    ids = {o["id"] for o in objects}
    assert all(s["sighting_of_ref"] in ids for s in sightings)
    last = max(published, key=lambda e: (int(e["timestamp"]), e["uuid"]))
    assert store.get_cursor("connector:circl") == f"{last['timestamp']}:{last['uuid']}"
    assert any(s.get("metadata") for s in FakeMisp.searches)
    assert all(s.get("published") for s in FakeMisp.searches if s.get("metadata"))

    again = Pipeline(settings, store, "circl").run()
    assert again.read == 0 and again.created == 0


def test_a_broken_event_is_dead_lettered_and_the_rest_goes_on(
    tmp_path: Path, misp_url: str, store: Store
) -> None:
    # A galaxy cluster whose uuid is malformed (not missing, which is repaired): misp-stix refuses it.
    source = next(e for e in recorded_events() if e["uuid"].startswith("5c706a30"))
    broken = orjson.loads(orjson.dumps(source))
    for galaxy in broken["Galaxy"]:
        for cluster in galaxy["GalaxyCluster"]:
            cluster["uuid"] = "bad"
    broken.update(uuid="00000000-0000-4000-8000-0000000000bb", timestamp="1457605236")
    FakeMisp.events = [*recorded_events(), broken]
    settings = misp_settings(tmp_path, misp_url)
    report = Pipeline(settings, store, "circl").run()
    assert report.dead_lettered == 1 and report.read == 9
    (letter,) = store.list_dead_letters("circl")
    assert letter.origin == f"event {broken['uuid']}" and "misp-stix could not convert" in letter.reason
    assert report.created > 1000
    retried = retry_dead_letters(settings, store, "circl")
    assert (retried.stored, retried.failing) == (0, 1)  # still broken: kept

    # After a fix (here: the letter's payload corrected), a retry stores it and removes the letter.
    fixed = dict(source, uuid=broken["uuid"], timestamp=broken["timestamp"])
    store.add_dead_letter("circl", "misp-event", letter.origin, letter.reason, orjson.dumps({"Event": fixed}))
    retried = retry_dead_letters(settings, store, "circl")
    assert (retried.stored, retried.failing) == (1, 0)
    assert store.list_dead_letters("circl") == []


def test_wrong_key_is_a_clear_source_error(tmp_path: Path, misp_url: str, store: Store) -> None:
    from connectors.base import SourceError

    settings = misp_settings(tmp_path, misp_url, key="wrong")
    with pytest.raises(SourceError, match="cannot connect to MISP"):
        Pipeline(settings, store, "circl").run()
    assert store.get_cursor("connector:circl") is None
