"""The embedded store's objects: adding versions, TAXII queries over them, deleting them.

Each write keeps the search index (embedded_search_index.py) in the same transaction.
EmbeddedStore inherits these methods.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from config.media import STIX_MEDIA_TYPE
from indexer.store import embedded_search_index
from indexer.store.base import (
    SERVER,
    AddOutcome,
    NewObject,
    ObjectQuery,
    Page,
    StoredObject,
    version_tlp_rank,
)
from indexer.store.embedded_connection import EmbeddedConnection
from indexer.timestamps import now_micros

_OBJECT_COLUMNS = "id, type, version, version_text, spec_version, date_added, body"


class EmbeddedObjects(EmbeddedConnection):
    # -- objects ----------------------------------------------------------------------------
    def add_objects(
        self, collection: str, objects: Sequence[NewObject], owner: str = SERVER
    ) -> list[AddOutcome]:
        if not objects:
            return []

        def write(conn: sqlite3.Connection) -> list[AddOutcome]:
            outcomes: list[AddOutcome] = []
            last = conn.execute("SELECT last FROM clock").fetchone()[0]
            now = now_micros()
            for obj in objects:
                outcome, last, is_last = self._add_one(conn, collection, obj, max(now, last + 1), last, owner)
                outcomes.append(outcome)
                if is_last:
                    embedded_search_index.index_object(conn, collection, orjson.loads(obj.body), last)
            conn.execute("UPDATE clock SET last = ?", (last,))
            conn.executemany(
                "INSERT OR IGNORE INTO collection_specs (collection, spec_version) VALUES (?, ?)",
                [(collection, spec) for spec in {o.spec_version for o in objects}],
            )
            return outcomes

        return self._write("add objects", write)

    @staticmethod
    def _add_one(
        conn: sqlite3.Connection, collection: str, obj: NewObject, date_added: int, last: int, owner: str
    ) -> tuple[AddOutcome, int, bool]:
        """Insert one version; also says whether it became the latest (the search index follows)."""
        # Inside the write lock: two accounts racing for one new id cannot both own it.
        held = conn.execute(
            "SELECT owner FROM objects WHERE collection = ? AND id = ? LIMIT 1", (collection, obj.id)
        ).fetchone()
        if held is not None and owner != SERVER and held[0] != owner:
            return "not_owner", last, False
        owner = held[0] if held is not None else owner  # later versions keep the first owner
        existing = conn.execute(
            "SELECT body FROM objects WHERE collection = ? AND id = ? AND version = ?",
            (collection, obj.id, obj.version),
        ).fetchone()
        if existing is not None:
            return ("duplicate" if existing[0] == obj.body else "conflict"), last, False
        low, high = conn.execute(
            "SELECT MIN(version), MAX(version) FROM objects WHERE collection = ? AND id = ?",
            (collection, obj.id),
        ).fetchone()
        is_first = low is None or obj.version < low
        is_last = high is None or obj.version > high
        if low is not None and is_first:
            conn.execute(
                "UPDATE objects SET is_first = 0 WHERE collection = ? AND id = ? AND version = ?",
                (collection, obj.id, low),
            )
        if high is not None and is_last:
            conn.execute(
                "UPDATE objects SET is_last = 0 WHERE collection = ? AND id = ? AND version = ?",
                (collection, obj.id, high),
            )
        conn.execute(
            "INSERT INTO objects (collection, id, version, version_text, type, spec_version,"
            " date_added, is_first, is_last, body, tlp_rank, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                collection,
                obj.id,
                obj.version,
                obj.version_text,
                obj.type,
                obj.spec_version,
                date_added,
                int(is_first),
                int(is_last),
                obj.body,
                version_tlp_rank(obj),
                owner,
            ),
        )
        return "added", date_added, is_last

    def query(self, query: ObjectQuery) -> Page:
        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            narrowed = _narrow_spec_versions(conn, query)
            if narrowed is None:
                return []
            if len(narrowed.types) > 1 and not narrowed.ids:
                # One ordered index range per type, merged: LIMIT stops each early, no big sort.
                per_type = [_rows(conn, replace(narrowed, types=(t,))) for t in narrowed.types]
                return list(heapq.merge(*per_type, key=lambda r: (r[5], r[0], r[2])))[: narrowed.limit + 1]
            return _rows(conn, narrowed)

        rows = self._read("read objects", read)
        more = len(rows) > query.limit
        objects = [
            StoredObject(
                id=r[0],
                type=r[1],
                version=r[2],
                version_text=r[3],
                spec_version=r[4],
                date_added=r[5],
                media_type=STIX_MEDIA_TYPE,
                body=r[6],
            )
            for r in rows[: query.limit]
        ]
        return Page(objects=objects, more=more)

    def object_exists(self, collection: str, object_id: str) -> bool:
        sql = "SELECT 1 FROM objects WHERE collection = ? AND id = ? LIMIT 1"
        return self._one("look an object up", sql, (collection, object_id)) is not None

    def object_owner(self, collection: str, object_id: str) -> str | None:
        sql = "SELECT owner FROM objects WHERE collection = ? AND id = ? LIMIT 1"
        row = self._one("read an object's owner", sql, (collection, object_id))
        return None if row is None else str(row[0])

    def delete_object(
        self,
        collection: str,
        object_id: str,
        versions: tuple[str | int, ...] = ("all",),
        spec_versions: tuple[str, ...] = (),
    ) -> int:
        where, params = _where(
            ObjectQuery(collection, ids=(object_id,), versions=versions, spec_versions=spec_versions)
        )

        def write(conn: sqlite3.Connection) -> int:
            deleted = conn.execute(f"DELETE FROM objects WHERE {' AND '.join(where)}", params).rowcount
            if deleted:
                # Strictly after every date_added so far: the change is always visible.
                last = conn.execute("SELECT last FROM clock").fetchone()[0]
                at = max(now_micros(), last + 1)
                conn.execute("UPDATE clock SET last = ?", (at,))
                conn.execute(
                    "INSERT INTO collection_deletes (collection, at) VALUES (?1, ?2)"
                    " ON CONFLICT (collection) DO UPDATE SET at = ?2",
                    (collection, at),
                )
            # The surviving versions' first/last flags must describe what is left.
            conn.execute(
                "UPDATE objects SET"
                " is_first = (version = (SELECT MIN(version) FROM objects"
                "                        WHERE collection = ?1 AND id = ?2)),"
                " is_last = (version = (SELECT MAX(version) FROM objects"
                "                       WHERE collection = ?1 AND id = ?2))"
                " WHERE collection = ?1 AND id = ?2",
                (collection, object_id),
            )
            embedded_search_index.unindex_object(conn, collection, object_id)
            survivor = conn.execute(
                "SELECT body, date_added FROM objects WHERE collection = ? AND id = ? AND is_last = 1",
                (collection, object_id),
            ).fetchone()
            if survivor is not None:
                embedded_search_index.index_object(conn, collection, orjson.loads(survivor[0]), survivor[1])
            return int(deleted)

        return self._write("delete an object", write)

    def newest_date_added(self, collection: str) -> int:
        sql = "SELECT MAX(date_added) FROM objects WHERE collection = ?"
        row = self._one("read the newest date_added", sql, (collection,))
        return int(row[0] or 0) if row else 0

    def last_change(self, collection: str) -> int:
        def read(conn: sqlite3.Connection) -> tuple[Any, Any]:
            (newest,) = conn.execute(
                "SELECT MAX(date_added) FROM objects WHERE collection = ?", (collection,)
            ).fetchone()
            deleted = conn.execute(
                "SELECT at FROM collection_deletes WHERE collection = ?", (collection,)
            ).fetchone()
            return newest, deleted

        newest, deleted = self._read("read a collection's last change", read)
        return max(int(newest or 0), int(deleted[0]) if deleted else 0)

    def count(self, collection: str) -> int:
        row = self._one("count objects", "SELECT COUNT(*) FROM objects WHERE collection = ?", (collection,))
        return int(row[0]) if row else 0


def _rows(conn: sqlite3.Connection, query: ObjectQuery) -> list[tuple[Any, ...]]:
    where, params = _where(query)
    # Without statistics SQLite prefers the date_added order indexes even when an id or type
    # equality is far more selective (a 1M-row scan for match[id]); say which index fits.
    if query.ids:
        hint = "INDEXED BY ux_objects_version"
    elif len(query.types) == 1:
        hint = "INDEXED BY ix_objects_type_added"
    else:
        hint = ""
    sql = (
        f"SELECT {_OBJECT_COLUMNS} FROM objects {hint} WHERE {' AND '.join(where)}"
        " ORDER BY date_added, id, version LIMIT ?"
    )
    return conn.execute(sql, (*params, query.limit + 1)).fetchall()


def _narrow_spec_versions(conn: sqlite3.Connection, query: ObjectQuery) -> ObjectQuery | None:
    """Drop a spec_version filter that selects everything; None if it can match nothing."""
    if not query.spec_versions:
        return query
    present = {
        row[0]
        for row in conn.execute(
            "SELECT spec_version FROM collection_specs WHERE collection = ?", (query.collection,)
        )
    }
    wanted = present & set(query.spec_versions)
    if not wanted:
        return None
    return replace(query, spec_versions=()) if wanted == present else query


def _where(query: ObjectQuery) -> tuple[list[str], list[object]]:
    """SQL conditions for a query. `is_last = 1` is spelt literally so the partial index applies."""
    where: list[str] = ["collection = ?"]
    params: list[object] = [query.collection]
    if query.ids:
        where.append(f"id IN ({','.join('?' * len(query.ids))})")
        params.extend(query.ids)
    if query.types:
        where.append(f"type IN ({','.join('?' * len(query.types))})")
        params.extend(query.types)
    if "all" not in query.versions:
        options: list[str] = []
        if "last" in query.versions:
            options.append("is_last = 1")
        if "first" in query.versions:
            options.append("is_first = 1")
        stamps = [v for v in query.versions if isinstance(v, int)]
        if stamps:
            options.append(f"version IN ({','.join('?' * len(stamps))})")
            params.extend(stamps)
        where.append(options[0] if len(options) == 1 else f"({' OR '.join(options)})")
    if query.spec_versions:
        where.append(f"spec_version IN ({','.join('?' * len(query.spec_versions))})")
        params.extend(query.spec_versions)
    if query.max_tlp_rank is not None:
        where.append("(tlp_rank IS NULL OR tlp_rank <= ?)")
        params.append(query.max_tlp_rank)
    if query.owner is not None:
        where.append("owner = ?")
        params.append(query.owner)
    if query.added_after is not None:
        where.append("date_added > ?")
        params.append(query.added_after)
    if query.after is not None:
        where.append("(date_added, id, version) > (?, ?, ?)")
        params.extend((query.after.date_added, query.after.id, query.after.version))
    return where, params
