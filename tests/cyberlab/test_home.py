"""The home page on real-looking data: one row per blockable value, the source's name, the trend chart.

A store whose newest data is old (the sample feeds are from 2022) says so and draws the 30 days up
to its newest day; a store with fresh data draws the last 30 days.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from cyberlab.web.trends import _nice_top
from tests.helpers import LiveServer, login, prepare_store, start_server

HASHES = ("6983f7001de10f4d19fc2d794c3eb534", "23873bf2670cf64c2440058130548d4e4da412dd")


def indicator(pattern: str, when: str, source: str, **extra: object) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": when,
        "modified": when,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": when,
        "external_references": [{"source_name": source, "description": f"{source} feed"}],
        **extra,
    }


@pytest.fixture(scope="module")
def home_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("home")
    live = start_server(data, prepare_store(data))
    old = "2022-03-02T10:00:00.000Z"
    live.post_objects(
        "public-blocklist",
        [
            # One file, two hashes: two values to block, two rows.
            indicator(
                f"[file:hashes.MD5 = '{HASHES[0]}' OR file:hashes.'SHA-1' = '{HASHES[1]}']", old, "CERT-FR"
            ),
            indicator("[ipv4-addr:value = '198.51.100.7']", "2022-02-20T00:00:00.000Z", "CIRCL"),
            # Nothing a shop can block: no row at all (it used to be an empty "indicator" row).
            indicator("[process:name = 'evil.exe']", old, "CERT-FR", name="Evil process"),
        ],
    )
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 3600))
    live.post_objects(
        "city-indicators",
        [indicator("[domain-name:value = 'fresh.example.com']", now, "City Security Operations Center")],
    )
    yield live
    live.stop()


def rows(html: str, heading: str) -> list[list[str]]:
    table = html.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        found.append(cells)
    return found


def test_latest_has_one_row_per_value_with_its_source_and_no_empty_rows(home_server: LiveServer) -> None:
    html = requests.get(f"{home_server.url}/", timeout=10).text
    latest = rows(html, "Latest")
    values = [r[1] for r in latest]
    assert sorted(values) == sorted([*HASHES, "198.51.100.7"])
    assert all(r[1] for r in latest), "an object without a value makes no row"
    sources = {r[1]: r[4] for r in latest}
    assert sources == {HASHES[0]: "CERT-FR", HASHES[1]: "CERT-FR", "198.51.100.7": "CIRCL"}
    assert "the city" not in " ".join(r[4] for r in latest)


def test_trend_is_relative_to_the_newest_data_when_nothing_is_recent(home_server: LiveServer) -> None:
    html = requests.get(f"{home_server.url}/", timeout=10).text
    assert "No new indicators in 7 days; newest from 2022-03-02." in html
    svg = html.split('<svg class="trend"', 1)[1].split("</svg>", 1)[0]
    assert "<title>2022-03-02: 2 file hashes</title>" in svg
    assert "<title>2022-02-20: 1 IP address</title>" in svg
    assert ">03-02</text>" in svg and "Day first seen (2022, UTC)" in svg and ">New values</text>" in svg
    assert "3 new values from 2022-02-01 to 2022-03-02: 1 IP address, 2 file hashes." in html
    assert "<script" not in html  # drawn by the server, no JavaScript


def test_trend_shows_the_last_30_days_when_there_is_fresh_data(home_server: LiveServer) -> None:
    session = login(home_server, "subscriber")  # the city collection is for accounts
    html = session.get(f"{home_server.url}/", timeout=10).text
    assert "No new indicators in" not in html
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 3600))
    assert f"<title>{today}: 1 domain</title>" in html
    assert f"to {today}: 1 domain." in html
    latest = rows(html, "Latest")
    assert latest[0][1:3] == ["fresh.example.com", "domain"]
    assert latest[0][4] == "City Security Operations Center"


def test_axis_steps_are_round() -> None:
    assert _nice_top(1) == (1, 1)
    assert _nice_top(3) == (3, 1)
    assert _nice_top(7) == (8, 2)
    assert _nice_top(37) == (40, 10)
    assert _nice_top(1234) == (1500, 500)
