"""The `taxii` connector: upstream TAXII 2.1 collections, through taxii2-client.

Each collection is paged with `next`; the cursor is, per collection, the server's
X-TAXII-Date-Added-Last of the last committed page (upstream's clock, not ours), so a rerun asks
for `added_after` that and neither skips nor repeats. A `next` token is never reused across
collections.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import requests
from taxii2client.v21 import ApiRoot, Collection, Server

from config import ConnectorSettings
from config.media import TAXII_MEDIA_TYPE
from connectors.base import Batch, RawRecord, SourceError
from connectors.http import TIMEOUT, use_retries

log = logging.getLogger(__name__)
PAGE = 500


def _rfc3339(value: str | None) -> str | None:
    from datetime import datetime

    if not value:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


class TaxiiConnector:
    def __init__(self, settings: ConnectorSettings) -> None:
        if not settings.url:
            raise SourceError(f"connector {settings.name!r} needs url (discovery or API root)")
        self.settings = settings

    def describe(self) -> str:
        return f"TAXII 2.1 at {self.settings.url}"

    def _auth(self) -> dict[str, Any]:
        if self.settings.username:
            return {"user": self.settings.username, "password": self.settings.password.reveal()}
        return {}

    def collections(self) -> list[Collection]:
        try:
            if "/collections/" in self.settings.url:
                return [Collection(self.settings.url, verify=self.settings.verify_tls, **self._auth())]
            try:
                root = Server(self.settings.url, verify=self.settings.verify_tls, **self._auth()).default
                found = list(root.collections) if root else []
            except Exception:  # not a discovery URL: try it as an API root
                found = list(
                    ApiRoot(self.settings.url, verify=self.settings.verify_tls, **self._auth()).collections
                )
        except requests.RequestException as exc:
            raise SourceError(f"cannot reach TAXII server {self.settings.url}: {exc}") from exc
        except Exception as exc:  # taxii2-client raises its own errors for bad answers
            raise SourceError(f"TAXII server {self.settings.url} answered unexpectedly: {exc}") from exc
        wanted = set(self.settings.collections)
        return [c for c in found if c.can_read and (not wanted or c.id in wanted or c.title in wanted)]

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        positions: dict[str, str] = orjson.loads(cursor) if cursor else {}
        for collection in self.collections():
            yield from self._collection_batches(collection, positions)

    def _collection_batches(self, collection: Collection, positions: dict[str, str]) -> Iterator[Batch]:
        session: requests.Session = use_retries(collection._conn.session)
        params: dict[str, str] = {"limit": str(PAGE)}
        added_after = positions.get(collection.id) or positions.get("*")
        if added_after:
            params["added_after"] = added_after
        url = collection.url + "objects/"
        while True:
            try:
                response = session.get(
                    url, params=params, headers={"Accept": TAXII_MEDIA_TYPE}, timeout=TIMEOUT
                )
            except requests.RequestException as exc:
                raise SourceError(f"cannot reach {url}: {exc}") from exc
            if response.status_code != 200:
                raise SourceError(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
            try:
                envelope = response.json()
            except ValueError as exc:
                raise SourceError(f"{url} did not answer JSON: {exc}") from exc
            objects = envelope.get("objects", []) or []
            header = response.headers.get("X-TAXII-Date-Added-Last")
            last = _rfc3339(header)
            problems = []
            if header and last is None:
                problems.append(
                    (url, f"X-TAXII-Date-Added-Last {header!r} is not RFC 3339; cursor not moved")
                )
            records = [
                RawRecord("stix-object", obj, f"{collection.id}/{obj.get('id', '?')}") for obj in objects
            ]
            cursor = None
            if last:
                positions[collection.id] = last
                cursor = orjson.dumps(positions, option=orjson.OPT_SORT_KEYS).decode()
            yield Batch(records, cursor=cursor, problems=problems, read=len(objects))
            if not envelope.get("more") or not envelope.get("next"):
                return
            params = {"limit": str(PAGE), "next": envelope["next"]}
            if added_after:
                params["added_after"] = added_after
