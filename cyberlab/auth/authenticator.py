"""HTTP Basic callers: the API key checked once per process, failed logins throttled."""

from __future__ import annotations

import hmac
import math
import secrets
import threading
import time
from pathlib import Path

from flask import request
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from config import Settings
from cyberlab.auth.basic import parse_basic
from cyberlab.auth.caller import ANONYMOUS, Caller
from cyberlab.auth.failed_logins import FailedLogins
from cyberlab.auth.keys import dummy_hash, verify_key
from cyberlab.errors import TooManyRequests, Unauthorized
from indexer.store.base import Account, Store

# Verified credentials remembered per process (bounded: an attacker's guesses never enter it).
_CACHE_SIZE = 10_000


class LoginThrottle:
    """Failed logins per client address (HTTP Basic and the login form count together).

    Over the limit, a 429 answers before any scrypt runs: wrong keys can neither be guessed fast
    nor used to keep the CPU busy. Counts are shared by every worker: with memory:// in a SQLite
    file beside the store (cyberlab/auth/failed_logins.py), otherwise in the limiter's storage
    (redis://).
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
    """Resolves the caller of a request from its HTTP Basic credentials.

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
        """The active account these credentials open, or None; one scrypt unless remembered.
        The web login form checks its name and key here too."""
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


def build_authenticator(settings: Settings, store: Store) -> Authenticator:
    limits = settings.rate_limit
    throttle = None
    if limits.enabled and limits.failed_logins:
        shared = settings.store.data_dir / "failed-logins.db"
        throttle = LoginThrottle(limits.failed_logins, limits.storage, shared)
    return Authenticator(store, throttle)
