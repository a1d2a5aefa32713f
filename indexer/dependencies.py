"""Which objects of one ingest depend on which: the sanitizer's refusals spread along references.

An object that refers to a refused one (a sighting of the city's own address, a relationship to
that sighting) is refused too. ingest_objects stores its input chunk by chunk while the next
chunks are being validated, so it must know, before storing a chunk, that no object in it
refers (directly or through others) to an object of a chunk not yet validated: `chunks_ready`
says how far validation must have got for each chunk. Both passes follow each reference once
(worklists), so a long chain of references posted in reverse order costs no more than any other
input of that size.
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


def _id(obj: Any) -> str | None:
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def chunks_ready(chunks: Sequence[Sequence[Any]]) -> list[int]:
    """For each chunk, the last chunk that must be validated before it may be stored: the
    latest chunk holding an object it refers to, directly or through others (never less than
    the chunk itself or the one before it: chunks are stored in order)."""
    reach: dict[str, int] = {}  # id -> the latest chunk its verdict may depend on
    for index, chunk in enumerate(chunks):
        for obj in chunk:
            object_id = _id(obj)
            if object_id is not None:
                reach[object_id] = index  # an id posted twice counts where it comes last
    referrers: defaultdict[str, set[str]] = defaultdict(set)
    for chunk in chunks:
        for obj in chunk:
            object_id = _id(obj)
            if object_id is not None:
                for ref in refs_of(obj):
                    if ref in reach and ref != object_id:
                        referrers[ref].add(object_id)
    pending = list(reach)
    while pending:  # each id's reach only grows, at most once per chunk
        ref = pending.pop()
        for object_id in referrers.get(ref, ()):
            if reach[ref] > reach[object_id]:
                reach[object_id] = reach[ref]
                pending.append(object_id)
    ready: list[int] = []
    for index, chunk in enumerate(chunks):
        needed = max((reach[i] for i in map(_id, chunk) if i is not None), default=index)
        ready.append(max(needed, index, ready[-1] if ready else 0))
    return ready


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
