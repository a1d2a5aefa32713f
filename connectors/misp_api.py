"""The `misp` connector: a live MISP instance through PyMISP.

Plan, then fetch: a metadata-only restSearch lists published events changed since the cursor
(page by page), they are sorted by (timestamp, uuid), and each is fetched on its own (to_ids
attributes, with sightings) as one batch. Memory stays flat; the cursor is "timestamp:uuid" of
the last committed event, as MISP reports it, never the local clock.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any

from config import ConnectorSettings
from connectors.base import Batch, RawRecord, SourceError
from connectors.http import retry_adapter
from connectors.misp_feed import parse_cursor

log = logging.getLogger(__name__)
PAGE = 100


class MispConnector:
    def __init__(self, settings: ConnectorSettings) -> None:
        if not settings.url or not settings.api_key.reveal():
            raise SourceError(f"connector {settings.name!r} needs url and api_key")
        self.settings = settings
        self._misp: Any = None

    def describe(self) -> str:
        return f"MISP instance at {self.settings.url}"

    def _client(self) -> Any:
        if self._misp is None:
            from pymisp import PyMISP, PyMISPError

            try:
                with contextlib.redirect_stderr(io.StringIO()):
                    self._misp = PyMISP(
                        self.settings.url,
                        self.settings.api_key.reveal(),
                        ssl=self.settings.verify_tls,
                        timeout=(10, 300),
                        https_adapter=retry_adapter(),
                    )
            except (PyMISPError, OSError) as exc:
                raise SourceError(f"cannot connect to MISP at {self.settings.url}: {exc}") from exc
        return self._misp

    def _search(self, **filters: Any) -> list[dict[str, Any]]:
        result = self._client().search(controller="events", return_format="json", **filters)
        if isinstance(result, dict) and result.get("errors"):
            raise SourceError(f"MISP restSearch failed: {result['errors']}")
        if not isinstance(result, list):
            raise SourceError(f"MISP restSearch returned {type(result).__name__}, expected a list of events")
        return result

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        after = parse_cursor(cursor)
        pending: list[tuple[int, str]] = []
        page = 1
        while True:
            events = self._search(
                published=True, to_ids=True, metadata=True, timestamp=after[0] or None, limit=PAGE, page=page
            )
            for item in events:
                event = item.get("Event", item)
                key = (int(event.get("timestamp", 0)), str(event.get("uuid", "")))
                if key > after:
                    pending.append(key)
            if len(events) < PAGE:
                break
            page += 1
        pending = sorted(set(pending))
        log.info("misp.plan connector=%s events=%d", self.settings.name, len(pending))
        for stamp, uuid in pending:
            found = self._search(eventid=uuid, to_ids=True, include_sightings=True)
            if not found:
                continue  # deleted or unpublished since the plan: nothing to store
            yield Batch(
                [RawRecord("misp-event", found[0], f"event {uuid}")], cursor=f"{stamp}:{uuid}", read=1
            )
