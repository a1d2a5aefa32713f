"""The one write path: validate, apply collection rules, store, and report per object.

TAXII POSTs, `cyberlab ingest-file`, connectors and sighting uploads all come through here, so
validation, value well-formedness, TLP rules and (given a Sanitizer) sanitization live in one
place. One bad object never stops the others: whatever goes wrong with one is its own failure.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from config import CollectionSettings
from indexer import pattern
from indexer.canonical import same_object
from indexer.dependencies import Refusals
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

    Each `batch_size` objects are one transaction; connectors pass their whole batch as one.
    owner: the account writing (Store.add_objects); an id another account owns is a failure.
    `sanitizer` is required by name so that no write path forgets it: None only where the caller
    has sanitized the objects itself (the connector pipeline) or made them itself.
    """
    report = IngestReport()
    prepared: list[tuple[dict[str, Any], NewObject]] = []
    for obj in objects:
        try:
            prepared.append((obj, prepare_object(obj, collection, validate)))
        except InvalidObjectError as exc:
            report.failures.append(ObjectResult(*identify(obj), "invalid", str(exc)))
            report.counts["invalid"] += 1
        except Exception as exc:  # one odd object must not fail the whole envelope
            log.warning("ingest.object_failed id=%s error=%r", identify(obj)[0][:100], exc)
            report.failures.append(ObjectResult(*identify(obj), "invalid", "the object could not be checked"))
            report.counts["invalid"] += 1
    if sanitizer is not None:
        # Objects are never rewritten here: a report keeps its references, as posted.
        refusals = Refusals()
        refusals.add([(new.id, obj, sanitizer.object_reason(obj, collection)) for obj, new in prepared])
        for _, new in prepared:
            if new.id in refusals.reasons:
                message = f"not shared: {refusals.reasons[new.id]}"
                report.failures.append(ObjectResult(new.id, new.version_text, "not_shared", message))
                report.counts["sanitized"] += 1
        prepared = [(obj, new) for obj, new in prepared if new.id not in refusals.reasons]
    for start in range(0, len(prepared), batch_size):
        _store_batch(
            store, collection, [new for _, new in prepared[start : start + batch_size]], report, owner
        )
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
