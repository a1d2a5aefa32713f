"""The Elasticsearch backend: the same store contract, for deployments beyond one machine.

Writes are serialized by a lease (elastic_lease.py), the way SQLite's BEGIN IMMEDIATE serializes
them. Inside it a batch reads the stored versions of its ids, reserves strictly increasing
date_added stamps from a clock document (one scripted update), sends one bulk stream without
refresh, then refreshes the objects and search indices once, still inside the lease: so a TAXII
status that says "complete" means "searchable", and since each collection lives on one shard
(routing) whatever a poller can see of a collection is a prefix of its date_added order: nothing
with a smaller date_added becomes visible after a larger one.

A batch is acknowledged only when every item of its bulk succeeded (items are retried on 429 by
helpers.streaming_bulk). A failed batch can be re-sent as it is: every _id is deterministic, and
each batch repairs what a half-written one left (first/last flags are recomputed from the stored
versions; a latest version whose search document is missing or stale is indexed again).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

import orjson
from elasticsearch import ConflictError, Elasticsearch, NotFoundError, TransportError, UnsupportedProductError
from elasticsearch.helpers import streaming_bulk
from elasticsearch.serializer import JSONSerializer

from config.media import STIX_MEDIA_TYPE
from config.secret import redact_urls
from config.settings import ElasticsearchSettings
from indexer.errors import StoreError
from indexer.search.model import (
    Related,
    SearchQuery,
    SearchResult,
    SearchSyntaxError,
    SearchTimeout,
    SightingSummary,
)
from indexer.store import elastic_queries as q
from indexer.store.base import (
    SERVER,
    Account,
    AddOutcome,
    DeadLetter,
    Keyset,
    NewObject,
    ObjectQuery,
    Page,
    Rejected,
    StatusRecord,
    StoredObject,
    version_tlp_rank,
)
from indexer.store.elastic_digest import ElasticDigestReports
from indexer.store.elastic_docs import es_hit, millis_to_micros, search_source
from indexer.store.elastic_errors import es_store_error, response_cause
from indexer.store.elastic_lease import Lease, WriteLease
from indexer.timestamps import now_micros

log = logging.getLogger(__name__)
T = TypeVar("T")
DAY_MS = 86_400_000
BULK_STREAMS = 2  # bulk requests in flight at once
REASON_CHARS = 300  # of a refused document's error, kept for the object's failure message

__all__ = ["ElasticStore", "es_hit", "search_source"]


@dataclass
class _Version:
    """One stored (or about to be stored) version of an object, as a write needs to know it."""

    type: str
    version: int
    spec_version: str
    date_added: int
    body: str
    version_text: str = ""  # only needed for a version this write indexes
    is_first: bool | None = None  # as stored; None: new in this write
    is_last: bool | None = None
    owner: str = SERVER  # the account that first stored the id in the collection
    tlp_rank: int | None = None  # this version's own TLP rank (base.version_tlp_rank); None: unmarked

    @property
    def parsed(self) -> dict[str, Any]:
        return orjson.loads(self.body)  # type: ignore[no-any-return]


def _reason(error: Any) -> str:
    """A bulk item's error, short: its type and reason (the node quotes at most a preview of the
    offending value, and this cuts it further: it goes back into a TAXII status)."""
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            text += f" ({cause.get('reason')})"
    else:
        text = str(error)
    return text[:REASON_CHARS]


def _sighted(version: _Version | None) -> str | None:
    """The object a sighting version sights (None for anything else)."""
    if version is None or version.type != "sighting":
        return None
    target = version.parsed.get("sighting_of_ref")
    return target if isinstance(target, str) else None


def select_versions(
    stored: dict[int, _Version], versions: tuple[str | int, ...], spec_versions: tuple[str, ...]
) -> set[int]:
    """The versions a TAXII delete names (same rules as a TAXII query's match[version])."""
    if not stored:
        return set()
    chosen: set[int] = set()
    if "all" in versions:
        chosen = set(stored)
    if "first" in versions:
        chosen.add(min(stored))
    if "last" in versions:
        chosen.add(max(stored))
    chosen.update(v for v in versions if isinstance(v, int) and v in stored)
    if spec_versions:
        chosen = {v for v in chosen if stored[v].spec_version in spec_versions}
    return chosen


class _FastJSON(JSONSerializer):
    """orjson for request and response bodies: a bulk write spent a fifth of its time in json."""

    def dumps(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        return orjson.dumps(data, default=self.default).decode()

    def loads(self, s: str) -> Any:
        return orjson.loads(s)


def _index_if(
    es: Elasticsearch, index: str, doc_id: str, document: dict[str, Any], condition: dict[str, Any]
) -> bool:
    """Index a document if `condition` (op_type=create or if_seq_no/if_primary_term) holds."""
    try:
        es.index(index=index, id=doc_id, document=document, refresh=True, **condition)
    except ConflictError:
        return False
    return True


class ElasticStore(ElasticDigestReports):  # digests and reports: elastic_digest.py
    def __init__(self, settings: ElasticsearchSettings, client: Elasticsearch | None = None) -> None:
        self.settings = settings
        self.names = q.index_names(settings.index_prefix)
        self._client, self._pid = client, os.getpid() if client else -1
        self.lease = WriteLease(
            self._call, self.names["meta"], settings.lease_seconds, settings.lease_wait_seconds, self.where
        )

    # -- connection -------------------------------------------------------------------------
    @property
    def where(self) -> str:
        """The hosts, as errors and logs name them: credentials in a host URL are masked."""
        return redact_urls(", ".join(self.settings.hosts))

    def _es(self) -> Elasticsearch:
        if self._client is None or self._pid != os.getpid():  # connection pools must not cross a fork
            options: dict[str, Any] = {
                # `timeout`: the client's constructor ignores an unknown `request_timeout`
                # (that name is for a single call), which left every request at its 10 s default.
                "timeout": self.settings.request_timeout,
                "serializer": _FastJSON(),
            }
            if self.settings.username:
                options["http_auth"] = (self.settings.username, self.settings.password.reveal())
            if self.settings.api_key.reveal():
                options["api_key"] = self.settings.api_key.reveal()
            if self.settings.ca_certs:
                options["ca_certs"] = self.settings.ca_certs
            options["verify_certs"] = self.settings.verify_certs
            self._client, self._pid = Elasticsearch(list(self.settings.hosts), **options), os.getpid()
        return self._client

    def _call(self, what: str, action: Callable[[Elasticsearch], T]) -> T:
        """The one door: every request goes through here, reads and writes alike (there are
        no transactions to tell them apart; the client's request_timeout bounds each). Driver
        errors become one StoreError naming the URL, with its cause (elastic_errors.py): the
        app turns it into 503 + Retry-After, the CLI into exit 2. An action may catch what it
        expects (a 404, a 409) and answer for it; what it raises that is not the driver's
        passes through as it is."""
        try:
            return action(self._es())
        except (TransportError, UnsupportedProductError) as exc:
            raise es_store_error(exc, what, self.where) from exc

    def _search(self, what: str, index: str, body: dict[str, Any], routing: str | None = None) -> Any:
        return self._call(what, lambda es: es.search(index=index, body=body, routing=routing))

    def _walk(
        self, what: str, index: str, body: dict[str, Any], routing: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every hit of a sorted query, WALK at a time with search_after (never from/size)."""
        while True:
            hits = self._search(what, index, body, routing)["hits"]["hits"]
            yield from hits
            if len(hits) < body["size"]:
                return
            body = {**body, "search_after": hits[-1]["sort"]}

    def initialize(self) -> None:
        health = self._call("a health check", lambda es: es.cluster.health(timeout="10s"))
        if health.get("status") == "red":
            raise StoreError(
                f"Elasticsearch at {self.where} is red: fix the cluster before using it", cause="unavailable"
            )
        s = self.settings
        templates = q.templates(s.index_prefix, s.number_of_shards, s.number_of_replicas, s.refresh_interval)

        def prepare(es: Elasticsearch) -> Any:
            for name, template in templates.items():
                es.indices.put_template(name=name, body=template)
            for index in self.names.values():
                if not es.indices.exists(index=index):
                    es.indices.create(index=index, ignore=400)  # 400: another worker was first
            return es.indices.get_mapping(index=",".join(self.names.values()))

        mappings = self._call("creating templates and indices", prepare)
        for index, mapping in mappings.items():
            version = mapping.get("mappings", {}).get("_meta", {}).get("cyberlab_mapping")
            if version not in q.READABLE_VERSIONS:
                raise StoreError(
                    f"Elasticsearch at {self.where}: index {index} has mapping version {version or 1},"
                    f" this CyberLab reads {' or '.join(map(str, q.READABLE_VERSIONS))};"
                    " use a new store.elasticsearch.index_prefix"
                    " and copy the data over with `cyberlab reindex`",
                    cause="error",
                )
        # An objects index created by an earlier build of mapping 2 gains the scope fields
        # (per-version TLP rank, owner): adding fields to a strict mapping is allowed in place.
        self._call(
            "adding the scope fields",
            lambda es: es.indices.put_mapping(
                index=self.names["objects"], body={"properties": q.OBJECT_SCOPE_FIELDS}
            ),
        )
        log.info("store.initialized elasticsearch=%s prefix=%s", self.where, s.index_prefix)

    def cluster_status(self) -> str:
        """green, yellow or red, for /readyz."""
        health = self._call("a health check", lambda es: es.cluster.health(index=self.names["objects"]))
        return str(health.get("status", "red"))

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None

    # -- writes -----------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[Lease]:
        """The lease, and one refresh before it is released: what a write did is visible to
        the next writer (which reads stored versions by search) and to every reader, even when
        the write failed half-way (the half it wrote is real and a re-sent batch finds it)."""
        with self.lease.held() as lease:
            try:
                yield lease
            finally:
                index = f"{self.names['objects']},{self.names['search']}"
                self._call("a refresh", lambda es: es.indices.refresh(index=index))

    def _reserve(self, count: int) -> int:
        """The first of `count` strictly increasing date_added stamps (inside the lease).

        The clock document is written only if nobody changed it since it was read (seq_no): a
        writer that lost its lease cannot hand out stamps another writer is handing out. No
        script: a node without the painless module serves too."""
        meta = self.names["meta"]
        clock = self._call("reading the clock", lambda es: es.get(index=meta, id="clock", ignore=404))
        last = int(clock["_source"]["last"]) if clock.get("found") else 0
        first = max(now_micros(), last + 1)
        condition = (
            {"if_seq_no": clock["_seq_no"], "if_primary_term": clock["_primary_term"]}
            if clock.get("found")
            else {"op_type": "create"}
        )
        try:
            self._call(
                "advancing the clock",
                lambda es: es.index(
                    index=meta, id="clock", document={"kind": "clock", "last": first + count - 1}, **condition
                ),
            )
        except StoreError as exc:
            if isinstance(exc.__cause__, ConflictError):
                raise StoreError(
                    f"Elasticsearch at {self.where}: another writer advanced the clock during this"
                    " batch (its write lease was taken over); the batch is not acknowledged",
                    cause="conflict",
                ) from exc
            raise
        return first

    def _bulk(
        self, actions: list[dict[str, Any]], lease: Lease | None = None, refused: dict[str, str] | None = None
    ) -> None:
        """Send `actions` in chunks, BULK_STREAMS chunks at a time: the node indexes one while
        this process serializes the next. Order between chunks does not matter for readers:
        nothing of a write is visible before its one refresh (refresh_interval -1).

        refused: if given, documents the node refuses as malformed (400: a mapping error) are
        put there (_id -> reason) for the caller to answer per object; other failures raise."""
        failures: list[dict[str, Any]] = []
        size = self.settings.bulk_chunk_size
        parts = [actions[i : i + size] for i in range(0, len(actions), size)]

        def send_part(es: Elasticsearch, part: list[dict[str, Any]]) -> None:
            for ok, item in streaming_bulk(
                es, part, chunk_size=size, max_retries=5, raise_on_error=False, raise_on_exception=True
            ):
                if lease is not None:
                    lease.check()
                result = next(iter(item.values()))
                if ok or (result.get("status") == 404 and "delete" in item):
                    continue  # a delete of what is already gone is fine
                if refused is not None and result.get("status") == 400:
                    refused[str(result.get("_id"))] = _reason(result.get("error"))
                else:
                    failures.append(result)

        def send(es: Elasticsearch) -> None:
            if len(parts) <= 1:
                for part in parts:
                    send_part(es, part)
                return
            with ThreadPoolExecutor(BULK_STREAMS) as pool:
                for done in [pool.submit(send_part, es, part) for part in parts]:
                    done.result()  # re-raises a connection error of any part

        self._call("a bulk write", send)
        if failures:
            first = failures[0]
            raise StoreError(
                f"Elasticsearch at {self.where} rejected {len(failures)} of {len(actions)} writes; "
                f"first: {first.get('_id')}: {first.get('error')}",
                cause=response_cause(first.get("status"), first.get("error")),
            )

    def _versions(self, collection: str, ids: list[str]) -> dict[str, dict[int, _Version]]:
        found: dict[str, dict[int, _Version]] = {}
        for start in range(0, len(ids), q.WALK):
            body = q.versions_of(collection, ids[start : start + q.WALK])
            for hit in self._walk("reading stored versions", self.names["objects"], body, collection):
                s = hit["_source"]
                found.setdefault(s["id"], {})[s["version"]] = _Version(
                    s["type"], s["version"], s["spec_version"], s["date_added"], s["body"],
                    is_first=s["is_first"], is_last=s["is_last"], owner=s.get("owner", SERVER),
                )  # fmt: skip
        return found

    def add_objects(
        self, collection: str, objects: Sequence[NewObject], owner: str = SERVER
    ) -> list[AddOutcome]:
        if not objects:
            return []
        with self._writing() as lease:  # the lease makes the owner check and the write one step
            outcomes = self._add(collection, objects, owner, lease, retry=True)
            lease.check()
        return outcomes

    def _add(
        self, collection: str, objects: Sequence[NewObject], owner: str, lease: Lease, retry: bool
    ) -> list[AddOutcome]:
        """add_objects inside the lease. A document the node refuses takes its object's versions
        back (_undo_refused); with `retry`, each such object is then written again alone, with new
        stamps: the refusal may have been another's doing (a refused sighting makes the sighted
        indicator's counts overflow too), and only an object refused on its own is "rejected"."""
        stored = self._versions(collection, sorted({o.id for o in objects}))
        # The account that first stored an id owns it (any stored version says who); a new
        # id becomes the writer's.
        owners = {i: next(iter(vs.values())).owner for i, vs in stored.items() if vs}
        first_stamp = self._reserve(len(objects))
        outcomes: list[AddOutcome] = []
        new: dict[str, dict[int, _Version]] = {}
        for n, obj in enumerate(objects):
            held = owners.setdefault(obj.id, owner)
            if owner != SERVER and held != owner:
                outcomes.append("not_owner")
                continue
            known = stored.get(obj.id, {}).get(obj.version) or new.get(obj.id, {}).get(obj.version)
            if known is not None:
                outcomes.append("duplicate" if known.body.encode() == obj.body else "conflict")
                new.setdefault(obj.id, {})  # touched: its flags and search document are checked
                continue
            version = _Version(
                obj.type,
                obj.version,
                obj.spec_version,
                first_stamp + n,
                obj.body.decode(),
                obj.version_text,
                owner=held,
                tlp_rank=version_tlp_rank(obj),
            )
            new.setdefault(obj.id, {})[obj.version] = version
            outcomes.append("added")
        actions: list[dict[str, Any]] = []
        fresh: dict[str, _Version] = {}
        check: dict[str, _Version] = {}
        old_targets: set[str] = set()
        for object_id, added in new.items():
            old = stored.get(object_id, {})
            every = {**old, **added}
            low, high = min(every), max(every)
            for v in sorted(added):  # new documents before the flags they take from older ones
                actions.append(self._object_action(collection, object_id, added[v], v == low, v == high))
            actions.extend(self._flag_fixes(collection, object_id, old, low, high))
            if high in added:
                fresh[object_id] = added[high]
                old_latest = _sighted(old[max(old)]) if old else None
                if old_latest:
                    old_targets.add(old_latest)
            else:
                check[object_id] = old[high]
        refused: dict[str, str] = {}
        # The node indexes the object documents while this process builds the search documents
        # (their CPU time, a third of the store's, was spent with the node idle). Safe: the
        # search side reads only the search index, which this write has not touched yet, and
        # nothing of either is visible before the one refresh (_writing).
        with ThreadPoolExecutor(1) as pool:
            objects_sent = pool.submit(self._bulk, actions, lease, refused)
            search_actions = self._search_actions(collection, fresh, check, set(), old_targets)
            objects_sent.result()
        self._bulk(search_actions, lease, refused)
        if refused:
            reasons = self._undo_refused(collection, refused, stored, new, lease)
            for object_id, reason in reasons.items():
                at = [n for n, o in enumerate(objects) if o.id == object_id and outcomes[n] == "added"]
                again = (
                    self._add(collection, [objects[n] for n in at], owner, lease, retry=False)
                    if retry
                    else [Rejected(reason)] * len(at)
                )
                for n, outcome in zip(at, again, strict=True):
                    outcomes[n] = outcome
        return outcomes

    def _undo_refused(
        self,
        collection: str,
        refused: dict[str, str],
        stored: dict[str, dict[int, _Version]],
        new: dict[str, dict[int, _Version]],
        lease: Lease,
    ) -> dict[str, str]:
        """Take back every version this batch added of the objects a refused document belongs to
        (an object is stored whole or not at all), and put their flags, search documents and the
        sighting counts they changed back to what the stored versions say. Returns the reason
        per object id. Still inside the lease: nothing of it was ever visible to a reader."""
        reasons: dict[str, str] = {}
        for doc_id, reason in refused.items():
            parts = doc_id.split("|")
            object_id = parts[1] if len(parts) in (2, 3) and parts[0] == collection else ""
            if new.get(object_id):
                reasons.setdefault(object_id, reason)
                continue
            # Not an object of this write: the sighting counts of a sighted object, refused for
            # what this write's sightings of it added.
            sighting = [i for i, vs in new.items() if any(_sighted(v) == object_id for v in vs.values())]
            if not sighting:
                raise StoreError(
                    f"Elasticsearch at {self.where} refused the document {doc_id} of this write: {reason}",
                    cause="error",
                )
            for i in sighting:
                reasons.setdefault(i, reason)
        undo: list[dict[str, Any]] = []
        targets: set[str] = set()
        for object_id in reasons:
            for v, version in new[object_id].items():
                undo.append(
                    {
                        "_op_type": "delete",
                        "_index": self.names["objects"],
                        "_id": q.object_doc_id(collection, object_id, v),
                        "_routing": collection,
                    }
                )
                targets.update(t for t in (_sighted(version),) if t)
            old = stored.get(object_id, {})
            if old:  # flags as stored before this batch: written whatever the batch did to them
                unknown = {v: replace(version, is_first=None, is_last=None) for v, version in old.items()}
                undo.extend(self._flag_fixes(collection, object_id, unknown, min(old), max(old)))
                targets.update(t for t in (_sighted(old[max(old)]),) if t)
            # Its search document goes too (it may hold the refused version); one for a stored
            # version is written again below, after the refresh, with the counts of what is stored.
            undo.append(
                {"_op_type": "delete", "_index": self.names["search"], "_id": f"{collection}|{object_id}"}
            )
        self._bulk(undo, lease)
        index = f"{self.names['objects']},{self.names['search']}"
        self._call("a refresh", lambda es: es.indices.refresh(index=index))
        fresh = {i: stored[i][max(stored[i])] for i in reasons if stored.get(i)}
        gone = {i for i in reasons if not stored.get(i)}
        self._bulk(self._search_actions(collection, fresh, {}, gone, targets), lease)
        for object_id, reason in reasons.items():
            log.warning("store.rejected collection=%s id=%s reason=%s", collection, object_id, reason)
        return reasons

    def _object_action(
        self, collection: str, object_id: str, v: _Version, is_first: bool, is_last: bool
    ) -> dict[str, Any]:
        return {
            "_op_type": "index",
            "_index": self.names["objects"],
            "_id": q.object_doc_id(collection, object_id, v.version),
            "_routing": collection,
            "_source": {
                "collection": collection,
                "id": object_id,
                "type": v.type,
                "version": v.version,
                "version_text": v.version_text,
                "spec_version": v.spec_version,
                "date_added": v.date_added,
                "is_first": is_first,
                "is_last": is_last,
                "body": v.body,
                "owner": v.owner,
                **({} if v.tlp_rank is None else {"tlp_rank": v.tlp_rank}),
            },
        }

    def _flag_fixes(
        self, collection: str, object_id: str, stored: dict[int, _Version], low: int, high: int
    ) -> list[dict[str, Any]]:
        """Updates for the stored versions whose first/last flags are not what they should be."""
        fixes = []
        for v, version in stored.items():
            want = {"is_first": v == low, "is_last": v == high}
            if (version.is_first, version.is_last) != (want["is_first"], want["is_last"]):
                fixes.append(
                    {
                        "_op_type": "update",
                        "_index": self.names["objects"],
                        "_id": q.object_doc_id(collection, object_id, v),
                        "_routing": collection,
                        "doc": want,
                    }
                )
        return fixes

    def _search_actions(
        self,
        collection: str,
        fresh: dict[str, _Version],
        check: dict[str, _Version],
        removed: set[str],
        old_targets: set[str],
    ) -> list[dict[str, Any]]:
        """The search-index side of a write: the latest versions that changed (`fresh`), the
        stored latest versions a re-sent batch touched (`check`: indexed again when their search
        document is missing or stale), the objects gone (`removed`), and the sighting counts of
        every object whose sightings changed (`old_targets`: what replaced or removed sightings
        sighted)."""
        fresh = {**fresh, **self._stale(collection, check)}
        keys = {object_id: f"{collection}|{object_id}" for object_id in (*fresh, *removed)}
        sources = {}
        for object_id, v in fresh.items():
            source = search_source(collection, v.parsed, v.date_added, v.version)
            if source is not None:
                sources[object_id] = source
        targets = set(old_targets)
        for source in sources.values():
            if source.get("sighting_of_ref"):
                targets.add(source["sighting_of_ref"])
            if source["type"] != "relationship":
                targets.add(source["id"])
        counts = self._sighting_counts(sorted(targets), list(keys.values()), sources)
        actions: list[dict[str, Any]] = []
        for object_id, source in sources.items():
            if source["type"] != "relationship":
                source["sightings"], source["organizations"] = counts.get(object_id, (0, 0))
            actions.append(
                {
                    "_op_type": "index",
                    "_index": self.names["search"],
                    "_id": keys[object_id],
                    "_source": source,
                }
            )
        actions.extend(
            {"_op_type": "delete", "_index": self.names["search"], "_id": keys[object_id]}
            for object_id in removed
        )
        # Search documents of sighted objects this write did not rewrite (other batches, other
        # collections): updated only where their counts change.
        others = sorted(targets - set(sources))
        for start in range(0, len(others), q.WALK):
            body = q.search_docs_of(others[start : start + q.WALK], list(keys.values()))
            changed = []
            for hit in self._walk("finding sighted objects", self.names["search"], body):
                s = hit["_source"]
                want = counts.get(hit["_id"].split("|", 1)[1], (0, 0))
                if "sightings" in s and (s.get("sightings"), s.get("organizations")) != want:
                    changed.append((s, want))
            actions.extend(self._recounted(changed))
        return actions

    def _recounted(self, changed: list[tuple[dict[str, Any], tuple[int, int]]]) -> list[dict[str, Any]]:
        """Search documents indexed again whole, from their stored versions, with new sighting
        counts. Not a partial update: that rebuilds the document from its _source, which leaves
        out the t_* words (the search mapping's _source excludes): the object would no longer be
        found by its words."""

        def stored(s: dict[str, Any]) -> str | None:  # None: a document from before versions were kept
            return q.object_doc_id(s["collection"], s["id"], s["version"]) if "version" in s else None

        wanted = {doc_id: s["collection"] for s, _ in changed if (doc_id := stored(s)) is not None}
        bodies: dict[str, str] = {}
        if wanted:
            docs = self._call(
                "reading sighted objects",
                lambda es: es.mget(
                    index=self.names["objects"],
                    body={"docs": [{"_id": doc_id, "routing": c} for doc_id, c in wanted.items()]},
                    _source=["body"],
                ),
            )["docs"]
            bodies = {doc["_id"]: doc["_source"]["body"] for doc in docs if doc.get("found")}
        latest = self._latest_bodies([s for s, _ in changed if stored(s) not in bodies])
        actions: list[dict[str, Any]] = []
        for s, (sightings, organizations) in changed:
            found = bodies.get(stored(s) or "")
            version = s.get("version")
            if found is None and (s["collection"], s["id"]) in latest:
                # A document without its version, or whose version is gone: rebuilt from the
                # latest stored one (what it should show anyway).
                version, found = latest[(s["collection"], s["id"])]
            source = (
                search_source(s["collection"], orjson.loads(found), s["date_added"], version)
                if found
                else None
            )
            if source is None:  # nothing stored to rebuild from: the counts alone
                update = {"sightings": sightings, "organizations": organizations}
                actions.append(
                    {"_op_type": "update", "_index": self.names["search"], "_id": s["doc_key"], "doc": update}
                )
                continue
            source["sightings"], source["organizations"] = sightings, organizations
            actions.append(
                {"_op_type": "index", "_index": self.names["search"], "_id": s["doc_key"], "_source": source}
            )
        return actions

    def _latest_bodies(self, sources: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, str]]:
        """(collection, id) -> (version, body) of the latest stored version of each object."""
        by_collection: dict[str, set[str]] = {}
        for s in sources:
            by_collection.setdefault(s["collection"], set()).add(s["id"])
        latest: dict[tuple[str, str], tuple[int, str]] = {}
        for collection, ids in by_collection.items():
            for object_id, versions in self._versions(collection, sorted(ids)).items():
                if versions:
                    newest = max(versions)
                    latest[(collection, object_id)] = (newest, versions[newest].body)
        return latest

    def _stale(self, collection: str, check: dict[str, _Version]) -> dict[str, _Version]:
        """Of the stored latest versions in `check`, those whose search document is missing or
        holds another version (a batch that failed between its object and search documents)."""
        wanted = {k: v for k, v in check.items() if v.type != "marking-definition"}
        if not wanted:
            return {}
        ids = [f"{collection}|{object_id}" for object_id in wanted]
        docs = self._call(
            "reading search documents",
            lambda es: es.mget(index=self.names["search"], body={"ids": ids}, _source=["version"]),
        )["docs"]
        return {
            object_id: wanted[object_id]
            for object_id, doc in zip(wanted, docs, strict=True)
            if not doc.get("found") or doc["_source"].get("version") != wanted[object_id].version
        }

    def _sighting_counts(
        self, targets: list[str], leave_out: list[str], sources: dict[str, dict[str, Any]]
    ) -> dict[str, tuple[int, int]]:
        """(sightings, distinct organizations) per target: the stored sightings but those this
        write replaces or removes (`leave_out`), plus the sightings this write indexes."""
        if not targets:
            return {}
        totals: dict[str, int] = {}
        observers: dict[str, set[str]] = {}
        for start in range(0, len(targets), q.WALK):
            chunk = targets[start : start + q.WALK]
            result = self._search(
                "counting sightings", self.names["search"], q.sighting_counts(chunk, leave_out)
            )
            for bucket in result["aggregations"]["of"]["buckets"]:
                totals[bucket["key"]] = int(bucket["count"]["value"])
                observers[bucket["key"]] = {b["key"] for b in bucket["observers"]["buckets"]}
        for source in sources.values():
            target = source.get("sighting_of_ref")
            if target:
                totals[target] = totals.get(target, 0) + int(source.get("count") or 1)
                if source.get("observer"):
                    observers.setdefault(target, set()).add(source["observer"])
        # A sum past a long could be neither sent nor indexed: it stays at the largest long.
        return {t: (min(totals.get(t, 0), q.MAX_LONG), len(observers.get(t, ()))) for t in targets}

    # -- reads ------------------------------------------------------------------------------
    def query(self, query: ObjectQuery) -> Page:
        """One search for a page of up to WINDOW - 1 objects (TAXII's max_page_size is far below)."""
        want = query.limit + 1
        hits: list[dict[str, Any]] = []
        after = query.after
        while len(hits) < want:
            body = q.taxii_page(query, size=want - len(hits), after=after)
            found = self._search("a TAXII page", self.names["objects"], body, query.collection)["hits"][
                "hits"
            ]
            hits.extend(found)
            if len(found) < body["size"]:
                break
            after = Keyset(*found[-1]["sort"])
        objects = [
            StoredObject(
                id=h["_source"]["id"],
                type=h["_source"]["type"],
                version=h["_source"]["version"],
                version_text=h["_source"]["version_text"],
                spec_version=h["_source"]["spec_version"],
                date_added=int(h["sort"][0]),
                media_type=STIX_MEDIA_TYPE,
                body=h["_source"]["body"].encode(),
            )
            for h in hits[: query.limit]
        ]
        return Page(objects=objects, more=len(hits) > query.limit)

    def _count(self, collection: str, filters: list[dict[str, Any]]) -> int:
        body = {"query": {"bool": {"filter": [{"term": {"collection": collection}}, *filters]}}}
        return int(
            self._call(
                "a count", lambda es: es.count(index=self.names["objects"], body=body, routing=collection)
            )["count"]
        )

    def object_exists(self, collection: str, object_id: str) -> bool:
        return bool(self._count(collection, [{"term": {"id": object_id}}]))

    def object_owner(self, collection: str, object_id: str) -> str | None:
        body = {
            "size": 1,
            "track_total_hits": False,
            "_source": ["owner"],
            "query": {
                "bool": {"filter": [{"term": {"collection": collection}}, {"term": {"id": object_id}}]}
            },
        }
        hits = self._search("an owner", self.names["objects"], body, collection)["hits"]["hits"]
        return str(hits[0]["_source"].get("owner", SERVER)) if hits else None

    def count(self, collection: str) -> int:
        return self._count(collection, [])

    def last_change(self, collection: str) -> int:
        """Adds are the newest date_added; deletes leave a "deleted|<collection>" meta document
        stamped from the store clock inside the write lease (so strictly after every date_added
        handed out before it)."""
        deleted = self._get(f"deleted|{collection}")
        return max(self.newest_date_added(collection), int(deleted["at"]) if deleted else 0)

    def newest_date_added(self, collection: str) -> int:
        body = {
            "size": 1,
            "_source": False,
            "track_total_hits": False,
            "query": {"term": {"collection": collection}},
            "sort": [{"date_added": "desc"}],
        }
        hits = self._search("the newest object", self.names["objects"], body, collection)["hits"]["hits"]
        return int(hits[0]["sort"][0]) if hits else 0

    def delete_object(
        self,
        collection: str,
        object_id: str,
        versions: tuple[str | int, ...] = ("all",),
        spec_versions: tuple[str, ...] = (),
    ) -> int:
        with self._writing() as lease:
            stored = self._versions(collection, [object_id]).get(object_id, {})
            victims = select_versions(stored, versions, spec_versions)
            if not victims:
                return 0
            left = {v: version for v, version in stored.items() if v not in victims}
            actions: list[dict[str, Any]] = [
                {
                    "_op_type": "delete",
                    "_index": self.names["objects"],
                    "_id": q.object_doc_id(collection, object_id, v),
                    "_routing": collection,
                }
                for v in sorted(victims)
            ]
            old_latest = stored[max(stored)]
            targets = {t for t in (_sighted(old_latest),) if t}
            if left:
                actions.extend(self._flag_fixes(collection, object_id, left, min(left), max(left)))
                if max(left) != old_latest.version:
                    actions.extend(
                        self._search_actions(collection, {object_id: left[max(left)]}, {}, set(), targets)
                    )
            else:
                actions.extend(self._search_actions(collection, {}, {}, {object_id}, targets))
            self._bulk(actions, lease)
            lease.check()
            # The delete's time, from the clock (inside the lease): what last_change() follows.
            at = self._reserve(1)
            self._put(f"deleted|{collection}", {"kind": "deleted", "key": collection, "at": at})
        return len(victims)

    # -- search -----------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        body = q.search(query)
        if query.time_budget_ms:  # Elasticsearch stops collecting at the timeout and says so
            body["timeout"] = f"{query.time_budget_ms}ms"

        def run(es: Elasticsearch) -> Any:
            try:
                return es.search(index=self.names["search"], body=body)
            except TransportError as exc:
                if query.advanced and exc.status_code == 400:  # the caller's syntax: a 400 for them
                    raise SearchSyntaxError(f"the advanced query could not be parsed: {exc.error}") from None
                raise

        result = self._call("a search", run)
        if result.get("timed_out") and query.time_budget_ms:
            raise SearchTimeout(query.time_budget_ms)
        hits = result["hits"]["hits"]
        total = result["hits"]["total"]
        facets = {
            name: {str(b["key"]): int(b["doc_count"]) for b in agg["buckets"]}
            for name, agg in result.get("aggregations", {}).items()
        }
        histogram = self._histogram(query) if query.histogram else []
        return SearchResult(
            hits=[es_hit(h) for h in hits[: query.limit]],
            total=min(total["value"], q.TOTAL_CAP),
            total_is_exact=total["relation"] == "eq" and total["value"] <= q.TOTAL_CAP,
            more=len(hits) > query.limit,
            facets=facets,
            histogram=histogram,
        )

    def _histogram(self, query: SearchQuery) -> list[tuple[int, int]]:
        ids_body = {
            "size": q.TOTAL_CAP,
            "_source": ["id"],
            "query": {"bool": {"filter": q.search_filters(query)}},
        }
        found = self._call("a search", lambda es: es.search(index=self.names["search"], body=ids_body))
        ids = list({h["_source"]["id"] for h in found["hits"]["hits"]})
        if not ids:
            return []
        since = now_micros() // 1000 - 365 * DAY_MS
        body = q.sightings_histogram(ids, list(query.collections), since)
        result = self._call("a histogram", lambda es: es.search(index=self.names["search"], body=body))
        return [
            (int(b["key"]) * 1000, int(b["count"]["value"]))
            for b in result["aggregations"]["days"]["buckets"]
        ]

    def sightings_of(
        self, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
    ) -> list[SightingSummary]:
        body = {
            "size": q.WINDOW,  # the most recent 10,000 sightings of one object: what a pivot shows
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"type": "sighting"}},
                        {"term": {"sighting_of_ref": object_id}},
                        {"terms": {"collection": list(collections)}},
                        *([] if max_tlp_rank is None else [q.tlp_at_most(max_tlp_rank)]),
                    ]
                }
            },
            "sort": [{"last_seen": "desc"}],
        }
        hits = self._call("sightings", lambda es: es.search(index=self.names["search"], body=body))["hits"][
            "hits"
        ]
        names = self._names([h["_source"].get("observer") for h in hits])
        return [
            SightingSummary(
                collection=s["collection"],
                id=s["id"],
                indicator_id=object_id,
                observer=s.get("observer"),
                observer_name=names.get(s.get("observer") or ""),
                count=int(s.get("count", 1)),
                first_seen=millis_to_micros(s.get("first_seen")),
                last_seen=millis_to_micros(s.get("last_seen")),
            )
            for s in (h["_source"] for h in hits)
        ]

    def _names(self, ids: list[str | None]) -> dict[str, str]:
        wanted = sorted({i for i in ids if i})
        names: dict[str, str] = {}
        for start in range(0, len(wanted), q.WALK):
            chunk = wanted[start : start + q.WALK]
            body = {
                "size": q.WINDOW,
                "track_total_hits": False,
                "_source": ["id", "name"],
                # t_name: indexed by every mapping version (version 3 does not index name itself)
                "query": {"bool": {"filter": [{"terms": {"id": chunk}}, {"exists": {"field": "t_name"}}]}},
            }
            for hit in self._search("names", self.names["search"], body)["hits"]["hits"]:
                names.setdefault(hit["_source"]["id"], hit["_source"]["name"])
        return names

    def related(
        self, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
    ) -> list[Related]:
        body = {
            "size": 1000,
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"type": "relationship"}},
                        {"terms": {"collection": list(collections)}},
                        *([] if max_tlp_rank is None else [q.tlp_at_most(max_tlp_rank)]),
                    ],
                    "should": [{"term": {"source_ref": object_id}}, {"term": {"target_ref": object_id}}],
                    "minimum_should_match": 1,
                }
            },
        }
        hits = self._call("relations", lambda es: es.search(index=self.names["search"], body=body))["hits"][
            "hits"
        ]
        rels = [h["_source"] for h in hits]
        others = [r["target_ref"] if r["source_ref"] == object_id else r["source_ref"] for r in rels]
        names = self._names(list(others))
        return [
            Related(
                r["id"],
                r["relationship_type"],
                "outgoing" if r["source_ref"] == object_id else "incoming",
                other,
                other.split("--", 1)[0],
                names.get(other),
            )
            for r, other in zip(rels, others, strict=True)
        ]

    # -- meta documents ---------------------------------------------------------------------
    def _put(self, doc_id: str, body: dict[str, Any], listed: bool = False) -> None:
        """Meta documents are read back by id (real time: no refresh needed); those that are
        listed by search (`listed`: accounts, dead letters) refresh the small meta index."""
        self._call(
            "a write",
            lambda es: es.index(
                index=self.names["meta"],
                id=doc_id,
                document={**body, "doc_id": doc_id},
                refresh=True if listed else None,
            ),
        )

    def _get(self, doc_id: str) -> dict[str, Any] | None:
        def get(es: Elasticsearch) -> dict[str, Any] | None:
            try:
                return es.get(index=self.names["meta"], id=doc_id)["_source"]  # type: ignore[no-any-return]
            except NotFoundError as exc:
                if exc.error == "index_not_found_exception":  # no store here: not "no such document"
                    raise
                return None

        return self._call("a read", get)

    def _find(self, kind: str, **terms: Any) -> list[dict[str, Any]]:
        filters = [{"term": {"kind": kind}}, *({"term": {k: v}} for k, v in terms.items())]
        body = {
            "size": q.WALK,
            "track_total_hits": False,
            "query": {"bool": {"filter": filters}},
            "sort": [{"doc_id": "asc"}],
        }
        return [h["_source"] for h in self._walk("a lookup", self.names["meta"], body)]

    def save_status(self, status: StatusRecord) -> None:
        self._put(
            f"status|{status.id}", {"kind": "status", "record": orjson.loads(orjson.dumps(status.__dict__))}
        )

    def get_status(self, status_id: str) -> StatusRecord | None:
        doc = self._get(f"status|{status_id}")
        return StatusRecord(**doc["record"]) if doc else None

    def get_cursor(self, name: str) -> str | None:
        doc = self._get(f"cursor|{name}")
        return str(doc["value"]) if doc else None

    def save_cursor(self, name: str, value: str) -> None:
        self._put(f"cursor|{name}", {"kind": "cursor", "key": name, "value": value, "updated": now_micros()})

    def add_dead_letter(self, connector: str, kind: str, origin: str, reason: str, payload: bytes) -> None:
        digest = hashlib.sha256(f"{connector}|{origin}".encode()).hexdigest()
        letter = {
            "kind": "dead_letter",
            "key": connector,
            "letter_id": int(digest[:13], 16),
            "record": {
                "connector": connector,
                "kind": kind,
                "origin": origin,
                "reason": reason,
                "payload": payload.decode("utf-8", "surrogateescape"),
                "created": now_micros(),
            },
        }
        self._put(f"dead|{digest}", letter, listed=True)

    def list_dead_letters(self, connector: str | None = None) -> list[DeadLetter]:
        docs = self._find("dead_letter", **({"key": connector} if connector else {}))
        letters = [
            DeadLetter(
                d["letter_id"],
                **{**d["record"], "payload": d["record"]["payload"].encode("utf-8", "surrogateescape")},
            )
            for d in docs
        ]
        return sorted(letters, key=lambda letter: letter.created)

    def delete_dead_letter(self, letter_id: int) -> None:
        filters = [{"term": {"kind": "dead_letter"}}, {"term": {"letter_id": letter_id}}]
        body = {"size": q.WALK, "_source": False, "query": {"bool": {"filter": filters}}, "sort": ["doc_id"]}
        for doc_id in [h["_id"] for h in self._walk("finding a dead letter", self.names["meta"], body)]:
            self._delete_meta(doc_id)

    def _delete_meta(self, doc_id: str) -> None:
        self._call(
            "a delete", lambda es: es.delete(index=self.names["meta"], id=doc_id, refresh=True, ignore=404)
        )

    def record_ingest(self, connector: str, counts: dict[str, int]) -> None:
        """Totals per connector and outcome: read, add, write back only if unchanged meanwhile
        (seq_no), again on a conflict: two ingests may finish at once. No script needed."""
        for outcome, n in counts.items():
            if n:
                self._add_to_total(connector, outcome, n)

    def _add_to_total(self, connector: str, outcome: str, n: int) -> None:
        meta, doc_id = self.names["meta"], f"total|{connector}|{outcome}"
        for _ in range(20):
            held = self._call("reading a total", lambda es: es.get(index=meta, id=doc_id, ignore=404))
            total = {"kind": "total", "key": connector, "outcome": outcome, "doc_id": doc_id, "count": n}
            condition: dict[str, Any] = {"op_type": "create"}
            if held.get("found"):
                total["count"] = n + int(held["_source"]["count"])
                condition = {"if_seq_no": held["_seq_no"], "if_primary_term": held["_primary_term"]}
            write = partial(_index_if, index=meta, doc_id=doc_id, document=total, condition=condition)
            if self._call("adding to a total", write):
                return
        raise StoreError(
            f"Elasticsearch at {self.where}: could not update the total {doc_id}", cause="conflict"
        )

    def ingest_totals(self) -> dict[tuple[str, str], int]:
        return {(d["key"], d["outcome"]): int(d["count"]) for d in self._find("total")}

    def size_bytes(self) -> int:
        stats = self._call(
            "index stats",
            lambda es: es.indices.stats(index=f"{self.settings.index_prefix}-*", metric="store"),
        )
        return int(stats["_all"]["total"]["store"]["size_in_bytes"])

    def add_account(self, account: Account) -> None:
        def create(es: Elasticsearch) -> None:
            try:
                es.create(
                    index=self.names["meta"],
                    id=f"account|{account.name}",
                    document={
                        "kind": "account",
                        "key": account.name,
                        "doc_id": f"account|{account.name}",
                        "record": account.__dict__,
                    },
                    refresh=True,
                )
            except ConflictError:
                raise StoreError(
                    f"an account named {account.name!r} already exists", cause="conflict"
                ) from None

        self._call("storing an account", create)

    def get_account(self, name: str) -> Account | None:
        doc = self._get(f"account|{name}")
        return Account(**doc["record"]) if doc else None

    def list_accounts(self) -> list[Account]:
        return sorted((Account(**d["record"]) for d in self._find("account")), key=lambda a: a.name)

    def update_account(self, account: Account) -> None:
        self._put(
            f"account|{account.name}",
            {"kind": "account", "key": account.name, "record": account.__dict__},
            listed=True,
        )

    def end_sessions(self, name: str) -> None:
        """Bump session_generation: read, add one, write back only if nobody changed the account
        meanwhile (seq_no/primary_term, like the clock; no painless script), again on a conflict."""
        meta, doc_id = self.names["meta"], f"account|{name}"
        for _ in range(20):
            held = self._call("reading an account", lambda es: es.get(index=meta, id=doc_id, ignore=404))
            if not held.get("found"):
                return  # as the embedded store: no such account, no session to end
            doc = held["_source"]
            record = {
                **doc["record"],
                "session_generation": int(doc["record"].get("session_generation", 0)) + 1,
            }
            condition = {"if_seq_no": held["_seq_no"], "if_primary_term": held["_primary_term"]}
            write = partial(
                _index_if, index=meta, doc_id=doc_id, document={**doc, "record": record}, condition=condition
            )
            if self._call("ending sessions", write):
                return
        raise StoreError(
            f"Elasticsearch at {self.where}: could not end the sessions of {name!r}", cause="conflict"
        )
