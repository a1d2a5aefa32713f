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


def _marking_level(ref: object) -> str:
    """The TLP level of one marking reference; anything we cannot vouch for counts as the strictest."""
    if not isinstance(ref, str):
        return "red"
    return TLP_MARKING_IDS.get(ref.lower(), "red")


def effective_tlp(obj: object) -> str | None:
    """The strictest TLP level among every marking an object carries, or None if it has none.

    Object markings and granular markings both count (a granular TLP:RED on one property makes
    the object as secret as its most secret part); ids are compared lower-case; a
    marking-definition id that is not a TLP marking, or a malformed marking, counts as TLP:RED:
    we cannot tell who may see it, so only those who may see everything do.
    """
    if not isinstance(obj, dict):
        return None
    refs: list[object] = []
    object_refs = obj.get("object_marking_refs")
    if object_refs is not None:
        refs.extend(object_refs if isinstance(object_refs, list) else [None])
    granular = obj.get("granular_markings")
    if granular is not None:
        for marking in granular if isinstance(granular, list) else [None]:
            if isinstance(marking, dict) and "marking_ref" not in marking and "lang" in marking:
                continue  # a language marking, not a handling one
            refs.append(marking.get("marking_ref") if isinstance(marking, dict) else None)
    if not refs:
        return None
    return max((_marking_level(ref) for ref in refs), key=tlp_rank)


def effective_tlp_rank(obj: object) -> int | None:
    """tlp_rank(effective_tlp(obj)), None for an unmarked object."""
    level = effective_tlp(obj)
    return None if level is None else tlp_rank(level)
