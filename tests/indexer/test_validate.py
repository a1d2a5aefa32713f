"""Our fast validator must agree with stix2-validator, the OASIS reference, on valid and broken objects."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_instance

from indexer.errors import InvalidObjectError
from indexer.synthetic import demo_bundle
from indexer.validate import validate_stix_object

REFERENCE_OPTIONS = ValidationOptions(version="2.1", strict=False)
DEMO = demo_bundle(40)
INDICATOR = DEMO[1]
SIGHTING = next(o for o in DEMO if o["type"] == "sighting")


def reference_says_valid(obj: dict[str, Any]) -> bool:
    return bool(validate_instance(obj, REFERENCE_OPTIONS).is_valid)


def ours_says_valid(obj: Any) -> bool:
    try:
        validate_stix_object(obj)
    except InvalidObjectError:
        return False
    return True


def mutated(base: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copy_ = copy.deepcopy(base)
    change(copy_)
    return copy_


VALID_EXTRA = [
    {"type": "ipv4-addr", "spec_version": "2.1", "id": f"ipv4-addr--{uuid.uuid4()}", "value": "203.0.113.9"},
    {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "Emotet",
        "is_family": True,
    },
    {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": INDICATOR["id"],
        "target_ref": f"malware--{uuid.uuid4()}",
    },
    mutated(
        INDICATOR,
        lambda o: o.update(pattern="[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'a.test']"),
    ),
    mutated(INDICATOR, lambda o: o.update(pattern="[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']")),
    mutated(
        INDICATOR,
        lambda o: o.update(
            pattern="[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND "
            "file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']"
        ),
    ),
    mutated(INDICATOR, lambda o: o.update(pattern="[url:value = 'http://x.test/?q=it\\'s']")),
]

BROKEN: dict[str, dict[str, Any]] = {
    "pattern missing bracket": mutated(INDICATOR, lambda o: o.update(pattern="[ipv4-addr:value = '1.2.3.4'")),
    "pattern garbage": mutated(INDICATOR, lambda o: o.update(pattern="drop table indicators")),
    "pattern bad MD5": mutated(INDICATOR, lambda o: o.update(pattern="[file:hashes.MD5 = 'a']")),
    "pattern bad SHA-256": mutated(INDICATOR, lambda o: o.update(pattern="[file:hashes.'SHA-256' = 'xyz']")),
    "pattern dangling AND": mutated(INDICATOR, lambda o: o.update(pattern="[file:hashes.MD5 = 'a' AND]")),
    "modified before created": mutated(INDICATOR, lambda o: o.update(modified="2020-01-01T00:00:00.000Z")),
    "impossible date": mutated(INDICATOR, lambda o: o.update(created="2026-02-30T00:00:00.000Z")),
    "valid_until before valid_from": mutated(
        INDICATOR, lambda o: o.update(valid_until="2001-01-01T00:00:00Z")
    ),
    "missing pattern_type": mutated(INDICATOR, lambda o: o.pop("pattern_type")),
    "missing id": mutated(INDICATOR, lambda o: o.pop("id")),
    "bad id": mutated(INDICATOR, lambda o: o.update(id="indicator--not-a-uuid")),
    "timestamp not RFC 3339": mutated(INDICATOR, lambda o: o.update(created="yesterday")),
    "labels not a list": mutated(INDICATOR, lambda o: o.update(labels="scanner")),
    "sighting without ref": mutated(SIGHTING, lambda o: o.pop("sighting_of_ref")),
    "sighting count negative": mutated(SIGHTING, lambda o: o.update(count=-1)),
}


@pytest.mark.parametrize("obj", DEMO[:25] + VALID_EXTRA, ids=lambda o: o["type"])
def test_valid_objects_pass_both(obj: dict[str, Any]) -> None:
    assert reference_says_valid(obj), "fixture must be valid for the reference validator"
    assert ours_says_valid(obj)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_objects_fail_both(name: str) -> None:
    obj = BROKEN[name]
    try:
        reference_valid = reference_says_valid(obj)
    except Exception:  # the reference raises on some malformed input instead of reporting it
        reference_valid = False
    assert not reference_valid, "fixture must be invalid for the reference validator"
    assert not ours_says_valid(obj)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ("not an object", "not a JSON object"),
        ({"type": "Foo!"}, "'type'"),
        ({"type": "custom-thing", "id": f"custom-thing--{uuid.uuid4()}", "spec_version": "2.1"}, "x-"),
        (BROKEN["valid_until before valid_from"], "'valid_until' must be later than 'valid_from'"),
        (BROKEN["pattern missing bracket"], "invalid STIX pattern"),
        (BROKEN["missing pattern_type"], "pattern_type"),
    ],
)
def test_messages_say_what_is_wrong(obj: Any, message: str) -> None:
    with pytest.raises(InvalidObjectError, match=message.replace("(", r"\(")):
        validate_stix_object(obj)


def test_stricter_than_the_reference_on_spec_version() -> None:
    """The reference accepts spec_version 2.0 when validating as 2.1; a 2.1-only store must not."""
    obj = mutated(INDICATOR, lambda o: o.update(spec_version="2.0"))
    assert reference_says_valid(obj)
    with pytest.raises(InvalidObjectError, match="spec_version"):
        validate_stix_object(obj)
