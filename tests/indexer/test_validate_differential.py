"""Differential test: what ingest stores against what stix2-validator (the OASIS reference) accepts.

"Ours" is everything ingest refuses an object for on validity grounds: the STIX check
(indexer/validate.py), the value check (indexer/wellformed.object_problem) and the sanitizer's
malformed-value (a TAXII POST and a connector run both pass it); not its sharing policy
(warninglists, private addresses). Over every object misp-stix makes from the shared MISP samples,
and over generated domain names, URLs, email addresses and pattern names (hypothesis, a bounded
number of examples, derandomized so CI is repeatable): nothing the reference accepts may be refused
by us, except the cases listed in STRICTER below, each with its reason; what we accept and the
reference refuses is listed in LOOSER with its reason. Any other disagreement fails the test and
names the object. From the samples, STRICTER holds exactly one object (the 165 KiB attachment).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, provisional, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from config.settings import SanitizeSettings
from indexer.errors import InvalidObjectError
from indexer.formats import is_email, is_idn_hostname, is_uri
from indexer.normalize.misp import NormalizationError, _with_cluster_uuids, convert_event
from indexer.sanitize import Sanitizer
from indexer.validate import validate_stix_object
from indexer.wellformed import object_problem

SAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "samples"
REFERENCE = ValidationOptions(version="2.1", strict=False)
GENERATED = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# (object type, why we refuse what the reference accepts): deliberate, each for a reason.
STRICTER: dict[str, Callable[[dict[str, Any], str], bool]] = {
    # Security issue #10: a pattern over max_pattern_length never reaches a parser (a 165 KiB
    # file:content_ref.payload_bin in the samples: an attachment pasted into a pattern).
    "pattern over the length limit": lambda o, why: o["type"] == "indicator" and "characters long" in why,
    # The reference's email regex takes domains RFC 5322 / RFC 1123 do not: `a@b..c`, `a@-b.c`,
    # `a@b.c.` and labels over 63 characters. A blocklist cannot use such an address.
    "email domain that is not a host name": lambda o, why: (
        o["type"] == "email-addr" and "email" in why and not is_idn_hostname(o["value"].rpartition("@")[2])
    ),
    # The reference checks an SCO's value against its schema (ipv4 regex, idn-hostname, uri, email)
    # but not the same value inside a pattern: `[domain-name:value = 'evil inj.example']` and
    # `[ipv4-addr:value = '5.188.70.1\n0.0.0.0/0']` pass it. We hold a pattern's value to the format
    # of that SCO property (and refuse control characters anywhere): no consumer could use it,
    # and a newline in it would split blocklist lines. Scheme-less URLs (`www.example.top/x`, 12 in
    # the samples) are taken (wellformed.stored_problem), so the samples hold none of these.
    "pattern value its SCO's schema refuses": lambda o, why: (
        o["type"] == "indicator" and ("the pattern's value" in why or why == "malformed-value")
    ),
}
# What we accept and the reference refuses.
LOOSER: dict[str, Callable[[dict[str, Any]], bool]] = {
    # RFC 5322 atext allows !#$%&'*/=?^`{|}~ in a dot-atom, and a quoted-string local part; the
    # reference's regex allows only [a-zA-Z0-9_.+-].
    "RFC 5322 local part beyond [a-zA-Z0-9_.+-]": lambda o: (
        o["type"] == "email-addr" and re.fullmatch(r"[a-zA-Z0-9_.+-]+", o["value"].rpartition("@")[0]) is None
    ),
    # An internationalized domain (RFC 6531 / RFC 5890 U-labels) or an address literal
    # ([192.0.2.1]) after the @: the reference's regex allows only ASCII letters, digits, - and dots.
    "international or literal email domain": lambda o: (
        o["type"] == "email-addr"
        and re.fullmatch(r"[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+", o["value"].rpartition("@")[2]) is None
    ),
}


def reference_errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_instance(obj, REFERENCE).errors]


_SANITIZER = Sanitizer(SanitizeSettings(protected_networks=(), protected_domains=(), warninglists=False))


def our_error(obj: dict[str, Any]) -> str:
    """Why ingest refuses `obj` as invalid ("" if it stores it): schema, values, malformed-value."""
    try:
        validate_stix_object(obj)
    except InvalidObjectError as exc:
        return str(exc)
    problem = object_problem(obj)
    if problem:
        return problem
    if any(
        _SANITIZER.check(kind, value) == "malformed-value" for kind, value in _SANITIZER.object_values(obj)
    ):
        return "malformed-value"
    return ""


def disagreement(obj: dict[str, Any]) -> str | None:
    """None if both agree or the difference is listed; else what differs, to fail with."""
    ours, theirs = our_error(obj), reference_errors(obj)
    if bool(ours) == bool(theirs):
        return None
    if ours:
        if any(rule(obj, ours) for rule in STRICTER.values()):
            return None
        return f"we refuse what the reference accepts: {obj.get('type')} {_shown(obj)}: {ours}"
    if any(rule(obj) for rule in LOOSER.values()):
        return None
    return f"we accept what the reference refuses: {obj.get('type')} {_shown(obj)}: {theirs[0][:200]}"


def _shown(obj: dict[str, Any]) -> str:
    return repr(obj.get("value") or obj.get("pattern") or obj.get("id"))[:160]


@cache
def sample_objects() -> list[dict[str, Any]]:
    """Every object misp-stix makes from the shared MISP samples (feed and API), as it makes them."""
    events = [
        *sorted((SAMPLES / "misp-feed").glob("*/*-*.json")),
        *sorted((SAMPLES / "misp-api").glob("*-*.json")),
    ]
    objects: list[dict[str, Any]] = []
    for path in events:
        event = json.loads(path.read_text(encoding="utf-8"))
        event = event.get("Event", event)
        try:
            objects += convert_event(event)
        except NormalizationError:
            repaired = _with_cluster_uuids(event)  # what the connector does too
            if repaired is not None:
                objects += convert_event(repaired)
    return objects


def test_every_object_misp_stix_makes_from_the_samples_gets_the_reference_verdict() -> None:
    objects = sample_objects()
    assert len(objects) > 9000  # all 24 events converted
    found = [d for d in map(disagreement, objects) if d]
    assert found == [], f"{len(found)} disagreements, first: {found[:5]}"


def test_from_the_samples_we_refuse_nothing_the_reference_accepts_but_the_oversized_pattern() -> None:
    """Issue 13 item 1: zero valid objects refused. The one exception is the security limit."""
    refused = {}
    for obj in sample_objects():
        why = our_error(obj)
        if why and not reference_errors(obj):
            refused[obj["id"]] = [name for name, rule in STRICTER.items() if rule(obj, why)]
    assert list(refused.values()) == [["pattern over the length limit"]], refused
    # the 12 scheme-less `url` attributes (and the observed-data holding them) are stored now
    urls = [
        o
        for o in sample_objects()
        if o["type"] == "indicator" and "url:value = 'www.whitewall.top'" in o["pattern"]
    ]
    assert urls and all(our_error(o) == "" for o in urls)


def test_the_samples_hold_the_domains_fastjsonschema_refused() -> None:
    """The regression this file exists for: four-label domains are valid."""
    domains = [o for o in sample_objects() if o["type"] == "domain-name" and o["value"].count(".") >= 3]
    assert domains, "the samples carry domains with four or more labels"
    for obj in domains:
        assert our_error(obj) == "", obj["value"]


def sco(stix_type: str, value: str) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": f"{stix_type}--{uuid.uuid4()}", "value": value}


def indicator(pattern: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("obj", "valid"),
    [
        (sco("domain-name", "mail.example.co.uk"), True),
        (sco("domain-name", "asd.powergame.0077.x24hr.com"), True),
        (sco("domain-name", "w.asd3.as.amazon-corp.wikaba.com"), True),
        (sco("domain-name", "bücher.example"), True),
        (sco("domain-name", "xn--bcher-kva.example"), True),
        (sco("domain-name", "example.com."), True),
        (sco("domain-name", "a_b.example.com"), False),
        (sco("domain-name", "_dmarc.example.com"), False),
        (sco("domain-name", "-a.example.com"), False),
        (sco("domain-name", "ab--c.example.com"), False),  # reserved for A-labels, and not one
        (sco("domain-name", "a" * 64 + ".example"), False),
        (sco("url", "commail.co:5453/qqqzqa"), True),  # RFC 3986: scheme `commail.co`
        (sco("url", "http://[2001:db8::1]:8080/x"), True),
        (sco("url", "http://2001:db8::1/x"), False),  # IPv6 without brackets
        (sco("url", "http://::1/"), False),
        (sco("url", "http://x.example/é"), False),  # an IRI, not a URI
        (sco("url", "http://x.example/%zz"), False),
        (sco("url", "http://a b.example/"), False),
        (sco("email-addr", "alice@mail.example.co.uk"), True),
        (sco("email-addr", "alice@example"), False),
        (sco("email-addr", "a b@example.com"), False),
        (indicator("[x-acme-widget:value = 'a']"), True),
        (indicator("[widget:value = 'a']"), True),  # a custom SCO type without x- is allowed
        (indicator("[ab:value = 'a']"), False),  # too short for a STIX type name
        (indicator("[acme-widget:value = 'a' AND acme-widget:x = 'b']"), False),  # property name too short
    ],
    ids=lambda v: _shown(v) if isinstance(v, dict) else str(v),
)
def test_examples_from_the_issue_get_the_reference_verdict(obj: dict[str, Any], valid: bool) -> None:
    assert (reference_errors(obj) == []) is valid, "the example must carry the reference's verdict"
    assert (our_error(obj) == "") is valid, our_error(obj)


def test_listed_differences_are_real() -> None:
    """Each STRICTER / LOOSER entry describes something that happens (else the list would rot)."""
    stricter = sco("email-addr", "alice@b..example")
    assert reference_errors(stricter) == [] and our_error(stricter)
    for value in ("o'brien@example.com", '"a b"@example.com', "alice@bücher.example", "alice@[192.0.2.1]"):
        looser = sco("email-addr", value)
        assert reference_errors(looser) and our_error(looser) == "", value
    # The reference's `$` also takes a trailing newline; our control-character rule refuses it.
    newline = sco("email-addr", "alice@example.com\n")
    assert reference_errors(newline) == [] and our_error(newline)
    for pattern in (
        "[domain-name:value = 'evil inj.example']",
        "[ipv4-addr:value = '5.188.70.300']",
        "[url:value = 'http://evil.example/a b']",
        "[ipv4-addr:value = '5.188.70.1\n0.0.0.0/0']",
        "[domain-name:value = 'x.example' AND domain-name:resolves_to_refs[*].value = 'a b']",
    ):
        obj = indicator(pattern)
        why = our_error(obj)
        assert reference_errors(obj) == [] and why, pattern
        assert STRICTER["pattern value its SCO's schema refuses"](obj, why), (pattern, why)


@pytest.mark.parametrize(
    "obj",
    [
        indicator("[url:value = 'www.whitewall.top']"),  # MISP url attributes without a scheme
        indicator("[url:value = 'Data/dtl.dat']"),
        indicator("[url:value = 'commail.co:5453/qqqzqa']"),
        indicator("[domain-name:value = '107.183.86.4']"),  # a MISP domain attribute holding an IP
        sco("domain-name", "107.183.86.4"),
        sco("domain-name", "example.com."),
        sco("url", "commail.co:5453/qqqzqa"),
    ],
    ids=_shown,
)
def test_valid_values_no_blocklist_can_use_are_stored(obj: dict[str, Any]) -> None:
    """Stored as STIX (what the reference accepts); exports.py leaves out what no consumer takes."""
    assert reference_errors(obj) == []
    assert our_error(obj) == ""


@GENERATED
@given(provisional.domains())
def test_generated_domains(domain: str) -> None:
    assert is_idn_hostname(domain)
    assert disagreement(sco("domain-name", domain)) is None


@GENERATED
@given(provisional.urls())
def test_generated_urls(url: str) -> None:
    assert is_uri(url)
    assert disagreement(sco("url", url)) is None


@GENERATED
@given(st.emails())
def test_generated_emails(email: str) -> None:
    assert is_email(email)
    assert disagreement(sco("email-addr", email)) is None


# Text close to the edge: letters with the punctuation that makes or breaks each format.
_EDGY = st.text(alphabet="ab0-._:/@[]%~?#!'é_ 9fF", min_size=1, max_size=30)


@GENERATED
@given(_EDGY, st.sampled_from(["domain-name", "url", "email-addr"]))
def test_generated_edge_values(value: str, stix_type: str) -> None:
    assert disagreement(sco(stix_type, value)) is None


@GENERATED
@given(
    st.from_regex(r"\A[a-z0-9_-]{1,12}\Z"),
    st.from_regex(r"\A[a-z0-9_]{1,8}\Z"),
)
def test_generated_pattern_names(obj_type: str, prop: str) -> None:
    obj = indicator(f"[{obj_type}:{prop} = 'a']")
    assert disagreement(obj) is None
