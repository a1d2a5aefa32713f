"""One connector run: collect -> normalize -> sanitize -> validate -> merge -> store -> cursor.

The cursor is saved only after the store committed the batch it belongs to. Every object of a
batch is committed in one transaction; a record that cannot be normalized goes to the dead-letter
store with its reason and the rest of the batch goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from config import ConnectorSettings, Settings
from connectors.base import Batch, Connector, RawRecord
from connectors.registry import build_connector
from connectors.soc.connector import SocAggregate
from indexer import pattern
from indexer.errors import InvalidObjectError
from indexer.ingest import ingest_objects
from indexer.merge import merge_with_store
from indexer.normalize import KINDS, NormalizationError, NormalizeContext, normalize
from indexer.normalize.common import identity
from indexer.sanitize import Sanitizer, prune
from indexer.store.base import DeadLetter, Store
from indexer.validate import validate_stix_object

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    connector: str
    dry_run: bool = False
    read: int = 0
    batches: int = 0
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    informational: Counter[str] = field(default_factory=Counter)  # read, not attacks: left out
    dead_lettered: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    cursor: str | None = None
    notes: list[str] = field(default_factory=list)  # from the connector, each said once

    def outcome_counts(self) -> dict[str, int]:
        """Objects by outcome for the metrics: created, updated, unchanged, dropped:REASON, dead-lettered."""
        counts = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "dead-lettered": self.dead_lettered,
        }
        counts.update({f"dropped:{reason}": n for reason, n in self.dropped.items()})
        return counts

    def lines(self) -> list[str]:
        created, updated = ("to create", "to update") if self.dry_run else ("created", "updated")

        def row(label: str, value: str) -> str:
            return f"  {label + ':':<22}{value}"

        out = [
            f"connector {self.connector}" + (" (dry run: nothing stored)" if self.dry_run else ""),
            row("input read", f"{self.read:,} ({self.batches:,} batches, {self.records:,} records)"),
            row(f"objects {created}", f"{self.created:,}"),
            row(f"objects {updated}", f"{self.updated:,} (new versions)"),
            row("objects unchanged", f"{self.unchanged:,}"),
            row("dropped", f"{sum(self.dropped.values()):,}"),
            *(f"    {reason}: {n:,}" for reason, n in sorted(self.dropped.items())),
            row("input skipped", f"{sum(self.skipped.values()):,}"),
            *(f"    {reason}: {n:,}" for reason, n in sorted(self.skipped.items())),
            row("informational", f"{sum(self.informational.values()):,}"),
            *(f"    {reason}: {n:,}" for reason, n in sorted(self.informational.items())),
            row("dead-lettered", f"{self.dead_lettered:,}"),
        ]
        out += [f"  {note}" for note in self.notes]
        return out + problem_lines(self.problems)


def problem_lines(problems: list[tuple[str, str]], most: int = 10) -> list[str]:
    """The first `most` problems (where, what) of a report, and how many more there are."""
    out = [f"  ! {origin}: {message}" for origin, message in problems[:most]]
    if len(problems) > most:
        out.append(f"  ! ... and {len(problems) - most} more")
    return out


def context_for(settings: Settings, conn: ConnectorSettings) -> NormalizeContext:
    return NormalizeContext(
        platform_identity=identity(settings.platform_name),
        source_identity=identity(conn.source_name or conn.name),
        source_name=conn.source_name or conn.name,
        default_tlp=conn.default_tlp,
        expiry=settings.expiry,
    )


def cursor_key(name: str) -> str:
    return f"connector:{name}"


@dataclass
class Prepared:
    """A batch after the pure stages (normalize, sanitize, validate), ready to merge and store."""

    objects: list[dict[str, Any]]
    dropped: Counter[str] = field(default_factory=Counter)
    dead: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # kind, origin, reason, payload
    problems: list[tuple[str, str]] = field(default_factory=list)


class BatchPreparer:
    """The pure stages of a run; picklable, so they can run in worker processes."""

    def __init__(self, settings: Settings, name: str) -> None:
        conn = settings.connectors[name]
        collection = settings.collection(conn.collection)
        assert collection is not None  # checked when settings load
        self.name = name
        self.collection = collection
        self.ctx = context_for(settings, conn)
        self.sanitizer = Sanitizer(settings.sanitize)
        pattern.configure(settings.validation)

    def prepare(self, records: list[RawRecord]) -> Prepared:
        prepared = Prepared(objects=[])
        objects: list[dict[str, Any]] = []
        for record in records:
            notes: list[str] = []
            try:
                objects.extend(normalize(record, self.ctx, notes))
                if notes:
                    prepared.dropped["invalid-misp-attribute"] += len(notes)
                    prepared.problems.extend((record.origin, note) for note in notes[:20])
            except NormalizationError as exc:
                prepared.dead.append((record.kind, record.origin, str(exc), _payload(record)))
                prepared.problems.append((record.origin, str(exc)))
        if objects:
            marked = [
                {**ident, "object_marking_refs": [self.ctx.marking]}
                for ident in (self.ctx.platform_identity, self.ctx.source_identity)
            ]
            objects = [*marked, *objects]
        objects, drops = self.sanitizer.filter(objects, self.collection)
        prepared.dropped.update(drops)
        kept: list[dict[str, Any]] = []
        invalid: set[str] = set()
        for obj in objects:
            try:
                validate_stix_object(obj)
            except InvalidObjectError as exc:
                invalid.add(obj.get("id", ""))
                prepared.dropped["invalid-stix"] += 1
                prepared.problems.append((obj.get("id", "?"), f"invalid STIX: {exc}"))
                continue
            kept.append(obj)
        prepared.objects = prune(kept, invalid, prepared.dropped)
        return prepared


_WORKER_PREPARER: BatchPreparer | None = None


def _init_worker(preparer: BatchPreparer) -> None:
    global _WORKER_PREPARER
    _WORKER_PREPARER = preparer


def _prepare_in_worker(records: list[RawRecord]) -> Prepared:
    assert _WORKER_PREPARER is not None
    return _WORKER_PREPARER.prepare(records)


# Connector types whose normalization is heavy enough (misp-stix) to spread over processes.
PARALLEL_TYPES = frozenset({"misp-feed", "misp"})


class Pipeline:
    """Turns a connector's batches into stored objects for one run."""

    def __init__(self, settings: Settings, store: Store, name: str, workers: int | None = None) -> None:
        if name not in settings.connectors:
            raise InvalidObjectError(f"no connector named {name!r}")
        self.settings = settings
        self.store = store
        self.name = name
        self.conn = settings.connectors[name]
        self.preparer = BatchPreparer(settings, name)
        self.collection = self.preparer.collection
        if workers is None:
            workers = min(2, os.cpu_count() or 1) if self.conn.type in PARALLEL_TYPES else 1
        self.workers = workers

    def run(
        self,
        cursor: str | None = None,
        use_saved_cursor: bool = True,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
        connector: Connector | None = None,
    ) -> RunReport:
        report = RunReport(self.name, dry_run=dry_run)
        if use_saved_cursor and cursor is None:
            cursor = self.store.get_cursor(cursor_key(self.name))
        source = connector or build_connector(self.conn)
        log.info("ingest.start connector=%s source=%r workers=%d", self.name, source.describe(), self.workers)
        for batch, prepared in self._prepared(source.batches(cursor)):
            self.commit(batch, prepared, report, dry_run)
            if progress:
                progress(batch.read)
        if not dry_run:
            self.store.record_ingest(self.name, report.outcome_counts())
        log.info(
            "ingest.done connector=%s read=%d created=%d updated=%d unchanged=%d dropped=%d dead=%d",
            self.name,
            report.read,
            report.created,
            report.updated,
            report.unchanged,
            sum(report.dropped.values()),
            report.dead_lettered,
        )
        return report

    def _prepared(self, batches: Iterator[Batch]) -> Iterator[tuple[Batch, Prepared]]:
        """Prepared batches in input order; with workers, a few batches are prepared ahead."""
        if self.workers <= 1:
            for batch in batches:
                yield batch, self.preparer.prepare(batch.records)
            return
        self.preparer.sanitizer.warm()
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_init_worker, initargs=(self.preparer,)
        ) as pool:
            ahead: deque[tuple[Batch, Future[Prepared]]] = deque()
            for batch in batches:
                ahead.append((batch, pool.submit(_prepare_in_worker, batch.records)))
                if len(ahead) > self.workers * 2:
                    done, future = ahead.popleft()
                    yield done, future.result()
            while ahead:
                done, future = ahead.popleft()
                yield done, future.result()

    def process(self, batch: Batch, report: RunReport, dry_run: bool) -> None:
        self.commit(batch, self.preparer.prepare(batch.records), report, dry_run)

    def commit(self, batch: Batch, prepared: Prepared, report: RunReport, dry_run: bool) -> None:
        report.batches += 1
        report.read += batch.read
        report.records += len(batch.records)
        report.skipped.update(batch.skipped)
        report.informational.update(batch.informational)
        report.problems.extend(batch.problems)
        report.notes.extend(note for note in batch.notes if note not in report.notes)
        report.problems.extend(prepared.problems[: max(0, 1000 - len(report.problems))])
        report.dropped.update(prepared.dropped)
        report.dead_lettered += len(prepared.dead)
        for kind, origin, reason, payload in prepared.dead:
            log.warning("ingest.dead_letter connector=%s origin=%s reason=%s", self.name, origin, reason)
            if not dry_run:
                self.store.add_dead_letter(self.name, kind, origin, reason, payload)
        merged = merge_with_store(prepared.objects, self.store, self.collection.id)
        report.unchanged += merged.counts["unchanged"]
        if dry_run:
            report.created += sum(1 for o in merged.objects if o["id"] not in merged.existing)
            report.updated += sum(1 for o in merged.objects if o["id"] in merged.existing)
            return
        if merged.objects:
            stored = ingest_objects(
                self.store,
                self.collection,
                merged.objects,
                validate=False,
                batch_size=len(merged.objects) + 1,
                sanitizer=None,  # prepare() sanitized this batch, dependents included
            )
            for result in stored.successes:
                if result.outcome == "unchanged":
                    report.unchanged += 1
                elif result.id in merged.existing:
                    report.updated += 1
                else:
                    report.created += 1
            for failure in stored.failures:
                report.dropped["rejected-by-store"] += 1
                report.problems.append((failure.id, failure.message))
        if batch.cursor is not None:
            self.store.save_cursor(cursor_key(self.name), batch.cursor)  # only after the commit
            report.cursor = batch.cursor


def _payload(record: RawRecord) -> bytes:
    """A record's data as the dead-letter store keeps it; _DECODERS reads it back."""
    if isinstance(record.data, SocAggregate):
        return record.data.to_payload()
    if isinstance(record.data, str):
        return record.data.encode("utf-8")
    return orjson.dumps(record.data)  # parsed JSON (MISP events, STIX objects)


# Record kinds whose data is not parsed JSON, and how their dead letters are read back.
_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "soc-aggregate": SocAggregate.from_payload,
    "unparseable": lambda payload: payload.decode("utf-8"),
}


@dataclass
class RetryReport:
    """What `cyberlab deadletter retry` did: letters stored (and removed), letters still failing."""

    connector: str
    stored: int = 0
    failing: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # origin, reason: the failing ones

    def lines(self) -> list[str]:
        counts = f"{self.stored} stored and removed, {self.failing} still failing"
        return [f"connector {self.connector}: {counts}", *problem_lines(self.problems)]


def _record(letter: DeadLetter) -> RawRecord:
    """The record a dead letter keeps, as its connector made it; NormalizationError if the payload
    no longer reads (a kind with no normalizer, or a newer version's fields)."""
    if letter.kind not in KINDS:
        raise NormalizationError(
            f"unknown record kind {letter.kind!r}: no normalizer reads it"
            " (a newer version's, or a removed connector's)"
        )
    try:
        data = _DECODERS.get(letter.kind, orjson.loads)(letter.payload)
    except (ValueError, TypeError) as exc:  # not JSON (ValueError), fields SocAggregate lacks (TypeError)
        raise NormalizationError(f"unreadable {letter.kind} payload: {exc}") from None
    return RawRecord(letter.kind, data, letter.origin)


def retry_dead_letters(settings: Settings, store: Store, name: str) -> RetryReport:
    """Normalize each dead letter of connector `name` again; store and remove the ones that pass.
    One that fails again stays, with its new reason, and the retry goes on to the next."""
    pipeline = Pipeline(settings, store, name)
    retry = RetryReport(name)
    for letter in store.list_dead_letters(name):
        try:
            record = _record(letter)
        except NormalizationError as exc:
            store.add_dead_letter(name, letter.kind, letter.origin, str(exc), letter.payload)  # replaces it
            retry.failing += 1
            retry.problems.append((letter.origin, str(exc)))
            continue
        report = RunReport(name)
        pipeline.process(Batch([record], cursor=None), report, False)
        if report.dead_lettered:
            retry.failing += 1
            retry.problems.extend(report.problems)
        else:
            store.delete_dead_letter(letter.id)
            retry.stored += 1
    return retry
