"""The one write path: validate, apply collection rules, store, and report per object.

TAXII POSTs, `cyberlab ingest-file`, connectors and sighting uploads all come through here, so
validation, value well-formedness, TLP rules and (given a Sanitizer) sanitization live in one
place. One bad object never stops the others: whatever goes wrong with one is its own failure.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import orjson

from config import CollectionSettings
from indexer import pattern
from indexer.canonical import same_object
from indexer.dependencies import Refusals, chunks_ready
from indexer.errors import InvalidObjectError
from indexer.sanitize import Sanitizer
from indexer.store.base import SERVER, NewObject, ObjectQuery, Rejected, Store
from indexer.timestamps import parse_timestamp
from indexer.tlp import effective_tlp, tlp_rank
from indexer.validate import too_deep, validate_stix_object
from indexer.wellformed import object_problem

log = logging.getLogger(__name__)

# Objects without modified/created (cyber observables) are immutable: one version, at the epoch.
UNVERSIONED = (0, "1970-01-01T00:00:00.000Z")
BATCH_SIZE = 2000
NOT_OWNER = (
    "another account stored this id in this collection first: only that account may add versions of it"
)


# What became of one object; callers decide by this, never by the message (which is for people).
Outcome = Literal[
    "added",  # stored as a new object or a new version
    "unchanged",  # this very version is already stored
    "invalid",  # not valid STIX 2.1, a malformed value, or above the collection's TLP ceiling
    "not_shared",  # the sanitizer's rules (or an object it depends on) keep it out
    "forbidden",  # the caller may not post it (a partner posing as another identity, say)
    "not_owner",  # another account stored this id here first
    "conflict",  # a different object with this id and version is stored
    "rejected",  # the store refused it (indexer.store.base.Rejected)
]


@dataclass(frozen=True)
class ObjectResult:
    """One object's outcome, and the message of its TAXII status detail."""

    id: str
    version: str
    outcome: Outcome
    message: str

    def as_detail(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version, "message": self.message}


@dataclass
class IngestReport:
    successes: list[ObjectResult] = field(default_factory=list)
    failures: list[ObjectResult] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return len(self.successes) + len(self.failures)


def prepare_object(obj: Any, collection: CollectionSettings, validate: bool = True) -> NewObject:
    """Validate one object against STIX 2.1 and the collection's rules; InvalidObjectError if not.

    validate=False skips the STIX check for objects the caller has just validated itself.
    """
    if validate:
        validate_stix_object(obj)  # (which checks the depth first)
    elif too_deep(obj, pattern.LIMITS.max_object_depth):  # before recursive code (orjson) sees it
        raise InvalidObjectError(f"the object nests deeper than {pattern.LIMITS.max_object_depth} levels")
    # Always, even for objects the caller validated: values become blocklist lines.
    problem = object_problem(obj)
    if problem:
        raise InvalidObjectError(problem)
    level = effective_tlp(obj)
    if level is not None and tlp_rank(level) > tlp_rank(collection.tlp_ceiling):
        ceiling = collection.tlp_ceiling.upper()
        raise InvalidObjectError(f"marked TLP:{level.upper()}, above this collection's ceiling TLP:{ceiling}")
    stamp = obj.get("modified") or obj.get("created")
    version, version_text = (parse_timestamp(stamp), stamp) if stamp else UNVERSIONED
    return NewObject(
        id=obj["id"],
        type=obj["type"],
        version=version,
        version_text=version_text,
        spec_version=obj.get("spec_version", "2.1"),
        body=orjson.dumps(obj, option=orjson.OPT_SORT_KEYS),
    )


def ingest_objects(
    store: Store,
    collection: CollectionSettings,
    objects: Iterable[Any],
    validate: bool = True,
    batch_size: int = BATCH_SIZE,
    owner: str = SERVER,
    *,
    sanitizer: Sanitizer | None,
) -> IngestReport:
    """Store every valid object of `objects` in `collection`; report each one's outcome.

    The input is taken `batch_size` objects at a time: each chunk's valid objects are one
    transaction; connectors pass their whole batch as one. While a chunk is being stored, the
    next ones are validated in a thread, so the store (SQLite, or the Elasticsearch node) works
    while Python validates. A chunk is stored only once every object it refers to has been
    validated (indexer.dependencies): a refusal spreads along references as if the whole input
    had been checked first.
    owner: the account writing (Store.add_objects); an id another account owns is a failure.
    `sanitizer` is required by name so that no write path forgets it: None only where the caller
    has sanitized the objects itself (the connector pipeline) or made them itself.
    """
    report = IngestReport()
    inputs = objects if isinstance(objects, list) else list(objects)
    chunks = [inputs[start : start + batch_size] for start in range(0, len(inputs), batch_size)]
    ready = chunks_ready(chunks) if sanitizer is not None else list(range(len(chunks)))
    check = partial(_prepare_chunk, collection=collection, validate=validate, sanitizer=sanitizer)
    with ThreadPoolExecutor(1) if len(chunks) > 1 and not os.environ.get("NOPIPE") else _InThisThread() as pool:
        pending: list[Future[_Checked]] = []

        def validated_up_to(last: int) -> None:  # submitted, that is: the thread works ahead
            while len(pending) <= min(last, len(chunks) - 1):
                pending.append(pool.submit(check, chunks[len(pending)]))

        try:
            _store_chunks(store, collection, owner, report, pending, ready, validated_up_to)
        finally:
            for future in pending:  # after a store error: validate no more
                future.cancel()
    log.info(
        "ingest.done collection=%s added=%d duplicate=%d conflict=%d invalid=%d sanitized=%d rejected=%d",
        collection.alias,
        report.counts["added"],
        report.counts["duplicate"],
        report.counts["conflict"],
        report.counts["invalid"],
        report.counts["sanitized"],
        report.counts["rejected"],
    )
    return report


_Checked = tuple[list[tuple[dict[str, Any], NewObject]], list[ObjectResult], dict[str, str]]


def _prepare_chunk(
    chunk: list[Any], collection: CollectionSettings, validate: bool, sanitizer: Sanitizer | None
) -> _Checked:
    """One chunk validated: its valid objects, the failures, and the sanitizer's own reasons
    for refusing valid ones (what depends on them is Refusals' to find)."""
    prepared: list[tuple[dict[str, Any], NewObject]] = []
    failures: list[ObjectResult] = []
    reasons: dict[str, str] = {}
    for obj in chunk:
        try:
            new = prepare_object(obj, collection, validate)
        except InvalidObjectError as exc:
            failures.append(ObjectResult(*identify(obj), "invalid", str(exc)))
            continue
        except Exception as exc:  # one odd object must not fail the whole envelope
            log.warning("ingest.object_failed id=%s error=%r", identify(obj)[0][:100], exc)
            failures.append(ObjectResult(*identify(obj), "invalid", "the object could not be checked"))
            continue
        prepared.append((obj, new))
        reason = sanitizer.object_reason(obj, collection) if sanitizer is not None else None
        if reason and new.id not in reasons:
            reasons[new.id] = reason
    return prepared, failures, reasons


def _store_chunks(
    store: Store,
    collection: CollectionSettings,
    owner: str,
    report: IngestReport,
    pending: list[Future[_Checked]],
    ready: list[int],
    validated_up_to: Callable[[int], None],
) -> None:
    """Store each chunk as soon as it and every chunk it waits for (`ready`) are validated,
    while the next chunk is validated (one ahead only: the tokens of its patterns, cached by
    indexer.pattern, are still there when its search documents are built)."""
    refusals = Refusals()
    validated: list[list[tuple[dict[str, Any], NewObject]]] = []
    for index in range(len(ready)):
        validated_up_to(max(ready[index], index + 1))
        while len(validated) <= ready[index]:
            prepared, failures, reasons = pending[len(validated)].result()
            validated.append(prepared)
            report.failures.extend(failures)
            report.counts["invalid"] += len(failures)
            refusals.add([(new.id, obj, reasons.get(new.id)) for obj, new in prepared])
        batch = []
        for _, new in validated[index]:
            reason = refusals.reasons.get(new.id)
            if reason is None:
                batch.append(new)
                continue
            message = f"not shared: {reason}"
            report.failures.append(ObjectResult(new.id, new.version_text, "not_shared", message))
            report.counts["sanitized"] += 1
        validated[index] = []  # stored: let it go
        _store_batch(store, collection, batch, report, owner)


class _InThisThread:
    """ThreadPoolExecutor's submit, run at once in the calling thread (one chunk: nothing to
    overlap, and no thread to start for a single TAXII envelope)."""

    def __enter__(self) -> _InThisThread:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., _Checked], *args: Any) -> Future[_Checked]:
        done: Future[_Checked] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:
            done.set_exception(exc)
        return done


def _store_batch(
    store: Store, collection: CollectionSettings, batch: list[NewObject], report: IngestReport, owner: str
) -> None:
    if not batch:
        return
    outcomes = store.add_objects(collection.id, batch, owner=owner)
    for obj, outcome in zip(batch, outcomes, strict=True):
        if outcome == "conflict" and _same_as_stored(store, collection, obj):
            outcome = "duplicate"  # re-serialized, not changed: what was first stored stays
        report.counts[outcome] += 1
        if outcome == "added":
            report.successes.append(ObjectResult(obj.id, obj.version_text, "added", "added"))
        elif outcome == "duplicate":
            report.successes.append(
                ObjectResult(obj.id, obj.version_text, "unchanged", "already present, unchanged")
            )
        elif outcome == "not_owner":
            report.failures.append(ObjectResult(obj.id, obj.version_text, "not_owner", NOT_OWNER))
        elif isinstance(outcome, Rejected):
            report.failures.append(
                ObjectResult(obj.id, obj.version_text, "rejected", f"the store refused it: {outcome.reason}")
            )
        else:
            report.failures.append(
                ObjectResult(
                    obj.id,
                    obj.version_text,
                    "conflict",
                    "a different object with this id and version is already stored; "
                    "a changed object needs a new 'modified'",
                )
            )


def _same_as_stored(store: Store, collection: CollectionSettings, obj: NewObject) -> bool:
    """Whether the stored version with this id and version is `obj` written another way."""
    page = store.query(ObjectQuery(collection.id, ids=(obj.id,), versions=(obj.version,), limit=1))
    return any(same_object(stored.body, obj.body) for stored in page.objects)


def identify(obj: Any) -> tuple[str, str]:
    if not isinstance(obj, dict):
        return "", ""
    obj_id = obj.get("id") if isinstance(obj.get("id"), str) else ""
    version = obj.get("modified") or obj.get("created") or ""
    return str(obj_id), version if isinstance(version, str) else ""
