"""API keys (scrypt-hashed), HTTP Basic authentication and collection access rules."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from flask import request

from config import CollectionSettings
from config.settings import ROLES
from cyberlab.errors import TaxiiError
from indexer.store.base import SERVER, Account, Store
from indexer.tlp import TLP_ORDER

# scrypt cost: ~50 ms and 16 MiB per hash on these machines, so a stolen hash is costly to attack.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
KEY_PREFIX = "clk_"
REALM = 'Basic realm="CyberLab TAXII", charset="UTF-8"'


@dataclass(frozen=True)
class Caller:
    name: str | None  # None = anonymous
    role: str | None

    @property
    def anonymous(self) -> bool:
        return self.name is None


ANONYMOUS = Caller(None, None)


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


class Authenticator:
    """Resolves the caller of a request.

    scrypt is deliberately slow, far too slow to run on every TAXII page. After one successful
    check we remember (sha256 of name:key) -> the stored hash that matched, in this process only.
    Every request still reads the account row, so a revoked or rotated key fails at once.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._verified: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def caller(self) -> Caller:
        header = request.headers.get("Authorization")
        if not header:
            return ANONYMOUS
        name, key = _parse_basic(header)
        account = self._store.get_account(name)
        if account is None or not account.active or not self._check(name, key, account):
            raise unauthorized("the user name or API key is wrong, or the key was revoked")
        return Caller(account.name, account.role)

    def _check(self, name: str, key: str, account: Account) -> bool:
        token = hashlib.sha256(f"{name}:{key}".encode()).digest()
        with self._lock:
            if self._verified.get(token) == account.key_hash:
                return True
        if not verify_key(key, account.key_hash):
            return False
        with self._lock:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[token] = account.key_hash
        return True


def _parse_basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise unauthorized("use HTTP Basic authentication: your account name and API key")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized("the Basic credentials are not valid base64 of UTF-8 'name:key'") from None
    name, sep, key = decoded.partition(":")
    if not sep or not name:
        raise unauthorized("the Basic credentials must be 'name:key'")
    return name, key


def unauthorized(description: str) -> TaxiiError:
    return TaxiiError(401, "Unauthorized", description, {"WWW-Authenticate": REALM})


def can_read(caller: Caller, collection: CollectionSettings) -> bool:
    if collection.public:
        return True
    return caller.role == "admin" or (caller.role is not None and caller.role in collection.read_roles)


def can_write(caller: Caller, collection: CollectionSettings) -> bool:
    return caller.role == "admin" or (caller.role is not None and caller.role in collection.write_roles)


# The most restrictive TLP each role may see (ranks of indexer.tlp.TLP_ORDER): subscribers are
# businesses that got TLP:GREEN's "community" promise; partners and analysts are inside the circle.
TLP_CLEARANCE = {"subscriber": 1, "partner": 2, "analyst": 3, "admin": 4}


def tlp_clearance(caller: Caller) -> int:
    return TLP_CLEARANCE.get(caller.role or "", 0)


def max_tlp_rank(caller: Caller) -> int | None:
    """The TLP limit of a caller's reads (ObjectQuery.max_tlp_rank): None for those who see all."""
    clearance = tlp_clearance(caller)
    return None if clearance >= len(TLP_ORDER) - 1 else clearance


# Roles that read only their own objects in the partner-sightings collection: a partner's name
# and what it saw are for the city's analysts, not for the other partners (the anonymized
# counts of the pivot stay for everyone).
OWN_OBJECTS_ONLY = ("partner",)


@dataclass(frozen=True)
class ReadScope:
    """What of a readable collection a caller sees: one rule for TAXII, exports and the pivot."""

    max_tlp_rank: int | None
    owner: str | None


def read_scope(caller: Caller, collection: CollectionSettings, sightings_collection: str) -> ReadScope:
    """The caller's scope in a collection it may read. sightings_collection: the id or alias of
    Settings.sightings_collection, where partners read only their own objects."""
    own_only = caller.role in OWN_OBJECTS_ONLY and sightings_collection in (collection.id, collection.alias)
    return ReadScope(max_tlp_rank(caller), (caller.name or "") if own_only else None)


def write_owner(caller: Caller) -> str:
    """Who owns what a caller stores: admins act for the platform, everyone else for its account."""
    return SERVER if caller.role == "admin" else caller.name or ""


def readable_collections(
    caller: Caller, collections: Iterable[CollectionSettings]
) -> list[CollectionSettings]:
    return [c for c in collections if can_read(caller, c)]


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role
