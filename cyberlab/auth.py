"""API keys (scrypt-hashed), callers of HTTP Basic and of web sessions, and collection access rules.

Every part of the server (TAXII, the JSON API, the web pages, exports) resolves its caller here:
HTTP Basic credentials through `Authenticator.caller`, the signed web session through
`Authenticator.web_caller`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import request, session
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from config import CollectionSettings, Settings
from config.settings import ROLES
from cyberlab.errors import TooManyRequests, Unauthorized
from cyberlab.failed_logins import FailedLogins
from indexer.store.base import SERVER, Account, Store
from indexer.tlp import TLP_ORDER

# scrypt cost: ~50 ms and 16 MiB per hash on these machines, so a stolen hash is costly to attack.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
KEY_PREFIX = "clk_"
# Verified credentials remembered per process (bounded: an attacker's guesses never enter it).
_CACHE_SIZE = 10_000


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


class LoginThrottle:
    """Failed logins per client address (HTTP Basic and the login form count together).

    Over the limit, a 429 answers before any scrypt runs: wrong keys can neither be guessed fast
    nor used to keep the CPU busy. Counts are shared by every worker: with memory:// in a SQLite
    file beside the store (cyberlab/failed_logins.py), otherwise in the limiter's storage (redis://).
    """

    def __init__(self, limit: str, storage: str, shared_file: Path | None = None) -> None:
        self._limit = parse_limit(limit)
        # memory:// would count per worker: count in a file every worker shares instead.
        self._shared = (
            FailedLogins(shared_file, self._limit)
            if shared_file is not None and storage.startswith("memory://")
            else None
        )
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage))

    def _retry_after(self, address: str) -> int | None:
        if self._shared is not None:
            return self._shared.retry_after(address)
        if self._limiter.test(self._limit, "failed-login", address):
            return None
        reset = self._limiter.get_window_stats(self._limit, "failed-login", address).reset_time
        return max(1, math.ceil(reset - time.time()))

    def check(self, address: str) -> None:
        wait = self._retry_after(address)
        if wait is None:
            return
        retry_after = str(wait)
        raise TooManyRequests(
            f"too many failed logins from your address ({self._limit}); retry after {retry_after} s",
            retry_after,
        )

    def failed(self, address: str) -> None:
        if self._shared is not None:
            self._shared.failed(address)
        else:
            self._limiter.hit(self._limit, "failed-login", address)


class Authenticator:
    """Resolves the caller of a request.

    scrypt is deliberately slow, far too slow to run on every TAXII page. After one successful
    check we remember HMAC(process secret, name, key) -> the stored hash that matched, in this
    process only. Every request still reads the account row and the entry counts only while the
    account is active with that very hash, so a revoked or rotated key fails at once on every
    worker. Unknown names and revoked accounts cost one scrypt like a wrong key does.
    """

    def __init__(self, store: Store, throttle: LoginThrottle | None = None) -> None:
        self._store = store
        self._throttle = throttle
        self._secret = secrets.token_bytes(32)
        self._verified: dict[bytes, str] = {}
        self._lock = threading.Lock()
        self.hashes_checked = 0  # scrypt runs, for tests and curiosity

    def caller(self) -> Caller:
        header = request.headers.get("Authorization")
        if not header:
            return ANONYMOUS
        name, key = parse_basic(header)
        account = self.authenticate(name, key)
        if account is None:
            raise Unauthorized("the user name or API key is wrong, or the key was revoked")
        return Caller(account.name, account.role)

    def authenticate(self, name: str, key: str) -> Account | None:
        """The active account these credentials open, or None; one scrypt unless remembered."""
        account = self._store.get_account(name)
        token = hmac.new(self._secret, f"{name}\0{key}".encode("utf-8", "replace"), "sha256").digest()
        with self._lock:
            remembered = self._verified.get(token)
            if remembered is not None and (account is None or remembered != account.key_hash):
                del self._verified[token]  # rotated or gone: forget it
                remembered = None
        if remembered is not None and account is not None and account.active:
            return account
        address = request.remote_addr or "-"
        if self._throttle is not None:
            self._throttle.check(address)
        self.hashes_checked += 1
        matches = verify_key(key, account.key_hash if account is not None else dummy_hash())
        if account is None or not account.active or not matches:
            if self._throttle is not None:
                self._throttle.failed(address)
            return None
        with self._lock:
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = account.key_hash
        return account

    # -- web sessions ---------------------------------------------------------------------------
    # A session remembers the account, a fingerprint of its key hash and its session generation:
    # rotating or revoking the key, or logging out anywhere, bumps what the cookie must match.
    def start_session(self, account: Account) -> None:
        session.clear()
        session.permanent = True
        session["user"], session["key"] = account.name, key_fingerprint(account.key_hash)
        session["gen"] = account.session_generation

    def end_session(self) -> None:
        caller = self.web_caller()
        if not caller.anonymous and caller.name is not None:
            self._store.end_sessions(caller.name)  # every cookie of the account, in every worker
        session.clear()

    def web_caller(self) -> Caller:
        name = session.get("user")
        if not name:
            return ANONYMOUS
        account = self._store.get_account(name)
        if (
            account is None
            or not account.active
            or session.get("key") != key_fingerprint(account.key_hash)
            or session.get("gen") != account.session_generation
        ):
            session.clear()
            return ANONYMOUS
        return Caller(account.name, account.role)


def build_authenticator(settings: Settings, store: Store) -> Authenticator:
    limits = settings.rate_limit
    throttle = None
    if limits.enabled and limits.failed_logins:
        shared = settings.store.data_dir / "failed-logins.db"
        throttle = LoginThrottle(limits.failed_logins, limits.storage, shared)
    return Authenticator(store, throttle)


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


# Roles that read only their own objects wherever they may write (the partner-sightings
# collection, and any collection an admin opens to partners' posts): a partner's name and what it
# saw or posted are for the city's analysts, not for the other partners (the anonymized counts of
# the pivot stay for everyone). Where such a role may only read, it reads everything it is cleared for.
OWN_OBJECTS_ONLY = ("partner",)


@dataclass(frozen=True)
class ReadScope:
    """What of a readable collection a caller sees: one rule for TAXII, exports and the pivot."""

    max_tlp_rank: int | None
    owner: str | None


def read_scope(caller: Caller, collection: CollectionSettings, sightings_collection: str) -> ReadScope:
    """The caller's scope in a collection it may read. sightings_collection: the id or alias of
    Settings.sightings_collection; there, and in every collection they may write to, partners read
    only their own objects."""
    own_only = caller.role in OWN_OBJECTS_ONLY and (
        sightings_collection in (collection.id, collection.alias) or caller.role in collection.write_roles
    )
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
