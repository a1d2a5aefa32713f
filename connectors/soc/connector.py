"""The `soc` connector: the city SOC's log exports -> one aggregate per attacker value and batch."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from config import ConnectorSettings
from connectors.base import Batch, RawRecord, SourceError
from connectors.soc.parsers import CSV_HEADER, PARSERS, LineContext, LineError, Observation, detect
from connectors.soc.policy import UNSTATED, Informational, Policy
from connectors.soc.reader import (
    Chunk,
    dump_cursor,
    load_cursor,
    load_shifts,
    plan_reads,
    read_file,
    read_stdin,
)

log = logging.getLogger(__name__)
MAX_PROBLEMS = 50
MAX_SENSORS = 3  # indexer.confidence counts 1, 2, 3 or more
DAY = 86_400


@dataclass(slots=True)  # one per value and batch: tens of thousands alive at once
class SocAggregate:
    """Everything one batch of log lines says about one attacker value."""

    value: str
    kind: str
    first_seen: int
    last_seen: int
    count: int
    signatures: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    window: str = ""  # identifies the batch (file, inode, start offset): replays give the same id
    level: int = UNSTATED  # the highest severity level of its lines (connectors.soc.policy)
    # Devices that logged it, the first MAX_SENSORS (more add nothing to its confidence); none
    # named: the file is the one sensor.
    sensors: tuple[str, ...] = ()

    def to_payload(self) -> bytes:
        """This aggregate as the dead-letter store keeps it (JSON, sets as sorted lists)."""
        fields = dataclasses.asdict(self)
        fields.update(signatures=sorted(self.signatures), categories=sorted(self.categories))
        return orjson.dumps(fields)

    @classmethod
    def from_payload(cls, payload: bytes) -> SocAggregate:
        """The aggregate to_payload wrote, for a retry of its dead letter (letters stored before
        level and sensors existed too)."""
        fields: dict[str, Any] = orjson.loads(payload)
        fields.update(
            signatures=set(fields.get("signatures", ())),
            categories=set(fields.get("categories", ())),
            sensors=tuple(fields.get("sensors", ())),
        )
        return cls(**fields)

    def add(self, obs: Observation) -> None:
        self.first_seen = min(self.first_seen, obs.first_seen)
        self.last_seen = max(self.last_seen, obs.last_seen)
        self.count += obs.count
        self.level = max(self.level, obs.level)
        if obs.signature:
            self.signatures.add(obs.signature)
        if obs.category:
            self.categories.add(obs.category)
        if obs.sensor and len(self.sensors) < MAX_SENSORS and obs.sensor not in self.sensors:
            self.sensors += (obs.sensor,)


class SocConnector:
    def __init__(self, settings: ConnectorSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.formats = set(settings.formats) or set(PARSERS)
        self.policy = Policy(settings.policy)
        self.clock = clock  # only the demo shift reads it: real timestamps never come from our clock

    def describe(self) -> str:
        return f"SOC logs from {', '.join(self.settings.paths) or 'nothing'}"

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        if self.settings.paths == ("-",):
            for chunk in read_stdin():
                yield self._batch(chunk, csv=False, cursor=None)[0]
            return
        if not self.settings.paths:
            raise SourceError(f"connector {self.settings.name!r} has no paths to read")
        files, shifts = load_cursor(cursor), load_shifts(cursor)
        missing = [p for p in self.settings.paths if not Path(p).exists()]
        if missing:
            raise SourceError(f"not found: {', '.join(missing)}")
        for path, key, inode, offset in plan_reads(self.settings.paths, files):
            csv = _is_csv(path)
            shift = 0
            if self.settings.demo_shift_to_now:
                if key not in shifts:
                    shifts[key] = self._shift_to_now(path, inode, csv)
                shift = shifts[key]
            for chunk in read_file(path, inode, offset):
                batch, end = self._batch(chunk, csv, cursor=None, shift=shift)
                files[key] = (inode, end)
                batch.cursor = dump_cursor(files, shifts)
                if self.settings.demo_shift_to_now:
                    batch.notes.append(
                        f"timestamps shifted by {round(shift / DAY):,} days (demo): {Path(path).name}"
                    )
                yield batch

    def _shift_to_now(self, path: Path, inode: int, csv: bool) -> int:
        """Seconds that move the file's newest timestamp to the clock's now (whole file, read once)."""
        newest: int | None = None
        for chunk in read_file(path, inode, 0):
            batch, _ = self._batch(chunk, csv, cursor=None)
            for record in batch.records:
                newest = max(newest or 0, record.data.last_seen)
        return 0 if newest is None else int(self.clock()) - newest

    def _batch(self, chunk: Chunk, csv: bool, cursor: str | None, shift: int = 0) -> tuple[Batch, int]:
        moment = datetime.fromtimestamp(chunk.mtime or 0, tz=UTC)
        ctx = LineContext(year=moment.year, fallback_time=int(chunk.mtime), policy=self.policy)
        window = f"{Path(chunk.path).name}:{chunk.inode}:{chunk.start}"
        aggregates: dict[tuple[str, str], SocAggregate] = {}
        skipped: Counter[str] = Counter()
        informational: Counter[str] = Counter()
        problems: list[tuple[str, str]] = []
        end = chunk.end
        last = len(chunk.lines) - 1
        for number, line in enumerate(chunk.lines):
            partial = chunk.partial_bytes > 0 and number == last
            if not line.strip():
                if partial:
                    end += chunk.partial_bytes
                continue
            if csv and chunk.start == 0 and number == 0:
                continue  # the header
            fmt = "csv" if csv else detect(line)
            if fmt is None or fmt not in self.formats:
                if partial:
                    break  # maybe still being written: read it next time
                skipped["unknown-format"] += 1
                continue
            try:
                observations = PARSERS[fmt](line, ctx)
            except LineError as exc:
                if partial:
                    break
                skipped[f"malformed-{fmt}"] += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append((f"{chunk.path}@{chunk.start}+{number}", str(exc)))
                continue
            except Informational as exc:  # a real alert, not an attack: counted, not an error
                if partial:
                    end += chunk.partial_bytes
                informational[exc.reason] += 1
                continue
            if partial:
                end += chunk.partial_bytes
            if not observations:
                skipped[f"no-attacker-{fmt}"] += 1
            for obs in observations:
                if shift:
                    obs = dataclasses.replace(
                        obs, first_seen=obs.first_seen + shift, last_seen=obs.last_seen + shift
                    )
                key = (obs.kind, obs.value)
                agg = aggregates.get(key)
                if agg is None:
                    agg = aggregates[key] = SocAggregate(
                        obs.value, obs.kind, obs.first_seen, obs.last_seen, 0, window=window
                    )
                agg.add(obs)
        records = [
            RawRecord("soc-aggregate", agg, f"{chunk.path}@{chunk.start}") for agg in aggregates.values()
        ]
        batch = Batch(records, cursor, skipped, problems, read=len(chunk.lines), informational=informational)
        return batch, end


def _is_csv(path: Path) -> bool:
    with path.open("rb") as fh:
        first = fh.readline().decode("utf-8", "replace").strip().lower()
    return tuple(f.strip() for f in first.split(",")[:2]) == CSV_HEADER[:2]
