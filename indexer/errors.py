"""Errors raised by the indexer and its stores."""

from __future__ import annotations

from typing import Literal, get_args

from config.errors import CyberlabError

# Why a store could not be used, set by the backend where it translates its driver's error
# (indexer/store/embedded_errors.py, elastic_errors.py), so callers choose what to say and how
# long to wait from a value, never from the wording of a driver's message.
StoreCause = Literal[
    "disk_full",  # no space left for the write (SQLITE_FULL; Elasticsearch's flood-stage block)
    "read_only",  # the file, directory or index refuses writes
    "not_initialized",  # no store there yet: `cyberlab init` was not run
    "busy",  # other writers held the lock (or the node queue) longer than we wait
    "timeout",  # the store did not answer within its time limit
    "unavailable",  # the store cannot be reached (connection refused, no master, 5xx)
    "corrupt",  # the stored data is damaged or not a CyberLab store
    "conflict",  # another write got there first (a name taken, a lease taken over)
    "error",  # anything else the store refused
]
STORE_CAUSES: tuple[StoreCause, ...] = get_args(StoreCause)


class StoreError(CyberlabError):
    """The store could not be read or written.

    `cause` says why, as a value; `retry_after` (seconds), when the backend knows better than
    the caller's default how long the fault lasts. The message is for logs and the CLI: it
    may name files and hosts, so clients are never shown it."""

    def __init__(self, message: str, *, cause: StoreCause, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.cause: StoreCause = cause
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:  # keyword-only arguments survive pickling
        return (_rebuild, (type(self), str(self), self.cause, self.retry_after))


def _rebuild(cls: type[StoreError], message: str, cause: StoreCause, retry_after: int | None) -> StoreError:
    error = cls.__new__(cls)
    StoreError.__init__(error, message, cause=cause, retry_after=retry_after)
    return error


class InvalidObjectError(CyberlabError):
    """An object is not valid STIX 2.1 or breaks a collection's rules."""
