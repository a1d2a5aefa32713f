"""The connector contract: a connector yields batches of raw records, each with the cursor to save
once the store has committed that batch.

A cursor always comes from upstream data (a MISP timestamp, a TAXII X-TAXII-Date-Added-Last
header, a byte offset in a log file), never from the local clock, so a crash never skips data and
a rerun never repeats it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from config import ConnectorSettings
from config.errors import CyberlabError


class SourceError(CyberlabError):
    """A source could not be read (unreachable, refused, malformed beyond one record)."""


@dataclass(frozen=True)
class RawRecord:
    """One unit of upstream data, before normalization.

    kind: what the indexer must do with it ("misp-event", "soc-observation", "stix-object").
    origin: where it came from, for run reports and the dead-letter store.
    """

    kind: str
    data: Any
    origin: str


@dataclass
class Batch:
    records: list[RawRecord]
    cursor: str | None  # None: nothing to save (the position did not move)
    # Input the connector could not turn into records, by reason, and a sample of messages.
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)
    # Units of input consumed (lines, events, objects) for progress bars and reports.
    read: int = 0
    # Things the run report should say about this input (e.g. a demo's shifted timestamps).
    notes: list[str] = field(default_factory=list)
    # Input read in full but left out as not an attack (an informational alert), by reason.
    informational: Counter[str] = field(default_factory=Counter)


class Connector(Protocol):
    settings: ConnectorSettings

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        """Batches after `cursor` (None = from the beginning), oldest first."""
        ...

    def describe(self) -> str:
        """One line saying what this connector reads, for logs and --help."""
        ...
