"""RFC 3339 timestamps <-> integer microseconds since the epoch.

The store keeps times as integers so that ordering and keyset comparisons are exact and cheap;
the API speaks RFC 3339 with microseconds, as TAXII 2.1 asks for date_added headers.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

# [0-9], not \d: \d is any Unicode digit and int() reads them all, so '٢٠٢٦-01-01T00:00:00Z'
# (Arabic-Indic) or fullwidth '２０２６-...' would be taken as 2026 and stored as written.
_RFC3339 = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(text: str) -> int:
    """Parse an RFC 3339 timestamp into microseconds since the epoch; ValueError if malformed."""
    if not isinstance(text, str):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    # One object's created/modified/valid_from are read by validation, the version and the search
    # document, and a feed repeats them across objects: cache by text. Short texts only, so that
    # the cache's keys stay small (a valid timestamp is at most 35 characters).
    return _cached_parse(text) if len(text) <= 40 else _parse(text)


@functools.lru_cache(maxsize=16384)
def _cached_parse(text: str) -> int:
    return _parse(text)  # (an error is not cached)


def _parse(text: str) -> int:
    if len(text) == 24:  # the common shape, YYYY-MM-DDTHH:MM:SS.fffZ, without the regex
        digits = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19] + text[20:23]
        if (
            text[4] == text[7] == "-"
            and text[10] == "T"
            and text[13] == text[16] == ":"
            and text[19] == "."
            and text[23] == "Z"
            and digits.isascii()
            and digits.isdigit()
        ):
            moment = datetime(
                int(digits[0:4]), int(digits[4:6]), int(digits[6:8]),
                int(digits[8:10]), int(digits[10:12]), min(int(digits[12:14]), 59), int(digits[14:17]) * 1000,
                tzinfo=UTC,
            )  # fmt: skip
            return _to_micros(moment)
    match = _RFC3339.match(text)
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    second = min(second, 59)  # a leap second is kept as :59.999999-ish rather than rejected
    moment = datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=UTC)
    if match.group(8):
        sign = 1 if match.group(8) == "+" else -1
        offset = sign * (int(match.group(9)) * 3600 + int(match.group(10)) * 60)
        return _to_micros(moment) - offset * 1_000_000
    return _to_micros(moment)


def format_timestamp(micros: int) -> str:
    """Microseconds since the epoch as RFC 3339 UTC with exactly six fractional digits."""
    seconds, fraction = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    # The year padded by hand: glibc's %Y writes year 1 as "1", which no parser takes back.
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{fraction:06d}Z"


def now_micros() -> int:
    delta = datetime.now(tz=UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
