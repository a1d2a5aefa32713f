"""Issue #10 items 12 and 14: exports follow deletes; CSV cells never run as formulas or break rows."""

from __future__ import annotations

import csv
import io

import requests

from tests.data import indicator
from tests.helpers import TAXII, LiveServer, export, failures, post


def _get(server: LiveServer, name: str, **headers: str) -> requests.Response:
    collection = server.collection_url("security").rstrip("/").rsplit("/", 1)[1]
    return requests.get(
        f"{server.url}/api/v1/collections/{collection}/export/{name}",
        auth=server.auth("subscriber"),
        headers=headers,
        timeout=30,
    )


def test_after_an_admin_delete_ip_txt_drops_the_value_and_its_etag(server: LiveServer) -> None:
    doomed = indicator("[ipv4-addr:value = '5.188.73.1']")
    assert not failures(post(server, "security", [doomed], role="admin"))
    # Something newer arrives: the deleted object is then not the newest (nor is the cache cold).
    assert not failures(post(server, "security", [indicator("[ipv4-addr:value = '5.188.73.2']")]))
    before = _get(server, "ip.txt")
    assert "5.188.73.1" in before.text.splitlines()
    etag = before.headers["ETag"]
    deleted = requests.delete(
        server.collection_url("security") + f"objects/{doomed['id']}/",
        auth=server.auth("admin"),
        headers={"Accept": TAXII},
        timeout=10,
    )
    assert deleted.status_code == 200, deleted.text
    for _ in range(4):  # every worker's cache follows the delete
        after = _get(server, "ip.txt", **{"If-None-Match": etag})
        assert after.status_code == 200 and after.headers["ETag"] != etag
        assert "5.188.73.1" not in after.text.splitlines()


def test_csv_cells_starting_with_tab_or_cr_are_neutralised_and_rows_stay_whole(server: LiveServer) -> None:
    labels = ["\tcmd|' /C calc'!A0", "\r=1+1", '=HYPERLINK("x")', "+1", "-1", "@SUM(A1)", "a\rb"]
    objects = [
        indicator(f"[domain-name:value = 'csv{n}.evil-csv.example']", labels=[label])
        for n, label in enumerate(labels)
    ]
    assert not failures(post(server, "security", objects))
    text = export(server, "security", "domain.csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    mine = [row for row in rows if row and row[0].endswith(".evil-csv.example")]
    assert len(mine) == len(labels)  # no bare CR split a row
    assert all(len(row) == len(rows[0]) for row in rows)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
            assert "\r" not in cell and "\n" not in cell, row
    assert "\r" not in text
