"""RFC 3339 timestamps <-> integer microseconds since the epoch.

The store keeps times as integers so that ordering and keyset comparisons are exact and cheap;
the API speaks RFC 3339 with microseconds, as TAXII 2.1 asks for date_added headers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(text: str) -> int:
    """Parse an RFC 3339 timestamp into microseconds since the epoch; ValueError if malformed."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
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
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction:06d}Z"


def now_micros() -> int:
    delta = datetime.now(tz=UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
