"""A linear-time tokenizer for STIX 2.1 patterns, and the comparisons it finds.

Regular expressions over whole patterns backtracked quadratically on long literals (a 59 KiB
`[url:value LIKE 'aaa...']` held the write lock for 14 s), and stix2-patterns' ANTLR parser
recurses once per nesting level and per chained term (RecursionError on 500 parentheses or 1000
observations joined by AND). Every pattern is tokenized here first, in one pass, under limits
(length, comparisons, nesting depth): an over-limit pattern is refused saying which limit, and only
a pattern within the limits ever reaches the grammar parser.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from config import ValidationSettings


class PatternError(ValueError):
    """A pattern that cannot be tokenized, or that exceeds a limit (the message says which)."""


LIMITS = ValidationSettings()
# One write tokenizes a pattern for validation, well-formedness and the search index's values:
# the tokens are cached by pattern text, for more patterns than one ingest batch (5,000 in the
# bench) holds, so that the store still finds them when it indexes the batch. Only patterns up to
# _CACHED_LENGTH characters (nearly every indicator's) are cached: 9 MB full of the bench's
# indicators, 64 MB full of 200-character patterns of 15 comparisons each (the worst case).
_CACHED_PATTERNS = 8192
_CACHED_LENGTH = 200


def configure(settings: ValidationSettings) -> None:
    """Use these limits from now on (services and pipelines call this with their settings)."""
    global LIMITS
    LIMITS = settings


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "[", "]", "(", ")", ",", "path", "op", "word", "string", "literal"
    text: str  # for "string": the unescaped value; for others the source text


@dataclass(frozen=True, slots=True)
class Comparison:
    object_type: str  # ipv4-addr
    path: str  # value, hashes.'SHA-256', ...
    operator: str  # =, !=, LIKE, MATCHES, IN, <, ...
    negated: bool  # NOT before the operator
    values: tuple[str, ...]  # the string literals compared with (several for IN)


_OPERATORS = ("!=", "<>", "<=", ">=", "==", "=", "<", ">")
_WORD_OPERATORS = {"LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET", "IN", "EXISTS"}
_JOINERS = {"AND", "OR", "FOLLOWEDBY"}
_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_PATH_CHARS = _IDENT | frozenset(".")


def tokenize(pattern: str, limits: ValidationSettings | None = None) -> tuple[Token, ...]:
    """The tokens of a pattern, in one left-to-right pass; PatternError if malformed or over a limit."""
    limits = limits or LIMITS
    if len(pattern) <= _CACHED_LENGTH:
        return _cached_tokens(pattern, limits)
    return _tokenize(pattern, limits)


@functools.lru_cache(maxsize=_CACHED_PATTERNS)
def _cached_tokens(pattern: str, limits: ValidationSettings) -> tuple[Token, ...]:
    return _tokenize(pattern, limits)  # (an error is not cached: raised again on every call)


def _tokenize(pattern: str, limits: ValidationSettings) -> tuple[Token, ...]:
    if len(pattern) > limits.max_pattern_length:
        raise PatternError(
            f"the pattern is {len(pattern):,} characters long; the limit is {limits.max_pattern_length:,}"
        )
    tokens: list[Token] = []
    depth = 0
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char in " \t\r\n":
            i += 1
        elif char in "[(":
            depth += 1
            if depth > limits.max_pattern_depth:
                raise PatternError(f"the pattern nests deeper than {limits.max_pattern_depth} brackets")
            tokens.append(Token(char, char))
            i += 1
        elif char in "])":
            depth -= 1
            if depth < 0:
                raise PatternError(f"unbalanced {char!r} at offset {i}")
            tokens.append(Token(char, char))
            i += 1
        elif char == ",":
            tokens.append(Token(",", ","))
            i += 1
        elif char == "'":
            value, i = _string(pattern, i)
            tokens.append(Token("string", value))
        elif char in "bht" and i + 1 < n and pattern[i + 1] == "'":
            value, end = _string(pattern, i + 1)  # b'..' (binary), h'..' (hex), t'..' (timestamp)
            tokens.append(Token("literal", pattern[i:end]))
            i = end
        elif char in "!<>=":
            op = next(o for o in (*_OPERATORS, char) if pattern.startswith(o, i))
            if op == "!":
                raise PatternError(f"unexpected '!' at offset {i}")
            tokens.append(Token("op", op))
            i += len(op)
        elif char in _IDENT:
            start = i
            while i < n and pattern[i] in _IDENT:
                i += 1
            if i < n and pattern[i] == ":" and pattern[start].islower():
                i = _path_end(pattern, i + 1)
                tokens.append(Token("path", pattern[start:i]))
            else:
                while i < n and pattern[i] == ".":  # a float
                    i += 1
                    while i < n and pattern[i] in _IDENT:
                        i += 1
                word = pattern[start:i]
                tokens.append(Token("op" if word in _WORD_OPERATORS else "word", word))
        else:
            raise PatternError(f"unexpected character {char!r} at offset {i}")
    if depth != 0:
        raise PatternError("unbalanced brackets")
    return tuple(tokens)


def _string(pattern: str, start: int) -> tuple[str, int]:
    """A quoted literal starting at `start` (the quote): its unescaped value and the end offset."""
    out: list[str] = []
    i, n = start + 1, len(pattern)
    chunk = i
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n or pattern[i + 1] not in "\\'":
                raise PatternError(f"invalid escape in a string literal at offset {i} (only \\\\ and \\')")
            out.append(pattern[chunk:i])
            out.append(pattern[i + 1])
            i += 2
            chunk = i
        elif char == "'":
            out.append(pattern[chunk:i])
            return "".join(out), i + 1
        else:
            i += 1
    raise PatternError(f"unterminated string literal starting at offset {start}")


def _path_end(pattern: str, i: int) -> int:
    """The end of an object path's property part: names, .'quoted' names and [index] or [*]."""
    n = len(pattern)
    while i < n:
        char = pattern[i]
        if char in _PATH_CHARS:
            i += 1
        elif char == "'" and pattern[i - 1] == ".":
            _, i = _string(pattern, i)
        elif char == "[":
            end = pattern.find("]", i, i + 22)  # an index is short: never scan far (linear time)
            inside = pattern[i + 1 : end] if end > 0 else ""
            if not (inside == "*" or (inside.isascii() and inside.isdigit())):
                break  # not a list index
            i = end + 1
        else:
            break
    return i


def comparisons(pattern: str, limits: ValidationSettings | None = None) -> tuple[Comparison, ...]:
    """Every comparison of a pattern, with its string literal(s); PatternError over a limit."""
    limits = limits or LIMITS
    if len(pattern) <= _CACHED_LENGTH:
        return _cached_comparisons(pattern, limits)
    return _comparisons(pattern, limits)


@functools.lru_cache(maxsize=_CACHED_PATTERNS)
def _cached_comparisons(pattern: str, limits: ValidationSettings) -> tuple[Comparison, ...]:
    return _comparisons(pattern, limits)


def _comparisons(pattern: str, limits: ValidationSettings) -> tuple[Comparison, ...]:
    tokens = tokenize(pattern, limits)
    found: list[Comparison] = []
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        if token.kind != "path":
            i += 1
            continue
        obj_type, _, path = token.text.partition(":")
        i += 1
        negated = i < n and tokens[i].kind == "word" and tokens[i].text == "NOT"
        if negated:
            i += 1
        if i >= n or tokens[i].kind != "op":
            raise PatternError(f"no comparison operator after {token.text[:80]!r}")
        operator = tokens[i].text
        i += 1
        values: list[str] = []
        if i < n and tokens[i].kind == "(":  # IN ('a', 'b')
            i += 1
            while i < n and tokens[i].kind != ")":
                if tokens[i].kind == "string":
                    values.append(tokens[i].text)
                i += 1
            i += 1
        elif i < n and tokens[i].kind == "string":
            values.append(tokens[i].text)
            i += 1
        elif i < n and tokens[i].kind in ("literal", "word"):
            i += 1
        found.append(Comparison(obj_type, path, operator, negated, tuple(values)))
        if len(found) > limits.max_pattern_comparisons:
            raise PatternError(f"the pattern has more than {limits.max_pattern_comparisons} comparisons")
    return tuple(found)


def is_compound(tokens: Sequence[Token]) -> bool:
    """A pattern that needs several things at once (AND, FOLLOWEDBY): no single value stands for it."""
    return any(t.kind == "word" and t.text in ("AND", "FOLLOWEDBY") for t in tokens)


def is_simple(tokens: Sequence[Token]) -> bool:
    """`[ path op 'string' ((AND|OR) path op 'string')* ]` with =, !=, LIKE or MATCHES: what most
    indicators carry, and what the validator's fast path vouches for without the grammar parser."""
    if len(tokens) < 5 or tokens[0].kind != "[" or tokens[-1].kind != "]":
        return False
    body = tokens[1:-1]
    if len(body) % 4 != 3:
        return False
    for k in range(0, len(body), 4):
        path, op, value = body[k : k + 3]
        if path.kind != "path" or op.kind != "op" or value.kind != "string":
            return False
        if op.text not in ("=", "!=", "LIKE", "MATCHES"):
            return False
        if k + 3 < len(body) and not (body[k + 3].kind == "word" and body[k + 3].text in ("AND", "OR")):
            return False
    return True
