"""A TAXII envelope's objects stored for a caller: who they are attributed to, and the status.

A plain function over the store, the settings and the Caller, all passed in (OpenTAXII keeps
this in its persistence manager): the objects blueprint parses the request and renders the
StatusRecord this returns.
"""

from __future__ import annotations

import uuid
from typing import Any

from config import CollectionSettings, Settings
from cyberlab.auth.access import write_owner
from cyberlab.auth.caller import Caller
from indexer.ingest import ObjectResult, ingest_objects
from indexer.sanitize import Sanitizer
from indexer.sightings import partner_identity, partner_objects
from indexer.store.base import StatusRecord, Store


def store_envelope(
    store: Store,
    settings: Settings,
    sanitizer: Sanitizer,
    caller: Caller,
    collection: CollectionSettings,
    objects: list[Any],
    received: int,
) -> StatusRecord:
    """Ingest `objects` into `collection` for `caller`; save and return the POST's status.

    received: when the request arrived (the status's request_timestamp), in microseconds.
    """
    refused: list[ObjectResult] = []
    if caller.role == "partner":
        sightings = settings.collection(settings.sightings_collection)
        in_sightings = sightings is not None and collection.id == sightings.id
        objects, refused = partner_objects(objects, caller.name or "", in_sightings)
        if in_sightings:
            # The partner's identity goes in first, quietly (it is not one of the posted objects),
            # and as the server's: the partner names itself through its account, not by posting.
            ingest_objects(store, collection, [partner_identity(caller.name or "")], sanitizer=None)
    # Every id belongs to the account that stored it first here: others' are failures.
    report = ingest_objects(store, collection, objects, owner=write_owner(caller), sanitizer=sanitizer)
    kept = settings.limits.status_failures  # what is stored per status stays bounded
    record = StatusRecord(
        id=str(uuid.uuid4()),
        collection=collection.id,
        owner=caller.name or "",
        request_timestamp=received,
        status="complete",
        successes=[r.as_detail() for r in report.successes],
        failures=[r.as_detail() for r in (*refused, *report.failures)][:kept],
        failures_omitted=max(0, len(refused) + len(report.failures) - kept),
    )
    store.save_status(record)
    return record
