"""The sanitizer's refusals spread along references: an object that refers to a refused one (a
sighting of the city's own address, a relationship to that sighting) is refused too.

Refusals follows each reference once (a worklist), so a long chain of references posted in
reverse order costs no more than any other input of its size (checking every object again
until nothing changed took one pass per link: quadratic in a 10,000-object envelope).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from indexer.sanitize import CONTAINERS, REF_KEYS

DEPENDS = "depends on an object that is not shared"


def refs_of(obj: Any) -> list[str]:
    """The ids a refusal spreads from into `obj`. Containers (reports, groupings, notes,
    opinions) keep their references as posted and are not refused for them."""
    if not isinstance(obj, dict) or obj.get("type") in CONTAINERS:
        return []
    refs = [obj.get(key) for key in REF_KEYS]
    object_refs = obj.get("object_refs")
    if isinstance(object_refs, list):
        refs += object_refs
    return [ref for ref in refs if isinstance(ref, str)]


class Refusals:
    """The refused ids of one ingest, and why, kept closed under references as objects arrive."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}
        self._referrers: defaultdict[str, list[str]] = defaultdict(list)

    def add(self, arrived: Sequence[tuple[str, Any, str | None]]) -> None:
        """Objects just validated: (id, object, the sanitizer's reason or None). Refuses them
        and whatever already arrived that refers to a refused one."""
        newly: list[str] = []
        for object_id, obj, reason in arrived:
            refs = refs_of(obj)
            for ref in refs:
                self._referrers[ref].append(object_id)
            if reason:  # its own reason, over any "depends on" found first
                if object_id not in self.reasons:
                    newly.append(object_id)
                if self.reasons.get(object_id, DEPENDS) == DEPENDS:
                    self.reasons[object_id] = reason
            elif object_id in self.reasons:
                continue
            elif any(ref in self.reasons for ref in refs):
                self.reasons[object_id] = DEPENDS
                newly.append(object_id)
        while newly:
            for object_id in self._referrers.get(newly.pop(), ()):
                if object_id not in self.reasons:
                    self.reasons[object_id] = DEPENDS
                    newly.append(object_id)
