"""The one write path: validate, apply collection rules, store, and report per object.

TAXII POSTs, `cyberlab ingest-file` and (later) connectors and sighting uploads all come through
here, so validation and TLP rules live in one place. One bad object never stops the others.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from config import CollectionSettings
from indexer.errors import InvalidObjectError
from indexer.store.base import NewObject, Store
from indexer.timestamps import parse_timestamp
from indexer.tlp import effective_tlp, tlp_rank
from indexer.validate import validate_stix_object

log = logging.getLogger(__name__)

# Objects without modified/created (cyber observables) are immutable: one version, at the epoch.
UNVERSIONED = (0, "1970-01-01T00:00:00.000Z")
BATCH_SIZE = 2000


@dataclass(frozen=True)
class ObjectResult:
    """One object's outcome, in the shape of a TAXII status detail."""

    id: str
    version: str
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
        validate_stix_object(obj)
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
) -> IngestReport:
    """Store every valid object of `objects` in `collection`; report each one's outcome.

    Each `batch_size` objects are one transaction; connectors pass their whole batch as one.
    """
    report = IngestReport()
    batch: list[NewObject] = []
    for obj in objects:
        try:
            batch.append(prepare_object(obj, collection, validate))
        except InvalidObjectError as exc:
            report.failures.append(ObjectResult(*_identify(obj), message=str(exc)))
            report.counts["invalid"] += 1
            continue
        if len(batch) >= batch_size:
            _store_batch(store, collection, batch, report)
            batch = []
    _store_batch(store, collection, batch, report)
    log.info(
        "ingest.done collection=%s added=%d duplicate=%d conflict=%d invalid=%d",
        collection.alias,
        report.counts["added"],
        report.counts["duplicate"],
        report.counts["conflict"],
        report.counts["invalid"],
    )
    return report


def _store_batch(
    store: Store, collection: CollectionSettings, batch: list[NewObject], report: IngestReport
) -> None:
    if not batch:
        return
    outcomes = store.add_objects(collection.id, batch)
    for obj, outcome in zip(batch, outcomes, strict=True):
        report.counts[outcome] += 1
        if outcome == "added":
            report.successes.append(ObjectResult(obj.id, obj.version_text, "added"))
        elif outcome == "duplicate":
            report.successes.append(ObjectResult(obj.id, obj.version_text, "already present, unchanged"))
        else:
            report.failures.append(
                ObjectResult(
                    obj.id,
                    obj.version_text,
                    "a different object with this id and version is already stored; "
                    "a changed object needs a new 'modified'",
                )
            )


def _identify(obj: Any) -> tuple[str, str]:
    if not isinstance(obj, dict):
        return "", ""
    obj_id = obj.get("id") if isinstance(obj.get("id"), str) else ""
    version = obj.get("modified") or obj.get("created") or ""
    return str(obj_id), version if isinstance(version, str) else ""
