"""The Elasticsearch backend: the same store contract, for deployments beyond one machine.

Writes are serialized by a lease document (created with op_type=create, which Elasticsearch
decides atomically by _id), the way SQLite's BEGIN IMMEDIATE serializes them: inside it the batch
reserves strictly increasing date_added stamps from a clock document, and its bulk request waits
for a refresh (refresh=wait_for), so nothing with a smaller date_added can become visible after a
poller has seen a larger one, and a TAXII status that says "complete" means "searchable".
A batch is acknowledged only when every item of its bulk succeeded; items are retried on 429 by
helpers.streaming_bulk, and a failed batch can be re-sent as it is: every _id is deterministic.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from elasticsearch import ConflictError, Elasticsearch, NotFoundError, TransportError
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch.helpers import streaming_bulk

from config.settings import ElasticsearchSettings
from indexer.errors import StoreError
from indexer.search import model as search_model
from indexer.search.docs import relationship_ends, search_doc, sighting_doc, tlp_rank_of
from indexer.search.model import Hit, Related, SearchQuery, SearchResult, SearchSyntaxError, SightingSummary
from indexer.store import elastic_queries as q
from indexer.store.base import (
    SERVER,
    Account,
    AddOutcome,
    DeadLetter,
    NewObject,
    ObjectQuery,
    Page,
    StatusRecord,
    StoredObject,
    version_tlp_rank,
)
from indexer.store.elastic_digest import ElasticDigestReports
from indexer.store.embedded import MEDIA_TYPE_STIX21
from indexer.timestamps import now_micros, parse_timestamp
from indexer.tlp import effective_tlp_rank

log = logging.getLogger(__name__)
T = TypeVar("T")
LEASE_SECONDS = 60
DAY_MS = 86_400_000


class ElasticStore(ElasticDigestReports):  # digests and reports: elastic_digest.py
    def __init__(self, settings: ElasticsearchSettings, client: Elasticsearch | None = None) -> None:
        self.settings = settings
        self.names = q.index_names(settings.index_prefix)
        self._client, self._pid = client, os.getpid() if client else -1

    # -- connection -------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return ", ".join(self.settings.hosts)

    def _es(self) -> Elasticsearch:
        if self._client is None or self._pid != os.getpid():  # connection pools must not cross a fork
            options: dict[str, Any] = {"request_timeout": self.settings.request_timeout}
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
        try:
            return action(self._es())
        except EsConnectionError as exc:
            raise StoreError(f"Elasticsearch at {self.where} is unreachable ({what}): {exc}") from exc
        except TransportError as exc:
            raise StoreError(f"Elasticsearch at {self.where} refused {what}: {exc}") from exc

    def initialize(self) -> None:
        health = self._call("a health check", lambda es: es.cluster.health(timeout="10s"))
        if health.get("status") == "red":
            raise StoreError(f"Elasticsearch at {self.where} is red: fix the cluster before using it")

        def prepare(es: Elasticsearch) -> None:
            for name, template in q.templates(self.settings.index_prefix).items():
                es.indices.put_template(name=name, body=template)
            for index in self.names.values():
                es.indices.create(index=index, ignore=400)  # 400: it exists already
            # An objects index from before per-version TLP and owners gains the fields (strict mapping).
            es.indices.put_mapping(index=self.names["objects"], body={"properties": q.OBJECT_SCOPE_FIELDS})

        self._call("creating templates and indices", prepare)
        log.info("store.initialized elasticsearch=%s prefix=%s", self.where, self.settings.index_prefix)

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None

    # -- writes -----------------------------------------------------------------------------
    @contextmanager
    def _lease(self) -> Iterator[None]:
        owner, deadline = uuid.uuid4().hex, time.monotonic() + LEASE_SECONDS
        meta = self.names["meta"]
        while True:
            if self._try_lease(owner):
                break
            held = self._call(
                "reading the write lease", lambda es: es.get(index=meta, id="lease", ignore=404)
            )
            if held.get("found") and held["_source"]["expires"] < now_micros():  # its holder died
                self._break_lease(held["_seq_no"], held["_primary_term"])
            if time.monotonic() > deadline:
                raise StoreError(f"Elasticsearch at {self.where}: another writer held the lease for 60 s")
            time.sleep(0.02)
        try:
            yield
        finally:
            self._call("releasing the write lease", lambda es: es.delete(index=meta, id="lease", ignore=404))

    def _try_lease(self, owner: str) -> bool:
        body = {"kind": "lease", "owner": owner, "expires": now_micros() + LEASE_SECONDS * 1_000_000}
        try:
            self._call(
                "taking the write lease",
                lambda es: es.create(index=self.names["meta"], id="lease", document=body),
            )
        except StoreError as exc:
            if isinstance(exc.__cause__, ConflictError):
                return False  # another writer holds it
            raise
        return True

    def _break_lease(self, seq_no: int, primary_term: int) -> None:
        meta = self.names["meta"]
        self._call(
            "breaking a stale lease",
            lambda es: es.delete(
                index=meta, id="lease", if_seq_no=seq_no, if_primary_term=primary_term, ignore=[404, 409]
            ),
        )

    def _reserve(self, count: int) -> int:
        """The first of `count` strictly increasing date_added stamps (inside the lease)."""
        meta = self.names["meta"]
        clock = self._call("reading the clock", lambda es: es.get(index=meta, id="clock", ignore=404))
        last = clock["_source"]["last"] if clock.get("found") else 0
        first = max(now_micros(), last + 1)
        self._call(
            "advancing the clock",
            lambda es: es.index(
                index=meta, id="clock", document={"kind": "clock", "last": first + count - 1}
            ),
        )
        return first

    def _bulk(self, actions: list[dict[str, Any]]) -> None:
        failures = []

        def send(es: Elasticsearch) -> None:
            for ok, item in streaming_bulk(
                es, actions, max_retries=5, raise_on_error=False, raise_on_exception=True, refresh="wait_for"
            ):
                if not ok:
                    failures.append(item)

        self._call("a bulk write", send)
        if failures:
            first = next(iter(failures[0].values()))
            raise StoreError(
                f"Elasticsearch at {self.where} rejected {len(failures)} of {len(actions)} writes; "
                f"first: {first.get('_id')}: {first.get('error')}"
            )

    def add_objects(
        self, collection: str, objects: Sequence[NewObject], owner: str = SERVER
    ) -> list[AddOutcome]:
        if not objects:
            return []
        with self._lease():  # the lease makes the owner check and the write one step
            stored, owners = self._existing(collection, list({o.id for o in objects}))
            first_stamp = self._reserve(len(objects))
            outcomes: list[AddOutcome] = []
            actions: list[dict[str, Any]] = []
            latest: dict[str, tuple[dict[str, Any], int]] = {}
            for n, obj in enumerate(objects):
                held = owners.setdefault(obj.id, owner)  # a new id becomes the writer's
                if owner != SERVER and held != owner:
                    outcomes.append("not_owner")
                    continue
                versions = stored.setdefault(obj.id, {})
                if obj.version in versions:
                    outcomes.append("duplicate" if versions[obj.version] == obj.body else "conflict")
                    continue
                low, high = (min(versions), max(versions)) if versions else (None, None)
                is_first, is_last = low is None or obj.version < low, high is None or obj.version > high
                for old, flag, change in ((low, "is_first", is_first), (high, "is_last", is_last)):
                    if old is not None and change:
                        actions.append(self._flag(collection, obj.id, old, flag))
                date_added = first_stamp + n
                versions[obj.version] = obj.body
                action = self._object_action(collection, obj, date_added, is_first, is_last)
                action["_source"].update(tlp_rank=version_tlp_rank(obj), owner=held)
                actions.append(action)
                if is_last:
                    latest[obj.id] = (orjson.loads(obj.body), date_added)
                outcomes.append("added")
            actions.extend(self._search_actions(collection, latest))
            self._bulk(actions)
            # A new sighting changes its indicator's counts; a new indicator may already be sighted.
            self._refresh_sighting_counts(
                list(
                    {
                        b["sighting_of_ref"] if b.get("type") == "sighting" else i
                        for i, (b, _) in latest.items()
                    }
                )
            )
        return outcomes

    def _existing(
        self, collection: str, ids: list[str]
    ) -> tuple[dict[str, dict[int, bytes]], dict[str, str]]:
        found: dict[str, dict[int, bytes]] = {}
        owners: dict[str, str] = {}
        body = q.existing_versions(collection, ids)
        result = self._call(
            "reading stored versions", lambda es: es.search(index=self.names["objects"], body=body)
        )
        for hit in result["hits"]["hits"]:
            src = hit["_source"]
            found.setdefault(src["id"], {})[src["version"]] = src["body"].encode()
            owners[src["id"]] = src.get("owner", SERVER)  # documents from before owners: the platform's
        return found, owners

    def _flag(self, collection: str, object_id: str, version: int, flag: str) -> dict[str, Any]:
        return {
            "_op_type": "update",
            "_index": self.names["objects"],
            "_id": q.object_doc_id(collection, object_id, version),
            "doc": {flag: False},
        }

    def _object_action(
        self, collection: str, obj: NewObject, date_added: int, is_first: bool, is_last: bool
    ) -> dict[str, Any]:
        return {
            "_op_type": "index",
            "_index": self.names["objects"],
            "_id": q.object_doc_id(collection, obj.id, obj.version),
            "_source": {
                "collection": collection,
                "id": obj.id,
                "type": obj.type,
                "version": obj.version,
                "version_text": obj.version_text,
                "modified": q.nanos(obj.version),
                "spec_version": obj.spec_version,
                "date_added": q.nanos(date_added),
                "is_first": is_first,
                "is_last": is_last,
                "body": obj.body.decode(),
            },
        }

    def _search_actions(
        self, collection: str, latest: dict[str, tuple[dict[str, Any], int]]
    ) -> list[dict[str, Any]]:
        actions = []
        for object_id, (body, date_added) in latest.items():
            source = search_source(collection, body, date_added)
            if source is None:
                continue
            actions.append(
                {
                    "_op_type": "index",
                    "_index": self.names["search"],
                    "_id": f"{collection}|{object_id}",
                    "_source": source,
                }
            )
        return actions

    def _refresh_sighting_counts(self, object_ids: list[str]) -> None:
        if not object_ids:
            return
        body = q.sighting_counts(object_ids)
        result = self._call("counting sightings", lambda es: es.search(index=self.names["search"], body=body))
        counts = {
            b["key"]: (int(b["count"]["value"]), int(b["orgs"]["value"]))
            for b in result["aggregations"]["of"]["buckets"]
        }
        targets = self._call(
            "finding sighted objects",
            lambda es: es.search(
                index=self.names["search"],
                body={"size": 10_000, "_source": ["id"], "query": {"terms": {"id": object_ids}}},
            ),
        )
        actions = [
            {
                "_op_type": "update",
                "_index": self.names["search"],
                "_id": hit["_id"],
                "doc": dict(
                    zip(("sightings", "organizations"), counts.get(hit["_source"]["id"], (0, 0)), strict=True)
                ),
            }
            for hit in targets["hits"]["hits"]
        ]
        if actions:
            self._bulk(actions)

    # -- reads ------------------------------------------------------------------------------
    def query(self, query: ObjectQuery) -> Page:
        body = q.taxii_page(query)
        result = self._call("a TAXII page", lambda es: es.search(index=self.names["objects"], body=body))
        hits = result["hits"]["hits"]
        objects = [
            StoredObject(
                id=h["_source"]["id"],
                type=h["_source"]["type"],
                version=h["_source"]["version"],
                version_text=h["_source"]["version_text"],
                spec_version=h["_source"]["spec_version"],
                date_added=int(h["sort"][0]) // 1000,
                media_type=MEDIA_TYPE_STIX21,
                body=h["_source"]["body"].encode(),
            )
            for h in hits[: query.limit]
        ]
        return Page(objects=objects, more=len(hits) > query.limit)

    def object_exists(self, collection: str, object_id: str) -> bool:
        body = {
            "query": {"bool": {"filter": [{"term": {"collection": collection}}, {"term": {"id": object_id}}]}}
        }
        return bool(
            self._call("a count", lambda es: es.count(index=self.names["objects"], body=body))["count"]
        )

    def object_owner(self, collection: str, object_id: str) -> str | None:
        body = {
            "size": 1,
            "_source": ["owner"],
            "query": {
                "bool": {"filter": [{"term": {"collection": collection}}, {"term": {"id": object_id}}]}
            },
        }
        hits = self._call("an owner", lambda es: es.search(index=self.names["objects"], body=body))["hits"][
            "hits"
        ]
        return str(hits[0]["_source"].get("owner", SERVER)) if hits else None

    def count(self, collection: str) -> int:
        body = {"query": {"term": {"collection": collection}}}
        return int(
            self._call("a count", lambda es: es.count(index=self.names["objects"], body=body))["count"]
        )

    def last_change(self, collection: str) -> int:
        # Deletes are not timestamped in this backend yet: only adds are followed.
        return self.newest_date_added(collection)

    def newest_date_added(self, collection: str) -> int:
        body = {
            "size": 1,
            "_source": False,
            "query": {"term": {"collection": collection}},
            "sort": [{"date_added": "desc"}],
        }
        hits = self._call("the newest object", lambda es: es.search(index=self.names["objects"], body=body))[
            "hits"
        ]["hits"]
        return int(hits[0]["sort"][0]) // 1000 if hits else 0

    def delete_object(
        self,
        collection: str,
        object_id: str,
        versions: tuple[str | int, ...] = ("all",),
        spec_versions: tuple[str, ...] = (),
    ) -> int:
        page = q.taxii_page(
            ObjectQuery(collection, ids=(object_id,), versions=versions, spec_versions=spec_versions)
        )
        with self._lease():
            result = self._call(
                "a delete",
                lambda es: es.delete_by_query(
                    index=self.names["objects"], body={"query": page["query"]}, refresh=True
                ),
            )
            left = self.query(
                ObjectQuery(collection, ids=(object_id,), versions=("all",), limit=10_000)
            ).objects
            actions: list[dict[str, Any]] = [
                {
                    "_op_type": "update",
                    "_index": self.names["objects"],
                    "_id": q.object_doc_id(collection, o.id, o.version),
                    "doc": {
                        "is_first": o.version == min(x.version for x in left),
                        "is_last": o.version == max(x.version for x in left),
                    },
                }
                for o in left
            ]
            if left:
                newest = max(left, key=lambda o: o.version)
                actions.extend(
                    self._search_actions(
                        collection, {object_id: (orjson.loads(newest.body), newest.date_added)}
                    )
                )
            else:
                actions.append(
                    {"_op_type": "delete", "_index": self.names["search"], "_id": f"{collection}|{object_id}"}
                )
            try:
                self._bulk(actions)
            except StoreError:
                if left:
                    raise  # a missing search doc to delete is fine; anything else is not
        return int(result.get("deleted", 0))

    # -- search -----------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        body = q.search(query)
        if query.time_budget_ms:  # Elasticsearch stops collecting at the timeout and says so
            body["timeout"] = f"{query.time_budget_ms}ms"
        try:
            result = self._es().search(index=self.names["search"], body=body)
        except TransportError as exc:
            if query.advanced and exc.status_code == 400:
                raise SearchSyntaxError(f"the advanced query could not be parsed: {exc.error}") from None
            raise StoreError(f"Elasticsearch at {self.where} refused a search: {exc}") from exc
        if result.get("timed_out") and query.time_budget_ms:
            raise search_model.SearchTimeout(query.time_budget_ms)
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
            "size": 10_000,
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
                first_seen=_millis_to_micros(s.get("first_seen")),
                last_seen=_millis_to_micros(s.get("last_seen")),
            )
            for s in (h["_source"] for h in hits)
        ]

    def _names(self, ids: list[str | None]) -> dict[str, str]:
        wanted = [i for i in set(ids) if i]
        if not wanted:
            return {}
        body = {"size": len(wanted), "_source": ["id", "name"], "query": {"terms": {"id": wanted}}}
        hits = self._call("names", lambda es: es.search(index=self.names["search"], body=body))["hits"][
            "hits"
        ]
        return {h["_source"]["id"]: h["_source"].get("name") for h in hits if h["_source"].get("name")}

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
    def _put(self, doc_id: str, body: dict[str, Any]) -> None:
        self._call(
            "a write",
            lambda es: es.index(index=self.names["meta"], id=doc_id, document=body, refresh="wait_for"),
        )

    def _get(self, doc_id: str) -> dict[str, Any] | None:
        try:
            return self._es().get(index=self.names["meta"], id=doc_id)["_source"]  # type: ignore[no-any-return]
        except NotFoundError:
            return None
        except (EsConnectionError, TransportError) as exc:
            raise StoreError(f"Elasticsearch at {self.where} could not be read: {exc}") from exc

    def _find(self, kind: str, **terms: Any) -> list[dict[str, Any]]:
        filters = [{"term": {"kind": kind}}, *({"term": {k: v}} for k, v in terms.items())]
        body = {"size": 10_000, "query": {"bool": {"filter": filters}}}
        hits = self._call("a lookup", lambda es: es.search(index=self.names["meta"], body=body))["hits"][
            "hits"
        ]
        return [h["_source"] for h in hits]

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
        self._put(f"dead|{digest}", letter)

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
        body = {
            "query": {
                "bool": {"filter": [{"term": {"kind": "dead_letter"}}, {"term": {"letter_id": letter_id}}]}
            }
        }
        self._call(
            "a delete", lambda es: es.delete_by_query(index=self.names["meta"], body=body, refresh=True)
        )

    def record_ingest(self, connector: str, counts: dict[str, int]) -> None:
        actions = [
            {
                "_op_type": "update",
                "_index": self.names["meta"],
                "_id": f"total|{connector}|{outcome}",
                "script": {"source": "ctx._source.count += params.n", "params": {"n": n}},
                "upsert": {"kind": "total", "key": connector, "outcome": outcome, "count": n},
            }
            for outcome, n in counts.items()
            if n
        ]
        if actions:
            self._bulk(actions)

    def ingest_totals(self) -> dict[tuple[str, str], int]:
        return {(d["key"], d["outcome"]): int(d["count"]) for d in self._find("total")}

    def size_bytes(self) -> int:
        stats = self._call(
            "index stats",
            lambda es: es.indices.stats(index=f"{self.settings.index_prefix}-*", metric="store"),
        )
        return int(stats["_all"]["total"]["store"]["size_in_bytes"])

    def add_account(self, account: Account) -> None:
        try:
            self._es().create(
                index=self.names["meta"],
                id=f"account|{account.name}",
                document={"kind": "account", "key": account.name, "record": account.__dict__},
                refresh="wait_for",
            )
        except ConflictError:
            raise StoreError(f"an account named {account.name!r} already exists") from None
        except (EsConnectionError, TransportError) as exc:
            raise StoreError(f"Elasticsearch at {self.where} could not store the account: {exc}") from exc

    def get_account(self, name: str) -> Account | None:
        doc = self._get(f"account|{name}")
        return Account(**doc["record"]) if doc else None

    def list_accounts(self) -> list[Account]:
        return sorted((Account(**d["record"]) for d in self._find("account")), key=lambda a: a.name)

    def update_account(self, account: Account) -> None:
        self._put(
            f"account|{account.name}", {"kind": "account", "key": account.name, "record": account.__dict__}
        )

    def end_sessions(self, name: str) -> None:
        script = "ctx._source.record.session_generation = (ctx._source.record.session_generation ?: 0) + 1"
        self._call(
            "ending sessions",
            lambda es: es.update(
                index=self.names["meta"],
                id=f"account|{name}",
                body={"script": {"source": script}},
                refresh="wait_for",
            ),
        )


def search_source(collection: str, body: dict[str, Any], date_added: int) -> dict[str, Any] | None:
    """The search-index document for an object's latest version (None for marking definitions)."""
    if body.get("type") == "marking-definition":
        return None
    source: dict[str, Any] = {
        "doc_key": f"{collection}|{body['id']}",
        "collection": collection,
        "id": body["id"],
        "type": body["type"],
        "date_added": q.nanos(date_added),
    }
    ends = relationship_ends(body)
    if ends is not None:
        # The pivot's related() filters relationships by their own TLP too.
        rank = effective_tlp_rank(body)
        source.update(source_ref=ends[0], relationship_type=ends[1], target_ref=ends[2], tlp_rank=rank)
        return source
    doc = search_doc(collection, body, date_added)
    ranges = [
        v.value if "/" in v.value else v.value + ("/128" if ":" in v.value else "/32")
        for v in doc.values
        if v.kind in ("ip", "cidr") and v.ip_range is not None
    ]
    source.update(
        value=" ".join(v.value for v in doc.values),
        values=[{"kind": v.kind, "value": v.value} for v in doc.values],
        value_keys=[v.key for v in doc.values],
        ip_ranges=ranges,
        domain_revs=[r for r in (v.domain_rev for v in doc.values) if r],
        name=doc.name,
        description=doc.description,
        pattern=doc.pattern,
        labels=doc.labels,
        sources=doc.sources,
        tlp=doc.tlp,
        tlp_rank=tlp_rank_of(doc),
        created_by=doc.created_by,
        first_seen=doc.first_seen // 1000 if doc.first_seen else None,
        last_seen=doc.last_seen // 1000 if doc.last_seen else None,
        valid_until=doc.valid_until // 1000 if doc.valid_until else None,
        revoked=doc.revoked,
        sightings=0,
        organizations=0,
    )
    sighting = sighting_doc(collection, body)
    if sighting is not None:
        source.update(sighting_of_ref=sighting.indicator_id, observer=sighting.observer, count=sighting.count)
    return source


def _millis_to_micros(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_timestamp(value)
    return int(value) * 1000


def es_hit(hit: dict[str, Any]) -> Hit:
    s = hit["_source"]
    return Hit(
        collection=s["collection"],
        id=s["id"],
        type=s["type"],
        values=s.get("values", []),
        name=s.get("name"),
        description=s.get("description"),
        labels=s.get("labels", []),
        sources=s.get("sources", []),
        tlp=s.get("tlp"),
        first_seen=_millis_to_micros(s.get("first_seen")),
        last_seen=_millis_to_micros(s.get("last_seen")),
        valid_until=_millis_to_micros(s.get("valid_until")),
        revoked=bool(s.get("revoked")),
        sightings=int(s.get("sightings", 0)),
        organizations=int(s.get("organizations", 0)),
        position=tuple(hit["sort"]),
    )
