"""Web-session callers: the signed cookie of someone who logged in with name and API key.

A session remembers the account, a fingerprint of its key hash and its session generation:
rotating or revoking the key, or logging out anywhere, bumps what the cookie must match.
"""

from __future__ import annotations

from flask import session

from cyberlab.auth.caller import ANONYMOUS, Caller
from cyberlab.auth.keys import key_fingerprint
from indexer.store.base import Account, Store


class Sessions:
    def __init__(self, store: Store) -> None:
        self._store = store

    def start(self, account: Account) -> None:
        session.clear()
        session.permanent = True
        session["user"], session["key"] = account.name, key_fingerprint(account.key_hash)
        session["gen"] = account.session_generation

    def end(self) -> None:
        caller = self.caller()
        if not caller.anonymous and caller.name is not None:
            self._store.end_sessions(caller.name)  # every cookie of the account, in every worker
        session.clear()

    def caller(self) -> Caller:
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
