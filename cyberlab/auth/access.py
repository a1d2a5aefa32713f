"""Collection access: who may read or write a collection, and what of it a reader sees.

One rule for TAXII, the API, exports, the pivot and the web pages: the read scope travels in the
store query (indexer.store.base.ObjectQuery), so no reader can disagree with another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from config import CollectionSettings
from cyberlab.auth.caller import Caller
from cyberlab.auth.clearance import max_tlp_rank
from indexer.store.base import SERVER


def can_read(caller: Caller, collection: CollectionSettings) -> bool:
    if collection.public:
        return True
    return caller.role == "admin" or (caller.role is not None and caller.role in collection.read_roles)


def can_write(caller: Caller, collection: CollectionSettings) -> bool:
    return caller.role == "admin" or (caller.role is not None and caller.role in collection.write_roles)


def readable_collections(
    caller: Caller, collections: Iterable[CollectionSettings]
) -> list[CollectionSettings]:
    return [c for c in collections if can_read(caller, c)]


# Roles that read only their own objects wherever they may write (the partner-sightings
# collection, and any collection an admin opens to partners' posts): a partner's name and what it
# saw or posted are for the city's analysts, not for the other partners (the anonymized counts of
# the pivot stay for everyone). Where such a role may only read, it reads everything it is cleared for.
OWN_OBJECTS_ONLY = ("partner",)


@dataclass(frozen=True)
class ReadScope:
    """What of a readable collection a caller sees: one rule for TAXII, exports and the pivot."""

    max_tlp_rank: int | None
    owner: str | None


def read_scope(caller: Caller, collection: CollectionSettings, sightings_collection: str) -> ReadScope:
    """The caller's scope in a collection it may read. sightings_collection: the id or alias of
    Settings.sightings_collection; there, and in every collection they may write to, partners read
    only their own objects."""
    own_only = caller.role in OWN_OBJECTS_ONLY and (
        sightings_collection in (collection.id, collection.alias) or caller.role in collection.write_roles
    )
    return ReadScope(max_tlp_rank(caller), (caller.name or "") if own_only else None)


def write_owner(caller: Caller) -> str:
    """Who owns what a caller stores: admins act for the platform, everyone else for its account."""
    return SERVER if caller.role == "admin" else caller.name or ""
