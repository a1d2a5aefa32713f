"""The store contract, in TAXII's words.

Every backend (the embedded SQLite store, Elasticsearch) implements `Store`, and
tests/store/test_store_contract.py runs one suite against each. Times are integer microseconds
since the epoch; `date_added` is assigned by the store, strictly increasing, so a client that
resumes with `added_after = X-TAXII-Date-Added-Last` can never skip an object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from indexer.search.model import Related, SearchQuery, SearchResult, SightingSummary
from indexer.tlp import TLP_ORDER as TLP_LEVELS
from indexer.tlp import effective_tlp_rank

VersionSelector = str  # "first", "last", "all" or an RFC 3339 timestamp already parsed to micros


class Rejected(str):
    """The outcome "rejected" (it compares equal to that string), with the backend's reason: the
    backend refused to store this version (an Elasticsearch mapping error); the rest of the batch
    is stored. The embedded store never rejects what ingest accepted."""

    reason: str

    def __new__(cls, reason: str) -> Rejected:
        made = super().__new__(cls, "rejected")
        made.reason = reason
        return made


# not_owner: the id is already stored in the collection by another account (see Store.add_objects).
AddOutcome = Literal["added", "duplicate", "conflict", "not_owner"] | Rejected
SERVER = ""  # the owner of what connectors and admins store: the platform itself


@dataclass(frozen=True, order=True)
class Keyset:
    """Position of an object version in a collection's date_added order."""

    date_added: int
    id: str
    version: int


@dataclass(frozen=True)
class ObjectQuery:
    """One TAXII objects/manifest/versions question about one collection.

    versions: any of "first", "last", "all", or integer micros of a specific version (OR-ed).
    spec_versions: empty means the latest spec version of each object.

    The caller's scope (cyberlab.auth.access.read_scope) travels in the query, so every reader (TAXII,
    exports, the pivot) gets the same answer to "may this caller see this version":
    max_tlp_rank: only versions whose own TLP rank (indexer.tlp.effective_tlp_rank, stored at
    write time) is at most this, or that are unmarked; None = no TLP limit.
    owner: only objects first stored by this account; None = anyone's.
    """

    collection: str
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str | int, ...] = ("last",)
    spec_versions: tuple[str, ...] = ()
    added_after: int | None = None
    after: Keyset | None = None
    limit: int = 100
    max_tlp_rank: int | None = None
    owner: str | None = None


@dataclass(frozen=True)
class StoredObject:
    id: str
    type: str
    version: int
    version_text: str
    spec_version: str
    date_added: int
    media_type: str
    body: bytes  # canonical JSON of the object, served as-is

    @property
    def keyset(self) -> Keyset:
        return Keyset(self.date_added, self.id, self.version)


@dataclass(frozen=True)
class Page:
    objects: list[StoredObject]
    more: bool

    @property
    def date_added_first(self) -> int | None:
        return self.objects[0].date_added if self.objects else None

    @property
    def date_added_last(self) -> int | None:
        return self.objects[-1].date_added if self.objects else None


@dataclass(frozen=True)
class NewObject:
    """A validated STIX object ready to store."""

    id: str
    type: str
    version: int
    version_text: str
    spec_version: str
    body: bytes


def version_tlp_rank(obj: NewObject) -> int | None:
    """The TLP rank a backend stores with a version: from the body itself, whoever wrote it."""
    try:
        return effective_tlp_rank(orjson.loads(obj.body))
    except orjson.JSONDecodeError:
        return len(TLP_LEVELS) - 1  # a body we cannot read is treated as the strictest


@dataclass(frozen=True)
class StatusRecord:
    """A TAXII status resource: the outcome of one POST to a collection."""

    id: str
    collection: str
    owner: str
    request_timestamp: int
    status: str
    successes: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    pendings: list[dict[str, Any]] = field(default_factory=list)
    # Failures counted but not kept (a status stores at most limits.status_failures details).
    failures_omitted: int = 0

    @property
    def failure_count(self) -> int:
        return len(self.failures) + self.failures_omitted

    @property
    def total_count(self) -> int:
        return len(self.successes) + self.failure_count + len(self.pendings)


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    key_hash: str
    created: int
    revoked: int | None = None
    # Web session cookies carry this; logout, rotate and revoke bump it, ending every session.
    session_generation: int = 0

    @property
    def active(self) -> bool:
        return self.revoked is None


@dataclass(frozen=True)
class DeadLetter:
    """A record that could not be normalized, kept with the reason until it is retried."""

    id: int
    connector: str
    kind: str
    origin: str
    reason: str
    payload: bytes
    created: int


@dataclass(frozen=True)
class DigestSubscription:
    """An account's email digest: what it asked for (the web page "Email digest")."""

    account: str
    enabled: bool
    frequency: Literal["daily", "weekly"]
    collections: tuple[str, ...]  # collection ids; only ones the account may read are ever sent
    address: str
    html: bool
    updated: int = 0


@dataclass(frozen=True)
class DigestState:
    """What was last mailed: everything with date_added <= up_to, accepted by SMTP at sent_at."""

    account: str
    up_to: int
    sent_at: int


ReportStatus = Literal["open", "accepted", "rejected"]


@dataclass(frozen=True)
class CheckReport:
    """One value a subscriber reported from "is this suspicious?", waiting for an analyst.

    Only the value and its kind are kept (never the text it was found in); the reporter is kept
    for the queue's own bookkeeping and never enters the indicator an acceptance publishes."""

    id: str
    reporter: str
    kind: str
    value: str
    created: int
    status: ReportStatus = "open"
    reason: str = ""
    decided_by: str = ""
    decided: int | None = None
    indicator_id: str = ""


class Store(Protocol):
    """What every backend answers. Writers go through indexer.ingest, never straight here."""

    def initialize(self) -> None: ...

    def close(self) -> None: ...

    # -- objects ----------------------------------------------------------------------------
    def add_objects(
        self, collection: str, objects: Sequence[NewObject], owner: str = SERVER
    ) -> list[AddOutcome]:
        """Store new versions. The account that first stores an id in a collection owns it there
        (SERVER for connectors and admins). A write by another account than the owner (owner !=
        SERVER) is refused as "not_owner", atomically with the write; SERVER writes anything.
        Each version's TLP rank is taken from its body (indexer.tlp.effective_tlp_rank)."""
        ...

    def query(self, query: ObjectQuery) -> Page: ...

    def object_exists(self, collection: str, object_id: str) -> bool: ...

    def object_owner(self, collection: str, object_id: str) -> str | None:
        """Who owns an id in a collection (SERVER for the platform), None if it is not there."""
        ...

    def delete_object(
        self,
        collection: str,
        object_id: str,
        versions: tuple[str | int, ...] = ("all",),
        spec_versions: tuple[str, ...] = (),
    ) -> int: ...

    def count(self, collection: str) -> int: ...

    def newest_date_added(self, collection: str) -> int:
        """The largest date_added in the collection (0 if empty): cheap change detection."""
        ...

    def last_change(self, collection: str) -> int:
        """When the collection last gained or lost an object version (micros; 0 if never):
        what caches of a collection's contents (exports) and their Last-Modified follow."""
        ...

    # -- search (indexer/search/model.py) ---------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        """Analyst search over the latest version of every object. Raises SearchSyntaxError for
        an advanced query the engine cannot parse, ValueError for a malformed filter value."""
        ...

    def sightings_of(
        self, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
    ) -> list[SightingSummary]:
        """The sightings of an object; observer names come from identities in the sighting's own
        collection. max_tlp_rank as in ObjectQuery, applied to each sighting's latest version."""
        ...

    def related(
        self, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
    ) -> list[Related]:
        """Relationships to and from an object. max_tlp_rank as in ObjectQuery, applied to the
        relationship and to the other end's name (a hidden end is listed by id and type only)."""
        ...

    # -- status resources -------------------------------------------------------------------
    def save_status(self, status: StatusRecord) -> None: ...

    def get_status(self, status_id: str) -> StatusRecord | None: ...

    # -- connector cursors ------------------------------------------------------------------
    def get_cursor(self, name: str) -> str | None: ...

    def save_cursor(self, name: str, value: str) -> None: ...

    # -- dead letters -----------------------------------------------------------------------
    def add_dead_letter(
        self, connector: str, kind: str, origin: str, reason: str, payload: bytes
    ) -> None: ...

    def list_dead_letters(self, connector: str | None = None) -> list[DeadLetter]: ...

    def delete_dead_letter(self, letter_id: int) -> None: ...

    # -- operations ---------------------------------------------------------------------------
    def record_ingest(self, connector: str, counts: dict[str, int]) -> None: ...

    def ingest_totals(self) -> dict[tuple[str, str], int]: ...

    def size_bytes(self) -> int: ...

    # -- accounts ---------------------------------------------------------------------------
    def add_account(self, account: Account) -> None: ...

    def get_account(self, name: str) -> Account | None: ...

    def list_accounts(self) -> list[Account]: ...

    def update_account(self, account: Account) -> None: ...

    def end_sessions(self, name: str) -> None:
        """Bump the account's session_generation in one atomic step (a logout must never write
        back a key hash that an admin just rotated)."""
        ...

    # -- email digests (cyberlab/digest.py) -------------------------------------------------
    def get_digest_subscription(self, account: str) -> DigestSubscription | None: ...

    def save_digest_subscription(self, subscription: DigestSubscription) -> None:
        """Create or replace an account's subscription; its DigestState is left as it is."""
        ...

    def list_digest_subscriptions(self) -> list[DigestSubscription]: ...

    def get_digest_state(self, account: str) -> DigestState | None: ...

    def save_digest_state(self, state: DigestState) -> None:
        """Record a digest SMTP accepted (called only after it did)."""
        ...

    # -- "is this suspicious?" report queue (cyberlab/check.py) ---------------------------
    def add_check_report(self, report: CheckReport) -> None: ...

    def get_check_report(self, report_id: str) -> CheckReport | None: ...

    def list_check_reports(self, status: ReportStatus | None = None) -> list[CheckReport]:
        """Reports oldest first, optionally only those with this status."""
        ...

    def update_check_report(self, report: CheckReport) -> None: ...
