"""Is a value one well-formed IP, CIDR, domain, URL, email address or hash of its kind?

Values end up as lines of firewall and DNS blocklists. A value with a newline inside
('5.188.70.1\\n0.0.0.0/0') would become several lines, one of them blocking the whole Internet.
Two questions, two functions:

- value_problem: is it exactly one value a blocklist can carry (an LDH domain with a letter TLD,
  a scheme://host URL, ...)? The export writers ask it of every line before emitting it.
- stored_problem: may ingest store it? What STIX 2.1 itself accepts for that property (the
  schemas' idn-hostname, uri and email formats, indexer/formats.py) is stored, even where no
  blocklist can use it: a MISP `domain` attribute holding an IP address, a `url` attribute without
  a scheme (`www.example.top/x`). Never a control character, and never for IPs and hashes anything
  looser than value_problem. Pattern values are held to the format of the same SCO property (the
  reference validator checks SCOs, not the values inside patterns).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from indexer.formats import is_email, is_idn_hostname, is_uri
from indexer.pattern import PatternError, comparisons

MAX_VALUE = 2048
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+(?:[a-z][a-z0-9-]{0,61}[a-z0-9]|[a-z])$"
)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{0,31}$")
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_HEX = re.compile(r"^[0-9a-f]+$")
# Hex digits per hash algorithm (STIX hashing-algorithm-ov names and common spellings).
HASH_HEX_LENGTHS = {
    "MD5": 32,
    "SHA1": 40,
    "SHA224": 56,
    "SHA256": 64,
    "SHA384": 96,
    "SHA512": 128,
    "SHA3224": 56,
    "SHA3256": 64,
    "SHA3384": 96,
    "SHA3512": 128,
}
_HEX_LENGTHS = frozenset(HASH_HEX_LENGTHS.values())
# Control characters and line/paragraph separators: anything that can split or hide a line.
_BREAKING = frozenset(("Cc", "Zl", "Zp"))


def control_problem(value: str) -> str | None:
    for char in value:
        if unicodedata.category(char) in _BREAKING:
            return f"contains the control character U+{ord(char):04X}"
    return None


def value_problem(kind: str, value: str, algorithm: str = "") -> str | None:
    """Why `value` is not one well-formed value of `kind`, or None if it is.

    kind: ipv4, ipv6, ip (either), cidr (an IP or a network), domain, url, email, hash
    (with `algorithm` when known: its hex length is then enforced).
    """
    if not isinstance(value, str):
        return "is not a string"
    problem = control_problem(value)
    if problem:
        return problem
    if not value or len(value) > MAX_VALUE:
        return f"must be 1 to {MAX_VALUE} characters"
    if value != value.strip():
        return "has leading or trailing spaces"
    check = _CHECKS.get(kind)
    ok = check(value, algorithm) if check else True
    return None if ok else f"is not a well-formed {_NAMES.get(kind, kind)}"


def stored_problem(kind: str, value: str, algorithm: str = "") -> str | None:
    """Why ingest refuses `value` as a `kind` value, or None: value_problem's well-formed values,
    and what the STIX 2.1 schema format of that kind accepts (see the module docstring)."""
    problem = value_problem(kind, value, algorithm)
    if problem is None or kind not in _STIX_FORMATS or control_problem(value) or len(value) > MAX_VALUE:
        return problem
    return None if _STIX_FORMATS[kind](value) else problem


def _stix_url(value: str) -> bool:
    # An RFC 3986 URI, or a scheme-less `host[:port][/path]` that is one with `http://` in front
    # (MISP url attributes; exports.py writes those as http:// URLs where the host is well formed).
    return is_uri(value) or ("://" not in value and is_uri("http://" + value))


_STIX_FORMATS: dict[str, Any] = {"domain": is_idn_hostname, "url": _stix_url, "email": is_email}


def scheme_less_url(value: str) -> str | None:
    """`http://` + value when value is a URL written without its scheme whose host is well formed
    (`www.example.top/x`), else None."""
    if "://" in value or value_problem("url", "http://" + value):
        return None
    return "http://" + value


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "%" in value:  # IPv6 zone ids are host-local, never a blocklist entry
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _ip(value: str, version: int | None, networks: bool = True) -> bool:
    if not networks and "/" in value:
        return False
    network = _network(value)
    return network is not None and (version is None or network.version == version)


def is_domain(value: str) -> bool:
    host = value.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    return bool(_DOMAIN.match(host))


def _url(value: str, _: str = "") -> bool:
    if any(c.isspace() for c in value) or "\\" in value:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    if (
        not _SCHEME.match(parts.scheme)
        or not parts.netloc
        or not value.lower().startswith(parts.scheme + "://")
    ):
        return False
    host = parts.hostname or ""
    return _ip(host, None, networks=False) or is_domain(host)


def _email(value: str, _: str = "") -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and _EMAIL_LOCAL.match(local) and not local.startswith(".") and is_domain(domain))


def _hash(value: str, algorithm: str = "") -> bool:
    name = re.sub(r"[^A-Z0-9]", "", algorithm.upper())
    length = HASH_HEX_LENGTHS.get(name)
    if length is not None:
        return len(value) == length and bool(_HEX.match(value.lower()))
    if not algorithm:
        return len(value) in _HEX_LENGTHS and bool(_HEX.match(value.lower()))
    # Fuzzy hashes (SSDEEP, TLSH) and custom algorithms: one printable token.
    return value.isprintable() and not any(c.isspace() for c in value)


_CHECKS: dict[str, Any] = {
    "ipv4": lambda v, _: _ip(v, 4),
    "ipv6": lambda v, _: _ip(v, 6),
    "ip": lambda v, _: _ip(v, None, networks=False),
    "cidr": lambda v, _: _ip(v, None),
    "domain": lambda v, _: is_domain(v),
    "url": _url,
    "email": _email,
    "hash": _hash,
}
_NAMES = {
    "ipv4": "IPv4 address or network",
    "ipv6": "IPv6 address or network",
    "ip": "IP address",
    "cidr": "IP network",
    "domain": "domain name",
    "url": "URL",
    "email": "email address",
    "hash": "hash",
}


def path_kind(object_type: str, path: str) -> tuple[str, str] | None:
    """(kind, hash algorithm) a pattern comparison's object path publishes, or None."""
    if object_type == "ipv4-addr" and path == "value":
        return "ipv4", ""
    if object_type == "ipv6-addr" and path == "value":
        return "ipv6", ""
    if object_type == "network-traffic" and path in ("src_ref.value", "dst_ref.value"):
        return "cidr", ""
    if object_type == "domain-name" and path == "value":
        return "domain", ""
    if object_type == "url" and path == "value":
        return "url", ""
    if object_type == "email-addr" and path == "value":
        return "email", ""
    if object_type in ("file", "artifact") and path.startswith("hashes."):
        return "hash", path[len("hashes.") :].strip("'")
    return None


def object_problem(obj: dict[str, Any]) -> str | None:
    """Why an object's observable values are not all well-formed (or its pattern over a limit)."""
    stix_type = obj.get("type")
    if stix_type == "indicator" and obj.get("pattern_type") == "stix" and isinstance(obj.get("pattern"), str):
        try:
            found = comparisons(obj["pattern"])
        except PatternError as exc:
            return f"invalid STIX pattern: {exc}"
        for comparison in found:
            kind = path_kind(comparison.object_type, comparison.path)
            for value in comparison.values:
                if kind is None or comparison.operator not in ("=", "==", "!=", "IN"):
                    # LIKE / MATCHES hold wildcards and regexes: only control characters are refused.
                    problem = control_problem(value)
                else:
                    problem = stored_problem(kind[0], value, kind[1])
                if problem:
                    where = f"{comparison.object_type}:{comparison.path}"[:100]
                    return f"the pattern's value {value[:80]!r} for {where} {problem}"
        return None
    sco_kind = {
        "ipv4-addr": "ipv4",
        "ipv6-addr": "ipv6",
        "domain-name": "domain",
        "url": "url",
        "email-addr": "email",
    }.get(str(stix_type))
    if sco_kind is not None and "value" in obj:
        problem = stored_problem(sco_kind, obj["value"])
        if problem:
            return f"'value' {str(obj['value'])[:80]!r} {problem}"
    hashes = obj.get("hashes")
    if stix_type in ("file", "artifact") and isinstance(hashes, dict):
        for algorithm, digest in hashes.items():
            problem = value_problem("hash", digest, str(algorithm))
            if problem:
                return f"hashes.{str(algorithm)[:40]} {str(digest)[:80]!r} {problem}"
    return None
