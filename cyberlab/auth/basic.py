"""The HTTP Basic Authorization header (RFC 7617), read as leniently as clients spell it."""

from __future__ import annotations

import base64
import binascii

from cyberlab.errors import Unauthorized


def parse_basic(header: str) -> tuple[str, str]:
    """(name, key) of an HTTP Basic header, however its scheme is spelt or spaced."""
    scheme, _, value = header.strip().partition(" ")
    if "\t" in scheme:  # any run of blanks separates the scheme, as in `Basic\t ...`
        scheme, _, rest = scheme.partition("\t")
        value = rest + " " + value
    if scheme.lower() != "basic" or not value.strip():
        raise Unauthorized("use HTTP Basic authentication: your account name and API key")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("the Basic credentials are not valid base64 of UTF-8 'name:key'") from None
    name, sep, key = decoded.partition(":")
    if not sep or not name:
        raise Unauthorized("the Basic credentials must be 'name:key'")
    return name, key
