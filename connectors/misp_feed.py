"""The `misp-feed` connector: a MISP static feed (manifest.json + <uuid>.json) from a URL or folder.

Events are read in (timestamp, uuid) order, one batch each, so memory stays flat however large
the feed. The cursor is the last committed event's "timestamp:uuid": a later run fetches only
events whose manifest timestamp is newer (a re-published event gets a new timestamp).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import requests

from config import ConnectorSettings
from connectors.base import Batch, RawRecord, SourceError
from connectors.http import TIMEOUT, make_session

log = logging.getLogger(__name__)


def parse_cursor(cursor: str | None) -> tuple[int, str]:
    if not cursor:
        return (0, "")
    stamp, _, uuid = cursor.partition(":")
    return (int(stamp), uuid)


class MispFeedConnector:
    def __init__(self, settings: ConnectorSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        if not settings.url and not settings.paths:
            raise SourceError(f"connector {settings.name!r} needs a url or paths")
        self._session = session

    def describe(self) -> str:
        return f"MISP feed at {self.settings.url or self.settings.paths[0]}"

    def _fetch(self, name: str) -> bytes:
        if self.settings.url:
            if self._session is None:
                self._session = make_session(verify=self.settings.verify_tls)
            url = self.settings.url.rstrip("/") + "/" + name
            try:
                response = self._session.get(url, timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise SourceError(f"cannot reach {url}: {exc}") from exc
            if response.status_code != 200:
                raise SourceError(f"{url} answered HTTP {response.status_code}")
            return response.content
        path = Path(self.settings.paths[0]) / name
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc}") from exc

    def manifest(self) -> dict[str, Any]:
        try:
            manifest = orjson.loads(self._fetch("manifest.json"))
        except orjson.JSONDecodeError as exc:
            raise SourceError(f"the feed's manifest.json is not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict):
            raise SourceError("the feed's manifest.json is not an object of events")
        return manifest

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        after = parse_cursor(cursor)
        pending = []
        for uuid, meta in self.manifest().items():
            try:
                stamp = int(meta.get("timestamp", 0))
            except (TypeError, ValueError, AttributeError):
                stamp = 0
            if (stamp, uuid) > after:
                pending.append((stamp, uuid))
        pending.sort()
        log.info("misp_feed.plan connector=%s events=%d", self.settings.name, len(pending))
        for stamp, uuid in pending:
            raw = self._fetch(f"{uuid}.json")
            origin = f"event {uuid}"
            try:
                record = RawRecord("misp-event", orjson.loads(raw), origin)
            except orjson.JSONDecodeError as exc:
                # Not parseable now or ever: the indexer dead-letters it with the reason.
                record = RawRecord("unparseable", raw.decode("utf-8", "replace"), f"{origin}: {exc}")
            yield Batch([record], cursor=f"{stamp}:{uuid}", read=1)
