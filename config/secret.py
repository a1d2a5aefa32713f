"""Secrets never show themselves: a Secret setting hides its value, and a URL's credentials are
masked the same way wherever text leaves for a log."""

from __future__ import annotations

import re

MASK = "********"
# scheme://userinfo@ (greedy to the authority's last '@': a password may hold an unencoded one).
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#]*)@")


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _mask(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    # user:password keeps the user (the admin needs to know which); a lone token is all secret.
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def redact_urls(text: str) -> str:
    """`text` with the credentials of every URL in it (`scheme://user:password@host`) masked."""
    return _URL_USERINFO.sub(_mask, text) if "@" in text else text
