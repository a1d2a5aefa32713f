"""TLP 2.0 (and legacy TLP 1.0) STIX marking definitions and their order."""

from __future__ import annotations

from collections.abc import Iterable

# The STIX 2.1 marking-definition ids everyone uses for TLP, 2.0 first, then the 1.0 ids
# (TLP:WHITE is TLP:CLEAR's former name).
TLP_MARKING_IDS: dict[str, str] = {
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "clear",
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "green",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "amber",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "amber+strict",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "red",
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}
TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
MARKING_FOR_LEVEL: dict[str, str] = {}
for _marking_id, _level in TLP_MARKING_IDS.items():
    MARKING_FOR_LEVEL.setdefault(_level, _marking_id)


def tlp_rank(level: str) -> int:
    return TLP_ORDER.index(level)


def object_tlp(marking_refs: Iterable[str]) -> str | None:
    """The most restrictive TLP level among an object's markings, or None if it has none."""
    levels = [TLP_MARKING_IDS[ref] for ref in marking_refs if ref in TLP_MARKING_IDS]
    return max(levels, key=tlp_rank) if levels else None
