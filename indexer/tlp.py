"""TLP 2.0 (and legacy TLP 1.0) STIX marking definitions and their order."""

from __future__ import annotations

from typing import Any

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


def marking_refs(obj: dict[str, Any]) -> list[Any]:
    """Every marking an object carries: object_marking_refs and each granular marking's ref.

    Granular markings count as much as object markings: a TLP:RED granular marking on the
    pattern makes the object (which is served whole) TLP:RED for access decisions.
    """
    refs: list[Any] = []
    object_refs = obj.get("object_marking_refs")
    if isinstance(object_refs, list):
        refs.extend(object_refs)
    elif object_refs is not None:
        refs.append(object_refs)  # malformed: counted, so it ends up as the strictest
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        for marking in granular:
            if isinstance(marking, dict):
                if "marking_ref" in marking:
                    refs.append(marking["marking_ref"])
                if "marking_refs" in marking:  # not STIX, but seen in the wild: count it
                    extra = marking["marking_refs"]
                    refs.extend(extra if isinstance(extra, list) else [extra])
            else:
                refs.append(marking)
    elif granular is not None:
        refs.append(granular)
    return refs


def ref_level(ref: Any) -> str:
    """The TLP level a single marking ref stands for.

    Ids compare case-insensitively (STIX ids are lower case, but a producer spelling TLP:AMBER
    in upper case means TLP:AMBER). Anything that is not a known TLP id (another
    marking-definition, a statement we cannot interpret, garbage) counts as the strictest level:
    an unknown restriction is never read as no restriction.
    """
    if isinstance(ref, str):
        level = TLP_MARKING_IDS.get(ref.strip().lower())
        if level is not None:
            return level
    return TLP_ORDER[-1]


def effective_tlp(obj: dict[str, Any]) -> str | None:
    """The most restrictive TLP level among all of an object's markings, or None if it has none.

    Counts object_marking_refs and granular_markings (TLP 1.0 and 2.0 ids, case-insensitive);
    an unknown marking ref counts as red. None means the object carries no marking at all.
    A marking-definition's own TLP (its definition) is not a marking it carries.
    """
    refs = marking_refs(obj)
    if not refs:
        return None
    return max((ref_level(ref) for ref in refs), key=tlp_rank)


def object_tlp(obj: dict[str, Any]) -> str | None:
    """Kept name for callers: the effective TLP of a whole object (see effective_tlp)."""
    return effective_tlp(obj)


def has_tlp_marking(obj: dict[str, Any]) -> bool:
    """Whether any of the object's markings is a known TLP id (case-insensitive)."""
    return any(isinstance(r, str) and r.strip().lower() in TLP_MARKING_IDS for r in marking_refs(obj))


def effective_tlp_rank(obj: dict[str, Any]) -> int | None:
    """tlp_rank(effective_tlp(obj)), None for an unmarked object."""
    level = effective_tlp(obj)
    return None if level is None else tlp_rank(level)
