"""Account lifecycle shared by `cyberlab users` and the admin pages: invite, revoke, rotate.

A new key is returned once, to be handed to its owner; only its scrypt hash is stored. Revoking
or rotating takes effect at once on every worker (each request reads the account, and a cached
verification counts only for the stored key hash), and ends the account's web sessions (they
remember a fingerprint of the key hash and the account's session generation, which both bump).
"""

from __future__ import annotations

import re
from dataclasses import replace

from config.settings import ROLES
from cyberlab.auth.keys import generate_key, hash_key
from indexer.store.base import Account, Store
from indexer.timestamps import now_micros

# Names travel in HTTP Basic credentials (no ':') and in URLs and logs: keep them plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class AccountError(ValueError):
    """What was wrong with an account request, in words for the admin."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise AccountError(
            "an account name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    return name


def invite(store: Store, name: str, role: str) -> str:
    """Create an account; returns its API key (the only time it is visible)."""
    check_name(name)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if store.get_account(name) is not None:
        raise AccountError(f"an account named {name!r} already exists")
    key = generate_key()
    store.add_account(Account(name=name, role=role, key_hash=hash_key(key), created=now_micros()))
    return key


def existing(store: Store, name: str) -> Account:
    account = store.get_account(name)
    if account is None:
        raise AccountError(f"no account named {name!r}")
    return account


def revoke(store: Store, name: str) -> None:
    account = existing(store, name)
    if account.active:
        # A new session generation too: its web sessions end with the key.
        revoked = replace(account, revoked=now_micros(), session_generation=account.session_generation + 1)
        store.update_account(revoked)


def rotate(store: Store, name: str) -> str:
    """A new key for the account (the old one stops working), re-activating it if revoked."""
    account = existing(store, name)
    key = generate_key()
    store.update_account(
        replace(
            account, key_hash=hash_key(key), revoked=None, session_generation=account.session_generation + 1
        )
    )
    return key
