"""Stateless `next` tokens: an HMAC-signed keyset position bound to one query.

Any worker, process or machine holding the same signing key can continue a page another one
started; nothing is kept in memory between requests. A token is bound to the collection and the
filters it was issued for, so it cannot be replayed against another query or collection.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from cyberlab.errors import BadRequest
from indexer.store.base import Keyset

_SIG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    def __init__(self, signing_key: str) -> None:
        self._key = hashlib.sha256(b"cyberlab-next-token:" + signing_key.encode()).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIG_BYTES]

    def issue(self, position: Keyset, query_fingerprint: str) -> str:
        return self.issue_values([position.date_added, position.id, position.version], query_fingerprint)

    def issue_values(self, position: list[Any], query_fingerprint: str) -> str:
        """A token for any JSON-able position (the search API's cursors use this too)."""
        payload = orjson.dumps([*position, query_fingerprint])
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def open(self, token: str, query_fingerprint: str) -> Keyset:
        """The position a token points at; 400 if it was tampered with or belongs to another query."""
        try:
            date_added, obj_id, version = self.open_values(token, query_fingerprint)
            return Keyset(int(date_added), str(obj_id), int(version))
        except (ValueError, TypeError):
            raise _bad_token("its content is malformed") from None

    def open_values(self, token: str, query_fingerprint: str) -> list[Any]:
        try:
            encoded_payload, encoded_sig = token.split(".")
            payload, signature = _unb64(encoded_payload), _unb64(encoded_sig)
        except (ValueError, binascii.Error):
            raise _bad_token("it is not a token this server issued") from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise _bad_token("its signature does not match (tampered, or signed with another key)")
        try:
            *position, fingerprint = orjson.loads(payload)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            raise _bad_token("its content is malformed") from None
        if fingerprint != query_fingerprint:
            raise _bad_token("it was issued for a different collection or different filters")
        return list(position)


def _bad_token(why: str) -> BadRequest:
    return BadRequest(f"the 'next' value is not valid: {why}", title="Invalid next parameter")
