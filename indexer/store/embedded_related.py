"""An object's sightings and relationships in the embedded store (the pivots of its page).

Read from the search index's search_sightings and search_links tables, with what the caller
may see.
"""

from __future__ import annotations

import sqlite3

from indexer.search.model import Related, SightingSummary
from indexer.store.embedded_search_conditions import marks as _marks


def sightings_of(
    conn: sqlite3.Connection, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
) -> list[SightingSummary]:
    # The observer's name comes from an identity in the sighting's own collection: an identity
    # someone posted elsewhere under a partner's id never renames that partner.
    visible, extra = _visible("d", max_tlp_rank)
    rows = conn.execute(
        "SELECT s.collection, s.id, s.indicator_id, s.observer, o.name, s.count, s.first_seen, s.last_seen"
        " FROM search_sightings s"
        " LEFT JOIN search_docs d ON d.collection = s.collection AND d.id = s.id"
        " LEFT JOIN search_docs o"
        " ON o.collection = s.collection AND o.id = s.observer AND o.type = 'identity'"
        f" WHERE s.indicator_id = ? AND s.collection IN ({_marks(collections)}){visible}"
        " GROUP BY s.collection, s.id ORDER BY s.last_seen DESC",
        (object_id, *collections, *extra),
    )
    return [SightingSummary(*row) for row in rows]


def _visible(alias: str, max_tlp_rank: int | None) -> tuple[str, tuple[int, ...]]:
    """A condition on a TLP rank column: unmarked, or at most max_tlp_rank (None: no limit)."""
    if max_tlp_rank is None:
        return "", ()
    return f" AND ({alias}.tlp_rank IS NULL OR {alias}.tlp_rank <= ?)", (max_tlp_rank,)


def related(
    conn: sqlite3.Connection, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
) -> list[Related]:
    marks = _marks(collections)
    # Relationships are not in search_docs: their TLP is the stored latest version's.
    visible, extra = _visible("o", max_tlp_rank)
    link_visible = (
        " AND EXISTS (SELECT 1 FROM objects o WHERE o.collection = l.collection AND o.id = l.id"
        f" AND o.is_last = 1{visible})"
        if visible
        else ""
    )
    rows = conn.execute(
        "SELECT l.id, l.relationship_type, 'outgoing', l.target_ref FROM search_links l"
        f" WHERE l.source_ref = ? AND l.collection IN ({marks}){link_visible}"
        " UNION SELECT l.id, l.relationship_type, 'incoming', l.source_ref FROM search_links l"
        f" WHERE l.target_ref = ? AND l.collection IN ({marks}){link_visible}",
        (object_id, *collections, *extra, object_id, *collections, *extra),
    ).fetchall()
    named_visible, named_extra = _visible("d", max_tlp_rank)
    found = []
    for rel_id, rel_type, direction, other in rows:
        named = conn.execute(
            f"SELECT d.type, d.name FROM search_docs d WHERE d.id = ? AND d.collection IN ({marks})"
            f"{named_visible} LIMIT 1",
            (other, *collections, *named_extra),
        ).fetchone()
        other_type = named[0] if named else other.split("--", 1)[0]
        found.append(Related(rel_id, rel_type, direction, other, other_type, named[1] if named else None))
    return found
