"""STIX 2.1 validation fast enough for bulk ingest.

stix2-validator's `validate_instance` checks ~600 objects/s: it re-resolves its JSON schemas on
every call and parses each indicator pattern twice. We validate against the *same* official
STIX 2.1 JSON schemas (bundled with stix2-validator), compiled once per type with fastjsonschema,
plus the specification MUSTs that schemas cannot express (real calendar dates, modified >= created,
valid_until > valid_from, id prefix = type, pattern grammar). The pattern grammar check uses
stix2-patterns' ANTLR parser, with a strict regular-expression fast path for the single
comparison that most indicators carry (`[ipv4-addr:value = '203.0.113.7']`).
tests/indexer/test_validate.py cross-checks verdicts against stix2-validator on a corpus.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import fastjsonschema
import stix2validator
from stix2patterns.validator import run_validator as parse_pattern
from stix2validator.v21 import enums

from indexer import pattern as pattern_limits
from indexer.errors import InvalidObjectError
from indexer.formats import FORMATS
from indexer.pattern import Comparison, PatternError, comparisons, is_simple, tokenize
from indexer.schema_rewrite import exception_free
from indexer.timestamps import parse_timestamp

_SCHEMA_ROOT = Path(stix2validator.__file__).parent / "schemas-2.1" / "schemas"
_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
_HASH_HEX_LENGTHS = {"MD5": 32, "SHA-1": 40, "SHA1": 40, "SHA-256": 64, "SHA256": 64, "SHA-512": 128}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# STIX 2.1 section 3.1 names, as stix2-validator checks a pattern's object types and properties.
_PATTERN_TYPE_RE = re.compile(r"^-?[a-z0-9]+(-[a-z0-9]+)*-?$")
_PATTERN_PROPERTY_RE = re.compile(r"^[a-z0-9_]{3,250}$")


def _escape_class_dollars(pattern: str) -> str:
    """`$` inside [...] is a literal; spell it `\\$` so fastjsonschema's end-of-string rewrite of `$`
    (to `\\Z`) leaves it alone. Needed by the CPE pattern of `software`, used by observed-data."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char == "$" and in_class:
            out.append("\\")
        out.append(char)
    return "".join(out)


def _fix_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _escape_class_dollars(v) if k == "pattern" and isinstance(v, str) else _fix_patterns(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_fix_patterns(v) for v in node]
    return node


def _load(path: Path) -> dict[str, Any]:
    return _fix_patterns(json.loads(path.read_text(encoding="utf-8")))  # type: ignore[no-any-return]


@functools.cache
def _schema_documents(rewritten: bool = False) -> dict[str, dict[str, Any]]:
    """The bundled schemas by $id; `rewritten`: as schema_rewrite makes them (the fast validator's)."""
    docs: dict[str, dict[str, Any]] = {}
    for path in _SCHEMA_ROOT.rglob("*.json"):
        doc = _load(path)
        docs[doc["$id"]] = exception_free(doc) if rewritten else doc
    return docs


@functools.cache
def _schema_for_type() -> dict[str, dict[str, Any]]:
    by_type: dict[str, dict[str, Any]] = {}
    for folder in ("sdos", "sros", "observables"):
        for path in (_SCHEMA_ROOT / folder).glob("*.json"):
            by_type[path.stem] = _load(path)
    for name in ("marking-definition", "language-content", "extension-definition"):
        by_type[name] = _load(_SCHEMA_ROOT / "common" / f"{name}.json")
    return by_type


def _resolve_locally(uri: str, rewritten: bool = False) -> dict[str, Any]:
    # The schemas' $refs point at GitHub URLs; resolve them to the bundled copies, never the network.
    try:
        return _schema_documents(rewritten)[uri]
    except KeyError:
        raise InvalidObjectError(f"schema reference {uri} is not bundled") from None


@functools.cache
def _compiled(schema_name: str, detailed: bool = False) -> Callable[[Any], Any]:
    """The validator of a type's schema. Not `detailed`: the fast one, whose exceptions carry no
    details (building them cost a fifth of validation: every failed anyOf branch of a valid
    object raised one, with the schema rule as a dict), compiled from the schemas rewritten not to
    raise on valid objects at all (schema_rewrite); `detailed` says what is wrong, in the words of
    the original schemas."""
    if schema_name == "core":
        schema = _load(_SCHEMA_ROOT / "common" / "core.json")
    else:
        schema = _schema_for_type()[schema_name]
    resolve = functools.partial(_resolve_locally, rewritten=not detailed)
    if not detailed:
        schema = exception_free(schema)
    handlers = {"http": resolve, "https": resolve}
    try:
        # Our own format checks: fastjsonschema's defaults refuse valid domains and URIs (formats.py).
        return fastjsonschema.compile(  # type: ignore[no-any-return]
            schema, handlers=handlers, formats=FORMATS, detailed_exceptions=detailed
        )
    except (re.error, fastjsonschema.JsonSchemaDefinitionException):
        # A few schemas use regex syntax fastjsonschema cannot translate: validate those types
        # with the reference jsonschema library instead (slower, equally strict).
        return _reference_validator(schema)


def _reference_validator(schema: dict[str, Any]) -> Callable[[Any], Any]:
    import jsonschema
    from referencing import Registry, Resource

    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(doc)) for uri, doc in _schema_documents().items()
    )
    checker = jsonschema.FormatChecker()
    for name, format_check in FORMATS.items():
        checker.checks(name)(format_check)
    validator = jsonschema.validators.validator_for(schema)(schema, registry=registry, format_checker=checker)

    def check(obj: Any) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            raise fastjsonschema.JsonSchemaValueException(
                f"data.{where} {error.message}" if where else f"data {error.message}"
            )

    return check


def validate_stix_object(obj: Any) -> None:
    """Raise InvalidObjectError saying what is wrong if `obj` is not a valid STIX 2.1 object."""
    if not isinstance(obj, dict):
        raise InvalidObjectError("not a JSON object")
    max_depth = pattern_limits.LIMITS.max_object_depth
    if too_deep(obj, max_depth):  # before any recursive code (schemas, orjson) sees it
        raise InvalidObjectError(f"the object nests deeper than {max_depth} levels")
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or not _TYPE_RE.match(stix_type):
        raise InvalidObjectError("'type' is missing or not a valid STIX type name")
    # SCOs may omit spec_version; when present it must say 2.1: this server stores STIX 2.1 only.
    if obj.get("spec_version", "2.1") != "2.1":
        raise InvalidObjectError(f"'spec_version' must be '2.1' (got {obj.get('spec_version')!r})")
    obj_id = obj.get("id")
    if not isinstance(obj_id, str) or not obj_id.startswith(stix_type + "--"):
        raise InvalidObjectError(f"'id' must be '{stix_type}--<uuid>'")
    schema_name = stix_type if stix_type in _schema_for_type() else None
    if schema_name is None:
        if not stix_type.startswith("x-"):
            raise InvalidObjectError(f"unknown STIX type {stix_type!r}; custom types must start with 'x-'")
        schema_name = "core"
    try:
        _compiled(schema_name)(obj)
    except fastjsonschema.JsonSchemaException:
        _schema_failure(schema_name, obj)
    _check_timestamps(obj, stix_type)
    if stix_type == "indicator" and obj.get("pattern_type") == "stix":
        _check_pattern(obj)


def too_deep(obj: Any, limit: int) -> bool:
    """Whether JSON nests deeper than `limit` (iterative: a deep object cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _schema_failure(schema_name: str, obj: dict[str, Any]) -> None:
    """The fast validator refused `obj`: the detailed one says why (InvalidObjectError)."""
    try:
        _compiled(schema_name, detailed=True)(obj)
    except fastjsonschema.JsonSchemaException as exc:
        raise InvalidObjectError(_schema_message(exc)) from None
    raise InvalidObjectError("object does not match the STIX 2.1 schema")  # never seen: both agree


def _schema_message(exc: fastjsonschema.JsonSchemaException) -> str:
    message = str(exc.message)
    # fastjsonschema says "data.valid_from must ..."; say "valid_from must ..." instead.
    if message.startswith("data."):
        return message[5:]
    return "object" + message[4:] if message.startswith("data ") else message


def _check_timestamps(obj: dict[str, Any], stix_type: str) -> None:
    props = ["created", "modified", *enums.TIMESTAMP_PROPERTIES.get(stix_type, [])]
    parsed: dict[str, int] = {}
    for prop in props:
        if prop in obj:
            try:
                parsed[prop] = parse_timestamp(obj[prop])
            except ValueError:
                raise InvalidObjectError(f"'{prop}' is not a valid timestamp: {obj[prop]!r}") from None
    compares = [("modified", "ge", "created"), *enums.TIMESTAMP_COMPARE.get(stix_type, [])]
    for first, op, second in compares:
        if first in parsed and second in parsed:
            a, b = parsed[first], parsed[second]
            ok = {"ge": a >= b, "gt": a > b, "le": a <= b, "lt": a < b, "eq": a == b}[op]
            if not ok:
                word = {"ge": "later than or equal to", "gt": "later than"}.get(op, op)
                raise InvalidObjectError(f"'{first}' must be {word} '{second}'")


def _check_pattern(obj: dict[str, Any]) -> None:
    pattern = obj.get("pattern")
    if not isinstance(pattern, str):
        raise InvalidObjectError("'pattern' must be a string")
    # One linear pass under the limits first: only a pattern within them reaches the grammar
    # parser, which recurses per nesting level and per chained term.
    try:
        tokens = tokenize(pattern)
        found = comparisons(pattern)
    except PatternError as exc:
        raise InvalidObjectError(f"invalid STIX pattern: {exc}") from None
    _check_pattern_names(found)
    if (
        is_simple(tokens)
        and all(c.object_type in enums.OBSERVABLE_TYPES for c in found)
        and _hashes_well_formed(found)
    ):
        return
    try:
        errors = _parse_errors(pattern, str(obj.get("pattern_version", "2.1")))
    except RecursionError:  # the limits should make this impossible; never a 500 if they do not
        raise InvalidObjectError("invalid STIX pattern: nested too deeply to parse") from None
    if errors:
        raise InvalidObjectError(f"invalid STIX pattern: {errors[0]}")


def _check_pattern_names(found: Sequence[Comparison]) -> None:
    """Object types and top-level property names must be STIX names (section 3.1); a custom SCO
    type is fine, `ab` or `ipv4_addr` is not."""
    for comparison in found:
        obj_type = comparison.object_type
        if obj_type not in enums.OBSERVABLE_TYPES and (
            not _PATTERN_TYPE_RE.match(obj_type) or not 3 <= len(obj_type) <= 250
        ):
            raise InvalidObjectError(
                f"invalid STIX pattern: {obj_type[:80]!r} is not a valid observable type name"
            )
        prop = re.split(r"[.\[]", comparison.path, maxsplit=1)[0]
        if prop in enums.OBSERVABLE_PROPERTIES.get(obj_type, ()):
            continue
        if not _PATTERN_PROPERTY_RE.match(prop):
            raise InvalidObjectError(
                f"invalid STIX pattern: {prop[:80]!r} is not a valid observable property name"
            )


def _hashes_well_formed(found: Sequence[Comparison]) -> bool:
    """The grammar parser also checks hash values; the fast path only takes the ones it can vouch for."""
    for comparison in found:
        if "hashes." not in comparison.path or comparison.operator not in ("=", "!="):
            continue
        length = _HASH_HEX_LENGTHS.get(comparison.path.rsplit("hashes.", 1)[1].strip("'").upper())
        for value in comparison.values:
            if length is None or len(value) != length or not _HEX.match(value):
                return False
    return True


@functools.lru_cache(maxsize=4096)
def _parse_errors(pattern: str, version: str) -> list[str]:
    if version not in ("2.0", "2.1"):
        version = "2.1"
    return [str(e) for e in parse_pattern(pattern, stix_version=version)]
