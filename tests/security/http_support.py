"""What the HTTP-side security tests share: web logins, CSRF tokens, seeded stores, Basic headers.

Not a test module: the tests import from here, never from one another.
"""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path
from typing import Any

import requests

from indexer.ingest import ingest_objects
from indexer.store.embedded import EmbeddedStore
from tests.conftest import make_settings

CLEAR = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def web_login(url: str, name: str, key: str) -> tuple[requests.Session, requests.Response]:
    """A session that posted the login form; the response says whether it worked (302)."""
    session = requests.Session()
    token = csrf(session, f"{url}/login")
    response = session.post(
        f"{url}/login",
        data={"name": name, "key": key, "csrf_token": token},
        allow_redirects=False,
        timeout=20,
    )
    return session, response


def basic(name: str, key: str, scheme: str = "Basic", gap: str = " ") -> str:
    return scheme + gap + base64.b64encode(f"{name}:{key}".encode()).decode()


def indicators(count: int, word: str = "alpha") -> list[dict[str, Any]]:
    """Indicators whose names share words starting with 'a' (prefix queries touch them all)."""
    made = []
    for n in range(count):
        made.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.UUID(int=0x5EC0000 + n, version=4)}",
                "created": "2026-01-01T00:00:00.000Z",
                "modified": "2026-01-02T00:00:00.000Z",
                "name": f"{word} a{n:05d} ab{n % 97} abc{n % 13} attack",
                "pattern": f"[ipv4-addr:value = '203.0.{n // 250}.{n % 250 + 1}']",
                "pattern_type": "stix",
                "valid_from": "2026-01-01T00:00:00.000Z",
                "labels": [f"a-label-{n % 7}"],
                "object_marking_refs": [CLEAR],
            }
        )
    return made


def seed(data_dir: Path, alias: str, objects: list[dict[str, Any]]) -> None:
    """Objects put in the store through the ingest path before the server starts (fast)."""
    store = EmbeddedStore(data_dir)
    collection = make_settings(data_dir).collection(alias)
    assert collection is not None
    report = ingest_objects(store, collection, objects, sanitizer=None)  # test data, made here
    assert not report.failures, report.failures[:3]
    store.close()
