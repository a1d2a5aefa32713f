"""Issue #10 item 4: every marking counts against a collection's TLP ceiling."""

from __future__ import annotations

import requests

from indexer.tlp import MARKING_FOR_LEVEL
from tests.data import GREEN, RED, indicator
from tests.helpers import TAXII, LiveServer, failures, post

AMBER_V2 = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
UNKNOWN = "marking-definition--00000000-1111-4222-8333-444444444444"


def test_granular_red_upper_case_amber_and_unknown_markings_are_above_a_green_ceiling(
    server: LiveServer,
) -> None:
    granular_red = indicator(
        "[ipv4-addr:value = '5.188.71.1']",
        object_marking_refs=[GREEN],
        granular_markings=[{"marking_ref": RED, "selectors": ["pattern"]}],
    )
    # marking-definition--55D920B0-...: TLP:AMBER spelled in upper case
    spelled_upper = "marking-definition--" + AMBER_V2.split("--")[1].upper()
    upper_amber = indicator("[ipv4-addr:value = '5.188.71.2']", object_marking_refs=[spelled_upper])
    amber_v1 = indicator("[ipv4-addr:value = '5.188.71.3']", object_marking_refs=[MARKING_FOR_LEVEL["amber"]])
    unknown = indicator("[ipv4-addr:value = '5.188.71.4']", object_marking_refs=[GREEN, UNKNOWN])
    fine = indicator("[ipv4-addr:value = '5.188.71.5']")
    attacks = [granular_red, upper_amber, amber_v1, unknown]
    failed = failures(post(server, "security", [*attacks, fine]))
    for obj in attacks:
        assert "above this collection's ceiling TLP:GREEN" in failed.get(obj["id"], ""), (obj, failed)
    assert fine["id"] not in failed
    served = requests.get(
        server.collection_url("security") + "objects/",
        params={"match[type]": "indicator"},
        auth=server.auth("subscriber"),
        headers={"Accept": TAXII},
        timeout=10,
    ).json()
    ids = {o["id"] for o in served.get("objects", [])}
    assert fine["id"] in ids and not ids & {o["id"] for o in attacks}


def test_effective_tlp_counts_every_marking() -> None:
    from indexer.tlp import effective_tlp

    assert (
        effective_tlp({"object_marking_refs": [GREEN], "granular_markings": [{"marking_ref": RED}]}) == "red"
    )
    assert effective_tlp({"object_marking_refs": [AMBER_V2.upper()]}) == "amber"
    assert effective_tlp({"object_marking_refs": [GREEN, UNKNOWN]}) == "red"
    assert effective_tlp({"object_marking_refs": [MARKING_FOR_LEVEL["clear"]]}) == "clear"
    assert effective_tlp({"type": "indicator"}) is None
