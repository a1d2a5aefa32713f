"""API keys: random tokens, shown once, stored only as scrypt hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# scrypt cost: ~50 ms and 16 MiB per hash on these machines, so a stolen hash is costly to attack.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
KEY_PREFIX = "clk_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_key(key: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            key.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(digest.hex(), expected)


_dummy_hash: str | None = None


def dummy_hash() -> str:
    """A hash of no key, at the same cost as real ones: what unknown names are checked against,
    so a wrong key costs the same whether or not the account exists (no account oracle)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_key(secrets.token_urlsafe(32))
    return _dummy_hash


def key_fingerprint(key_hash: str) -> str:
    return hashlib.sha256(key_hash.encode()).hexdigest()[:16]
