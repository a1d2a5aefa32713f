"""The STIX pattern tokenizer: what it extracts, what it refuses, and the limits it enforces."""

from __future__ import annotations

import pytest

from config import ValidationSettings
from indexer.pattern import PatternError, comparisons, is_compound, is_simple, tokenize
from indexer.search.values import pattern_values
from indexer.wellformed import object_problem, value_problem


def test_comparisons_unescape_literals_and_read_paths() -> None:
    found = comparisons(
        "[file:hashes.'SHA-256' = 'ab\\'c\\\\' AND x-thing:list[*].name NOT IN ('a', 'b')]"
        " REPEATS 2 TIMES WITHIN 5.5 SECONDS"
    )
    assert [(c.object_type, c.path, c.operator, c.negated, c.values) for c in found] == [
        ("file", "hashes.'SHA-256'", "=", False, ("ab'c\\",)),
        ("x-thing", "list[*].name", "IN", True, ("a", "b")),
    ]


def test_literals_that_look_like_syntax_are_values() -> None:
    tokens = tokenize(
        "[url:value = 'http://x.example/a AND b]'] START t'2026-01-01T00:00:00Z' STOP t'2026-01-02T00:00:00Z'"
    )
    assert not is_compound(tokens)
    assert [v.value for v in pattern_values("[url:value = 'http://x.example/a AND b]']")] == [
        "http://x.example/a AND b]"
    ]
    assert is_simple(tokenize("[ipv4-addr:value = '1.2.3.4' OR domain-name:value = 'a.example']"))
    assert not is_simple(tokenize("[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a.example']"))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("[a:b = 'x", "unterminated"),
        ("[a:b = 'x\\n']", "invalid escape"),
        ("[a:b = 'x']]", "unbalanced"),
        ("[a:b = 'x'] ; DROP", "unexpected character"),
        ("(" * 21 + "[a:b = 'x']" + ")" * 21, "nests deeper than 20"),
        ("[" + " OR ".join(["a:b = 'x'"] * 201) + "]", "more than 200 comparisons"),
        ("[a:b LIKE '" + "a" * 10241 + "']", "the limit is 10,240"),
    ],
)
def test_malformed_and_over_limit_patterns_say_why(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        comparisons(pattern)


def test_limits_are_settings() -> None:
    tight = ValidationSettings(max_pattern_comparisons=1)
    with pytest.raises(PatternError, match="more than 1 comparisons"):
        comparisons("[a:b = 'x' OR a:b = 'y']", tight)


def test_cached_tokens_do_not_escape_tighter_limits() -> None:
    # Tokens are cached by pattern text: a pattern first read under loose limits is still
    # refused under tighter ones (the limits are part of the cache key), and an error is not
    # remembered as a result.
    pattern = "[a:b = 'x' OR a:b = 'y'] AND [(a:b = 'z')]"
    assert len(comparisons(pattern)) == 3
    assert tokenize(pattern) is tokenize(pattern)  # the second read is the cached one
    with pytest.raises(PatternError, match="more than 2 comparisons"):
        comparisons(pattern, ValidationSettings(max_pattern_comparisons=2))
    with pytest.raises(PatternError, match="nests deeper than 1"):
        tokenize(pattern, ValidationSettings(max_pattern_depth=1))
    assert len(comparisons(pattern)) == 3


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("ipv4", "5.188.70.1", True),
        ("ipv4", "5.188.70.0/24", True),
        ("ipv4", "5.188.70.1\n0.0.0.0/0", False),
        ("ipv4", "2001:db8::1", False),
        ("ipv6", "2001:db8::1", True),
        ("ipv6", "fe80::1%eth0", False),
        ("domain", "www.evil.example", True),
        ("domain", "bücher.example", True),
        ("domain", "=cmd.example", False),
        ("domain", "evil.example\u2028x", False),
        ("url", "http://evil.example/a?b=c", True),
        ("url", "http://[2001:db8::1]:8080/x", True),
        ("url", "javascript:alert(1)", False),
        ("url", "http://evil.example:99999/", False),
        ("email", "phish@evil.example", True),
        ("email", "phish@", False),
        ("hash", "a" * 64, True),
        ("hash", "a" * 63, False),
    ],
)
def test_value_shapes(kind: str, value: str, ok: bool) -> None:
    assert (value_problem(kind, value) is None) is ok


def test_hash_lengths_follow_the_algorithm() -> None:
    assert value_problem("hash", "a" * 32, "MD5") is None
    assert value_problem("hash", "a" * 64, "MD5") is not None
    assert value_problem("hash", "3:abc:def", "SSDEEP") is None
    file = {"type": "file", "hashes": {"SHA-1": "a" * 40, "SHA-256": "b" * 40}}
    assert "SHA-256" in (object_problem(file) or "")


@pytest.mark.parametrize(
    ("pattern", "values"),
    [
        (
            "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:name = 'a.exe']",
            [("hash", "d41d8cd98f00b204e9800998ecf8427e")],
        ),
        (
            "[domain-name:value = 'd.example' AND domain-name:resolves_to_refs[*].value = '198.51.100.1']",
            [("domain", "d.example"), ("ip", "198.51.100.1")],
        ),
        (
            "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.2'"
            " AND network-traffic:dst_port = 443]",
            [("ip", "198.51.100.2")],
        ),
        (
            "[ipv4-addr:value = '1.2.3.4'] OR [url:value = 'http://a.example/']",
            [("ip", "1.2.3.4"), ("url", "http://a.example/")],
        ),
        ("[ipv4-addr:value IN ('1.2.3.4', '1.2.3.5')]", [("ip", "1.2.3.4"), ("ip", "1.2.3.5")]),
        ("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.5']", []),
        ("[ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value = '1.2.3.5']", []),
        ("[ipv4-addr:value = '1.2.3.4'] WITHIN 60 SECONDS", []),
        ("[ipv4-addr:value != '1.2.3.4']", []),
        ("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:name NOT = 'ok.exe']", []),
        ("[ipv4-addr:value = '1.2.3.4' AND domain-name:value = 'x.example']", []),  # no one object is both
        (
            "[ipv4-addr:value = '1.2.3.4'] OR"
            " ([ipv4-addr:value = '1.2.3.5'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.6'])",
            [("ip", "1.2.3.4")],
        ),
    ],
)
def test_blockable_values_are_what_analysts_mean(pattern: str, values: list[tuple[str, str]]) -> None:
    assert [(v.kind, v.value) for v in pattern_values(pattern)] == values
