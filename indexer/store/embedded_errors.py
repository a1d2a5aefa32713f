"""SQLite's errors as StoreErrors with a cause: by SQLite's result code, not its message.

Python 3.11's sqlite3 exceptions carry the (extended) result code; its low byte is the primary
code (https://sqlite.org/rescode.html). Only "no such table" has no code of its own (it is the
generic SQLITE_ERROR), and it means the schema was never created.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from indexer.errors import StoreCause, StoreError

SQLITE_ERROR = 1
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_INTERRUPT = 9
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_CONSTRAINT = 19
SQLITE_NOTADB = 26

_BY_CODE: dict[int, StoreCause] = {
    SQLITE_FULL: "disk_full",
    SQLITE_READONLY: "read_only",
    SQLITE_PERM: "read_only",
    SQLITE_BUSY: "busy",
    SQLITE_LOCKED: "busy",
    SQLITE_INTERRUPT: "timeout",
    SQLITE_CORRUPT: "corrupt",
    SQLITE_NOTADB: "corrupt",
    SQLITE_CONSTRAINT: "conflict",
    SQLITE_CANTOPEN: "unavailable",
}
_BY_ERRNO: dict[int, StoreCause] = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EROFS: "read_only",
    errno.EACCES: "read_only",
    errno.EPERM: "read_only",
}


def sqlite_cause(exc: sqlite3.Error) -> StoreCause:
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):  # raised by the sqlite3 module itself (a closed connection)
        return "error"
    primary = code & 0xFF
    if primary == SQLITE_ERROR and str(exc).startswith("no such table"):
        return "not_initialized"
    return _BY_CODE.get(primary, "error")


def os_cause(exc: OSError) -> StoreCause:
    return _BY_ERRNO.get(exc.errno or 0, "error")


def store_error(exc: sqlite3.Error | OSError, doing: str, path: Path) -> StoreError:
    """`doing` names the operation ("save a status"): the message says what failed, where."""
    cause = sqlite_cause(exc) if isinstance(exc, sqlite3.Error) else os_cause(exc)
    return StoreError(f"could not {doing} in store {path}: {exc}", cause=cause)
