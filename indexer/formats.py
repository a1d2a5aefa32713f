"""The JSON-schema formats the STIX 2.1 schemas use, checked as the STIX specification means them.

fastjsonschema's built-in format regexes are not these: its `idn-hostname` allows at most three
labels (so `mail.example.co.uk`, and most phishing domains, were "invalid") and takes `_`; its
`uri` refuses `commail.co:5453/qqqzqa` (a valid RFC 3986 URI: scheme `commail.co`) and takes
`http://::1/` and non-ASCII text. These functions are handed to fastjsonschema.compile(formats=...):

- hostname: RFC 1123 (letters, digits, hyphens; labels 1-63, name at most 253; a trailing dot is
  the root label);
- idn-hostname: RFC 5890/5891 (IDNA 2008): an ASCII LDH name as above, or one whose A-labels and
  U-labels the `idna` package (the IDNA 2008 implementation) encodes;
- uri: RFC 3986 `URI` (scheme ":" hier-part, optional query and fragment; ASCII only,
  percent-escapes well formed, IPv6 only in brackets);
- email: RFC 5322 `addr-spec` (dot-atom or quoted local part; a hostname or an address literal as
  domain), lenient about dots in the local part (see is_email).

Each is one left-to-right pass or one anchored regex without nested quantifiers: values come from
untrusted POSTs, so no check may backtrack.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import idna

_LDH_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_HEXDIG = frozenset("0123456789abcdefABCDEF")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGIT = frozenset("0123456789")
_UNRESERVED = _ALPHA | _DIGIT | frozenset("-._~")
_SUB_DELIMS = frozenset("!$&'()*+,;=")
_PCHAR = _UNRESERVED | _SUB_DELIMS | frozenset(":@")  # plus pct-encoded
_QUERY = _PCHAR | frozenset("/?")  # query and fragment
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")
_ATEXT = _ALPHA | _DIGIT | frozenset("!#$%&'*+-/=?^_`{|}~")
MAX_HOSTNAME = 253


def _labels(value: str) -> list[str] | None:
    """The labels of a name (a trailing dot is the root and is dropped), or None if over length."""
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > MAX_HOSTNAME:
        return None
    return name.split(".")


def is_hostname(value: object) -> bool:
    """RFC 1123 host name: LDH labels of 1 to 63 characters, at most 253 in all."""
    if not isinstance(value, str):
        return True  # formats apply to strings only (JSON Schema); "type" checks the rest
    labels = _labels(value)
    return labels is not None and all(_LDH_LABEL.match(label) for label in labels)


def is_idn_hostname(value: object) -> bool:
    """RFC 5890 internationalized host name: LDH, or A-labels/U-labels valid under IDNA 2008."""
    if not isinstance(value, str):
        return True
    labels = _labels(value)
    if labels is None:
        return False
    # The fast path: plain LDH labels without the `??--` reserved for IDNA (xn--...), which only
    # the IDNA 2008 codec can vouch for (RFC 5891 section 5.4: an A-label must decode).
    if value.isascii() and all(_LDH_LABEL.match(label) and label[2:4] != "--" for label in labels):
        return True
    try:
        idna.encode(value)
    except (idna.IDNAError, UnicodeError, ValueError):
        return False
    return True


def _pct_ok(text: str, allowed: frozenset[str]) -> bool:
    """Every character is in `allowed` or part of a well-formed %XX escape."""
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "%":
            if i + 2 >= n or text[i + 1] not in _HEXDIG or text[i + 2] not in _HEXDIG:
                return False
            i += 3
        elif char in allowed:
            i += 1
        else:
            return False
    return True


_USERINFO = _UNRESERVED | _SUB_DELIMS | frozenset(":")
_REG_NAME = _UNRESERVED | _SUB_DELIMS
_IPVFUTURE_TAIL = _UNRESERVED | _SUB_DELIMS | frozenset(":")


def _host_ok(host: str) -> bool:
    if host.startswith("["):
        if not host.endswith("]"):
            return False
        inner = host[1:-1]
        if inner[:1] in ("v", "V"):  # IPvFuture: "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
            version, dot, rest = inner[1:].partition(".")
            return bool(version and dot and rest) and set(version) <= _HEXDIG and set(rest) <= _IPVFUTURE_TAIL
        if "%" in inner:  # zone identifiers are RFC 6874, not RFC 3986
            return False
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            return False
        return True
    # reg-name (IPv4address is one of its spellings): unreserved / pct-encoded / sub-delims
    return _pct_ok(host, _REG_NAME)


def _authority_ok(authority: str) -> bool:
    userinfo, at, hostport = authority.rpartition("@")
    if at and not _pct_ok(userinfo, _USERINFO):
        return False
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return False
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            return False
        port = rest[1:]
    else:
        host, _, port = hostport.partition(":")
    return _host_ok(host) and set(port) <= _DIGIT


def is_uri(value: object) -> bool:
    """RFC 3986 `URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ]`, ASCII only."""
    if not isinstance(value, str):
        return True
    if not value.isascii():
        return False  # an IRI (RFC 3987) is not a URI; STIX's url value is a URI
    scheme, colon, rest = value.partition(":")
    if not colon or not _SCHEME.match(scheme):
        return False
    rest, hash_, fragment = rest.partition("#")
    if hash_ and not _pct_ok(fragment, _QUERY):
        return False
    rest, question, query = rest.partition("?")
    if question and not _pct_ok(query, _QUERY):
        return False
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if not _authority_ok(authority):
            return False
        path = slash + path  # path-abempty
    else:
        path = rest  # path-absolute, path-rootless or path-empty: segments of pchar
    return _pct_ok(path, _PCHAR | frozenset("/"))


def _dot_atom(text: str, lenient_dots: bool) -> bool:
    if not text or not set(text) <= _ATEXT | frozenset("."):
        return False
    if lenient_dots:
        return any(c != "." for c in text)
    return not (text.startswith(".") or text.endswith(".") or ".." in text)


def _quoted_string(text: str) -> bool:
    """RFC 5322 quoted-string without folding white space: printable ASCII, `\\` quotes one."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return False
    i, inner = 0, text[1:-1]
    while i < len(inner):
        char = inner[i]
        if char == "\\":
            if i + 1 >= len(inner) or not (" " <= inner[i + 1] <= "~"):
                return False
            i += 2
        elif char == '"' or not (" " <= char <= "~"):
            return False
        else:
            i += 1
    return True


def is_email(value: object) -> bool:
    """RFC 5322 addr-spec: local-part "@" domain (RFC 5322 sets no length on the local part).

    Dots in a dot-atom local part are taken anywhere (`a..b@`, `a.@`): RFC 5322's obsolete syntax
    (obs-local-part) and real mailboxes use them (Japanese mobile carriers issued such addresses for
    years), and stix2-validator accepts them. The domain is a host name (international names
    allowed) or an address literal such as `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    """
    if not isinstance(value, str):
        return True
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return False
    if not (_dot_atom(local, lenient_dots=True) or _quoted_string(local)):
        return False
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        try:
            if literal[:5].lower() == "ipv6:":
                ipaddress.IPv6Address(literal[5:])
            else:
                ipaddress.IPv4Address(literal)
        except ValueError:
            return False
        return True
    return "." in domain.strip(".") and is_idn_hostname(domain) and not domain.endswith(".")


# What validate.py hands to fastjsonschema (and to jsonschema on its fallback path).
FORMATS: dict[str, Callable[[object], bool]] = {
    "hostname": is_hostname,
    "idn-hostname": is_idn_hostname,
    "uri": is_uri,
    "email": is_email,
    "idn-email": is_email,
}
