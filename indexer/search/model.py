"""The analyst search question and its answer, shared by both backends.

Times are integer microseconds since the epoch, as everywhere in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.errors import CyberlabError

SORTS = ("-last_seen", "last_seen", "-first_seen", "first_seen", "-sightings", "value", "relevance")
FACETS = ("type", "source", "label", "tlp")


@dataclass(frozen=True)
class SearchQuery:
    """Filters are ANDed; a tuple of values within one filter is ORed.

    collections: the collections the caller may read (the API fills it in: never empty).
    max_tlp: the most restrictive TLP rank the caller may see (0 clear .. 4 red); unmarked
    objects follow their collection's access.
    text: free text over values, names, descriptions, patterns and labels. Plain words and
    quoted phrases unless `advanced` is set (then SQLite FTS5 / Lucene query syntax).
    """

    collections: tuple[str, ...]
    max_tlp: int = 4
    text: str = ""
    advanced: bool = False
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    cidr: str | None = None
    domain: str | None = None
    sources: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    tlp: tuple[str, ...] = ()
    first_seen_after: int | None = None
    first_seen_before: int | None = None
    last_seen_after: int | None = None
    last_seen_before: int | None = None
    valid_at: int | None = None
    min_sightings: int | None = None
    revoked: bool | None = None
    sort: str = "-last_seen"
    limit: int = 50
    after: tuple[Any, ...] | None = None  # (sort value, tie-breaker) of the last hit already seen
    facets: bool = False
    histogram: bool = False
    # Milliseconds the whole search may take (None: no limit); over it the store raises SearchTimeout.
    time_budget_ms: int | None = None


@dataclass(frozen=True)
class Hit:
    collection: str
    id: str
    type: str
    values: list[dict[str, str]]
    name: str | None
    description: str | None
    labels: list[str]
    sources: list[str]
    tlp: str | None
    first_seen: int | None
    last_seen: int | None
    valid_until: int | None
    revoked: bool
    sightings: int
    organizations: int
    position: tuple[Any, ...]  # what `after` takes to continue after this hit


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    total: int
    total_is_exact: bool
    more: bool
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    histogram: list[tuple[int, int]] = field(default_factory=list)  # (day start micros, sightings)


@dataclass(frozen=True)
class SightingSummary:
    collection: str
    id: str
    indicator_id: str
    observer: str | None  # identity id of the organization that saw it
    observer_name: str | None
    count: int
    first_seen: int | None
    last_seen: int | None


@dataclass(frozen=True)
class Related:
    relationship_id: str
    relationship_type: str
    direction: str  # "outgoing" (this object is the source) or "incoming"
    other_id: str
    other_type: str
    other_name: str | None


class SearchSyntaxError(ValueError):
    """An advanced query the engine cannot parse: a client error, never a 500."""


class SearchTimeout(CyberlabError):
    """A search ran past its time budget: the caller should narrow it (a 4xx, never a 500)."""

    def __init__(self, budget_ms: int) -> None:
        super().__init__(f"the search took longer than {budget_ms} ms; narrow it")
        self.budget_ms = budget_ms
