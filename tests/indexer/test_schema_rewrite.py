"""The schema rewrites of indexer/schema_rewrite.py are exact: each one, and the whole fast
validator against the one compiled from the original schemas, on real and edge-case objects."""

from __future__ import annotations

import copy
import sys
from typing import Any

import fastjsonschema
import pytest

from indexer import validate
from indexer.schema_rewrite import exception_free
from tests.indexer.test_validate_differential import sample_objects

# Values of every JSON type, and strings near the rules' edges.
PROBES: list[Any] = [
    None, True, False, 0, 1, -1, 1.5, "", "x", "action", "actions", "Action", "act", "sighting--1",
    "xsighting--1", "sighting", "cve", "capec", "cvex", "CVE-2024-1234", "CAPEC-12", "CVE-2024-1234\n",
    [], [1], ["a", "b"], {}, {"a": 1}, {"severity": 1}, {"action": None}, {"username": "u"},
    {"phone_numbers": []}, {"decryption_key": "k"}, {"b": 2, "decryption_key": 1},
]  # fmt: skip

FRAGMENTS: list[dict[str, Any]] = [
    {"anyOf": [{"type": "array", "minItems": 1}, {"type": "string"}, {"type": "integer"},
               {"type": "boolean"}, {"type": "number"}, {"type": "object"}]},
    {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    {"not": {"anyOf": [{"required": ["severity"]}, {"required": ["action"]}, {"required": ["username"]},
                       {"required": ["phone_numbers"]}]}},
    {"not": {"required": ["decryption_key"]}},
    {"not": {"enum": ["action"]}},
    {"not": {"enum": ["action", "cve"]}},
    {"not": {"pattern": "^sighting--"}},
    {"not": {"pattern": "^((cve)|(capec))$"}},
    {"not": {"pattern": "^((CVE-\\d{4}-(0\\d{3}|[1-9]\\d{3,}))|(CAPEC-\\d+))$"}},
    {"type": "string", "not": {"enum": ["action"]}, "minLength": 3},
    {"properties": {"a": {"not": {"pattern": "^cve$"}}}, "not": {"required": ["b"]}},
]  # fmt: skip

# Not rewritten: the rules cannot vouch for them.
KEPT: list[dict[str, Any]] = [
    {"not": {"pattern": "^(statement)|(tlp)$"}},  # also matches a string that ends in tlp
    {"not": {"pattern": "sighting--"}},  # matches anywhere
    {"not": {"required": ["a", "b"]}},  # not both: either may be there
    {"not": {"enum": ["a.b"]}},  # would need escaping
    {"anyOf": [{"type": "string", "minLength": 2}, {"type": "integer"}]},
    {"anyOf": [{"type": "string", "minItems": 1}, {"type": "integer"}]},
]


def verdict(validator: Any, value: Any) -> bool:
    try:
        validator(value)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=lambda f: str(f)[:60])
def test_each_rewrite_gives_the_same_verdicts(fragment: dict[str, Any]) -> None:
    rewritten = exception_free(fragment)
    assert "not" not in str(rewritten) and "anyOf" not in str(rewritten)
    before, after = fastjsonschema.compile(fragment), fastjsonschema.compile(rewritten)
    for value in PROBES:
        assert verdict(before, value) == verdict(after, value), (fragment, value)


@pytest.mark.parametrize("fragment", KEPT, ids=lambda f: str(f)[:60])
def test_what_no_rule_covers_is_left_as_it_is(fragment: dict[str, Any]) -> None:
    assert exception_free(fragment) == fragment


def test_the_rewrite_does_not_change_the_schema_it_is_given() -> None:
    fragment = copy.deepcopy(FRAGMENTS[2])
    exception_free(fragment)
    assert fragment == FRAGMENTS[2]


def _edge_cases(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Valid sample objects changed where the rewritten rules apply."""
    indicator = next(o for o in objects if o["type"] == "indicator")
    sighting = {
        "type": "sighting", "spec_version": "2.1", "id": "sighting--0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
        "created": "2026-10-20T00:00:00.000Z", "modified": "2026-10-20T00:00:00.000Z",
        "sighting_of_ref": indicator["id"],
    }  # fmt: skip
    cases: list[dict[str, Any]] = [sighting]
    uuid = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
    for ref in (f"sighting--{uuid}", f"bundle--{uuid}", 7):
        cases.append({**sighting, "sighting_of_ref": ref})
    extras: list[dict[str, Any]] = [
        {"severity": "high"},
        {"action": "x"},
        {"x_custom": None},
        {"x_custom": []},
        {"x_custom": [1]},
        {"x_custom": {}},
        {"x_custom": 1.5},
        {"type": "action"},
    ]
    for extra in extras:
        cases.append({**indicator, **extra})
    for reference in ({"source_name": "cve", "external_id": "CVE-2024-1234"}, {"source_name": "cve"},
                      {"source_name": "capec", "external_id": "CAPEC-1"}, {"source_name": "x", "url": "https://a.ex"},
                      {"source_name": "x", "external_id": "CVE-2024-1"}, {"source_name": "x"}):  # fmt: skip
        cases.append({**indicator, "external_references": [reference]})
    return cases


def test_fast_and_detailed_validators_agree_on_every_sample_and_edge_case() -> None:
    objects = sample_objects()
    checked = 0
    for obj in [*objects, *_edge_cases(objects)]:
        name = obj["type"] if obj["type"] in validate._schema_for_type() else "core"
        fast = verdict(validate._compiled(name), obj)
        detailed = verdict(validate._compiled(name, detailed=True), obj)
        assert fast == detailed, obj
        checked += 1
    assert checked > 5000


def test_a_valid_indicator_raises_nothing_inside_the_fast_validator() -> None:
    indicator = {
        "type": "indicator", "spec_version": "2.1", "id": "indicator--903d97e3-52d8-520e-a36b-4edf7d5a0f0d",
        "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z", "name": "probe",
        "pattern": "[ipv4-addr:value = '203.0.113.7']", "pattern_type": "stix",
        "valid_from": "2026-10-01T00:00:00.000Z", "labels": ["probe"],
    }  # fmt: skip
    raised: list[str] = []

    def trace(frame: Any, event: str, arg: Any) -> Any:
        if event == "exception":
            raised.append(str(arg[1]))
        return trace

    validator = validate._compiled("indicator")
    sys.settrace(lambda frame, event, arg: trace)
    try:
        validator(indicator)
    finally:
        sys.settrace(None)
    assert raised == []
