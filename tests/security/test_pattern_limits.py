"""Issue #8 and #13: costly or deeply nested client input is a per-object failure or a 400."""

from __future__ import annotations

from typing import Any

import requests

from tests.data import indicator
from tests.helpers import TAXII, LiveServer, failures, post


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        node = {"x": node}
    return node


def test_a_59_kib_like_pattern_is_refused(server: LiveServer) -> None:
    huge = indicator("[url:value LIKE '" + "a" * (59 * 1024) + "']")
    fine = indicator("[ipv4-addr:value = '5.188.72.1']")
    failed = failures(post(server, "security", [huge, fine]))
    assert "pattern is" in failed[huge["id"]] and "limit" in failed[huge["id"]]
    assert fine["id"] not in failed


def test_an_envelope_of_3000_term_or_chains_is_per_object_failures(server: LiveServer) -> None:
    chain = " OR ".join(f"ipv4-addr:value = '5.188.{n // 250}.{n % 250 + 1}'" for n in range(3000))
    # Within the length limit too when the terms are short: the comparison limit names itself.
    short = " OR ".join(f"a:b = '{n}'" for n in range(3000))
    objects = [indicator(f"[{chain}]"), indicator(f"[{short[:10000].rsplit(' OR ', 1)[0]}]")]
    response = post(server, "security", [*objects, indicator("[ipv4-addr:value = '5.188.72.2']")])
    failed = failures(response)
    assert "limit" in failed[objects[0]["id"]]
    assert "more than 200 comparisons" in failed[objects[1]["id"]]
    assert response.json()["success_count"] == 1


def test_deep_nesting_and_long_chains_are_per_object_failures_not_500s(server: LiveServer) -> None:
    parens = indicator("(" * 500 + "[ipv4-addr:value = '5.188.72.3']" + ")" * 500)
    observations = indicator(" AND ".join(["[ipv4-addr:value = '5.188.72.4']"] * 1000))
    custom = indicator("[ipv4-addr:value = '5.188.72.5']", x_deep=_nested(300))
    fine = indicator("[ipv4-addr:value = '5.188.72.6']")
    response = post(server, "security", [parens, observations, custom, "not an object", fine])
    failed = failures(response)
    assert "nests deeper than" in failed[parens["id"]]
    assert "comparisons" in failed[observations["id"]] or "limit" in failed[observations["id"]]
    assert "nests deeper than 32 levels" in failed[custom["id"]]
    assert response.json()["success_count"] == 1 and fine["id"] not in failed


def test_a_limit_of_superscript_two_is_a_400(server: LiveServer) -> None:
    response = requests.get(
        server.collection_url("security") + "objects/?limit=%C2%B2",
        auth=server.auth("subscriber"),
        headers={"Accept": TAXII},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert "limit" in response.json()["description"]
