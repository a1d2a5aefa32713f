"""The Elasticsearch backend's write lease: one writer at a time, across processes and machines.

The lease is one document in the meta index. Taking it is `create` (Elasticsearch decides
atomically by _id); every later change (renewing, taking over an expired lease, releasing) is
conditional on the seq_no/primary_term of the version this holder wrote last, so a holder can
only ever renew or release its own lease, never one another writer has taken over since.

While a batch runs, a thread renews the lease every third of its lifetime, so a long batch keeps
it; a holder killed with SIGKILL stops renewing and is taken over once `expires` has passed. A
holder whose renewal fails (it was taken over after a stall longer than the lease) learns it at
its next check and gives up its batch unacknowledged, rather than writing beside the new holder.
Expiry compares wall clocks: machines sharing a cluster need them in sync (NTP) to well under the
lease's lifetime.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from indexer.errors import StoreError
from indexer.timestamps import now_micros

log = logging.getLogger(__name__)
T = TypeVar("T")
LEASE_ID = "lease"
Call = Callable[[str, Callable[[Elasticsearch], Any]], Any]


class LostLease(StoreError):
    """Another writer took the lease over while this one held it: the batch is not acknowledged."""

    def __init__(self, message: str) -> None:
        super().__init__(message, cause="conflict")


class Lease:
    """A lease this process holds: `check()` before anything that must not happen without it."""

    def __init__(self, owner: str, seq_no: int, primary_term: int) -> None:
        self.owner = owner
        self.seq_no, self.primary_term = seq_no, primary_term
        self.lost = False
        self.lock = threading.Lock()

    def check(self) -> None:
        if self.lost:
            raise LostLease(
                f"the write lease of {self.owner} was taken over by another writer; this batch is not"
                " acknowledged (raise store.elasticsearch.lease_seconds if batches stall that long)"
            )


class WriteLease:
    def __init__(self, call: Call, index: str, seconds: float, wait_seconds: float, where: str) -> None:
        self._call, self.index, self.where = call, index, where
        self.seconds, self.wait_seconds = seconds, wait_seconds

    def _doc(self, owner: str) -> dict[str, Any]:
        return {"kind": "lease", "owner": owner, "expires": now_micros() + int(self.seconds * 1_000_000)}

    def acquire(self) -> Lease:
        owner = f"{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.005
        while True:
            taken = self._try_create(owner)
            if taken is not None:
                return taken
            held = self._call(
                "reading the write lease", lambda es: es.get(index=self.index, id=LEASE_ID, ignore=404)
            )
            if held.get("found") and held["_source"].get("expires", 0) < now_micros():
                taken = self._take_over(owner, held)  # its holder died (or stalled past its lease)
                if taken is not None:
                    return taken
            if time.monotonic() > deadline:
                raise StoreError(
                    f"Elasticsearch at {self.where}: another writer held the write lease for"
                    f" {self.wait_seconds:g} s",
                    cause="busy",
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _try_create(self, owner: str) -> Lease | None:
        def create(es: Elasticsearch) -> Any:
            try:
                return es.create(index=self.index, id=LEASE_ID, document=self._doc(owner))
            except ConflictError:
                return None

        result = self._call("taking the write lease", create)
        return None if result is None else Lease(owner, result["_seq_no"], result["_primary_term"])

    def _take_over(self, owner: str, held: dict[str, Any]) -> Lease | None:
        def overwrite(es: Elasticsearch) -> Any:
            try:
                return es.index(
                    index=self.index,
                    id=LEASE_ID,
                    document=self._doc(owner),
                    if_seq_no=held["_seq_no"],
                    if_primary_term=held["_primary_term"],
                )
            except ConflictError:
                return None  # another writer took it over first

        result = self._call("taking over an expired write lease", overwrite)
        if result is None:
            return None
        log.warning("store.lease_taken_over from=%s by=%s", held["_source"].get("owner"), owner)
        return Lease(owner, result["_seq_no"], result["_primary_term"])

    def renew(self, lease: Lease) -> None:
        with lease.lock:
            if lease.lost:
                return

            def update(es: Elasticsearch) -> Any:
                try:
                    return es.index(
                        index=self.index,
                        id=LEASE_ID,
                        document=self._doc(lease.owner),
                        if_seq_no=lease.seq_no,
                        if_primary_term=lease.primary_term,
                    )
                except (ConflictError, NotFoundError):
                    return None

            result = self._call("renewing the write lease", update)
            if result is None:
                lease.lost = True
                log.error("store.lease_lost owner=%s", lease.owner)
            else:
                lease.seq_no, lease.primary_term = result["_seq_no"], result["_primary_term"]

    def release(self, lease: Lease) -> None:
        with lease.lock:
            if lease.lost:
                return

            def delete(es: Elasticsearch) -> Any:
                return es.delete(
                    index=self.index,
                    id=LEASE_ID,
                    if_seq_no=lease.seq_no,
                    if_primary_term=lease.primary_term,
                    ignore=[404, 409],  # no longer ours: whoever holds it now keeps it
                )

            self._call("releasing the write lease", delete)
            lease.lost = True  # released: nothing may be done under it any more

    @contextmanager
    def held(self) -> Iterator[Lease]:
        lease = self.acquire()
        stop = threading.Event()

        def keep() -> None:
            while not stop.wait(self.seconds / 3):
                try:
                    self.renew(lease)
                except StoreError as exc:  # unreachable for a moment: the next renewal may succeed
                    log.warning("store.lease_renewal_failed owner=%s error=%s", lease.owner, exc)

        renewer = threading.Thread(target=keep, name="es-lease-renewer", daemon=True)
        renewer.start()
        try:
            yield lease
        finally:
            stop.set()
            renewer.join()
            try:
                self.release(lease)
            except StoreError as exc:  # it expires by itself; the batch's own outcome stands
                log.warning("store.lease_release_failed owner=%s error=%s", lease.owner, exc)
