"""RFC 3339 parsing: the fast path for the common shape agrees with the full parser."""

from __future__ import annotations

import pytest

from indexer.normalize.common import stamp
from indexer.timestamps import format_timestamp, parse_timestamp


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("1970-01-01T00:00:01.500Z", 1_500_000),
        ("2026-12-02T10:00:00.123Z", 1_796_205_600_123_000),
        ("2024-02-29T23:59:60.999Z", 1_709_251_199_999_000),  # a leap second stays in its minute
        ("2026-12-02T12:00:00.123+02:00", 1_796_205_600_123_000),
        ("2026-12-02t10:00:00.123z", 1_796_205_600_123_000),
        ("2026-12-02T10:00:00.123456789Z", 1_796_205_600_123_456),
    ],
)
def test_parse(text: str, micros: int) -> None:
    assert parse_timestamp(text) == micros
    assert parse_timestamp(text) == micros  # cached, the same


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30T10:00:00.000Z",  # no such day
        "2026-12-02T24:00:00.000Z",
        "+026-12-02T10:00:00.000Z",  # int() would take these; a timestamp does not
        " 026-12-02T10:00:00.000Z",
        "2026-1_-02T10:00:00.000Z",
        "2026-12-02X10:00:00.000Z",
        "2026-12-02T10:00:00.0000",
        "2026-12-02",
        "",
        # Digits of other scripts, which \d and int() both take for 0-9: Arabic-Indic, fullwidth,
        # in the fraction, in the offset, and one in the fast path's shape.
        "٢٠٢٦-01-01T00:00:00Z",
        "２０２６-01-01T00:00:00Z",
        "2026-01-01T00:00:00.٣Z",
        "2026-01-01T00:00:00+٠١:00",
        "2026-12-0٢T10:00:00.000Z",
    ],
)
def test_malformed_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_not_a_string_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_timestamp(["2026-12-02T10:00:00.000Z"])  # type: ignore[arg-type]


def test_fast_path_agrees_with_the_full_parser() -> None:
    # `...Z` takes the fast path, the same instant written `+00:00` the regular expression.
    for month in range(1, 13):
        for day in (1, 15, 28, 29, 30, 31):
            for clock in ("00:00:00.000", "13:07:59.001", "23:59:59.999"):
                fast = f"2024-{month:02d}-{day:02d}T{clock}Z"
                try:
                    expected: int | str = parse_timestamp(fast.replace("Z", "+00:00"))
                except ValueError:
                    expected = "invalid"
                try:
                    got: int | str = parse_timestamp(fast)
                except ValueError:
                    got = "invalid"
                assert got == expected, fast
    assert format_timestamp(parse_timestamp("2026-12-02T10:00:00.123Z")) == "2026-12-02T10:00:00.123000Z"


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00.000000Z", "0999-12-31T23:59:59.000001Z"])
def test_years_before_1000_keep_four_digits(text: str) -> None:
    # glibc's strftime %Y writes year 1 as "1": a timestamp no parser (ours included) takes back.
    assert format_timestamp(parse_timestamp(text)) == text
    assert stamp(parse_timestamp(text) / 1_000_000) == text[:23] + "Z"
