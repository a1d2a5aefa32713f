"""Incremental reading of log files: byte offsets per file that survive rotation and truncation.

The cursor maps each file path to (inode, offset). When a path's inode changes, the file was
rotated: the rest of the old inode (now e.g. `eve.json.1`) is read first, then the new file from
its start. A file smaller than its offset was truncated (copytruncate) and is read from 0.
An unterminated last line is left for the next run unless it parses on its own: a writer may
still be appending to it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

CHUNK_LINES = 50_000


@dataclass(frozen=True)
class Chunk:
    """Consecutive lines of one file, and where the next read of that file starts."""

    path: str
    inode: int
    start: int  # byte offset of the first line
    end: int  # byte offset after the last complete line
    lines: list[str]
    mtime: float
    partial_bytes: int  # > 0: the last line had no newline and is this long (not counted in `end`)


def load_cursor(cursor: str | None) -> dict[str, tuple[int, int]]:
    if not cursor:
        return {}
    data = orjson.loads(cursor)
    return {path: (int(v[0]), int(v[1])) for path, v in data.get("files", {}).items()}


def load_shifts(cursor: str | None) -> dict[str, int]:
    """Demo replays: seconds added to each file's timestamps, fixed on the file's first read."""
    if not cursor:
        return {}
    return {path: int(v) for path, v in orjson.loads(cursor).get("shifts", {}).items()}


def dump_cursor(files: dict[str, tuple[int, int]], shifts: dict[str, int] | None = None) -> str:
    data: dict[str, object] = {"v": 1, "files": files}
    if shifts:
        data["shifts"] = shifts
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def list_files(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
    return files


def _decode(raw: bytes) -> str:
    # Logs mix encodings; a line that is not UTF-8 is read as Latin-1 rather than rejected.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_file(path: Path, inode: int, offset: int, chunk_lines: int = CHUNK_LINES) -> Iterator[Chunk]:
    stat = path.stat()
    with path.open("rb") as fh:
        fh.seek(offset)
        position = offset
        while True:
            lines: list[str] = []
            start = position
            partial = 0
            for raw in fh:
                if not raw.endswith(b"\n"):
                    partial = len(raw)
                    lines.append(_decode(raw))
                    break
                lines.append(_decode(raw[:-1].rstrip(b"\r")))
                position += len(raw)
                if len(lines) >= chunk_lines:
                    break
            if not lines:
                return
            yield Chunk(str(path), inode, start, position, lines, stat.st_mtime, partial)
            if partial:
                return


def rotated_sibling(path: Path, inode: int) -> Path | None:
    """The file that now holds inode `inode` next to `path` (eve.json -> eve.json.1), if any."""
    for candidate in sorted(path.parent.glob(path.name + "*")):
        try:
            if candidate != path and candidate.stat().st_ino == inode:
                return candidate
        except OSError:
            continue
    return None


def plan_reads(
    paths: tuple[str, ...], cursor: dict[str, tuple[int, int]]
) -> list[tuple[Path, str, int, int]]:
    """(file to open, cursor key, inode, offset to start from), oldest data first."""
    plan: list[tuple[Path, str, int, int]] = []
    seen_inodes: set[int] = set()
    # A file renamed by rotation keeps its inode: resume it from wherever that inode was read to.
    by_inode = {inode: offset for inode, offset in cursor.values()}
    for path in list_files(paths):
        key = str(path.resolve())
        stat = path.stat()
        inode, offset = cursor.get(key, (stat.st_ino, by_inode.get(stat.st_ino, 0)))
        if inode != stat.st_ino:
            old = rotated_sibling(path, inode)
            if old is not None and inode not in seen_inodes:
                plan.append((old, str(old.resolve()), inode, offset))
                seen_inodes.add(inode)
            inode, offset = stat.st_ino, by_inode.get(stat.st_ino, 0) if stat.st_ino != inode else 0
        elif stat.st_size < offset:
            offset = 0  # truncated in place
        if stat.st_ino in seen_inodes:
            continue
        seen_inodes.add(stat.st_ino)
        plan.append((path, key, inode, offset))
    return plan


def read_stdin(chunk_lines: int = CHUNK_LINES) -> Iterator[Chunk]:
    lines: list[str] = []
    position = 0
    start = 0
    for raw in sys.stdin.buffer:
        lines.append(_decode(raw.rstrip(b"\r\n")))
        position += len(raw)
        if len(lines) >= chunk_lines:
            yield Chunk("-", 0, start, position, lines, 0.0, 0)
            lines, start = [], position
    if lines:
        yield Chunk("-", 0, start, position, lines, 0.0, 0)
