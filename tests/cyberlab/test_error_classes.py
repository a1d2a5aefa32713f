"""HTTP errors named by class: each carries its status and default title, and every call site uses
them (the bodies they render are pinned over real HTTP in test_taxii_errors.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cyberlab.errors import (
    REALM,
    BadRequest,
    ClientError,
    Conflict,
    Forbidden,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("cls", "status", "title"),
    [
        (BadRequest, 400, "Bad request"),
        (Unauthorized, 401, "Unauthorized"),
        (Forbidden, 403, "Forbidden"),
        (NotFound, 404, "Not found"),
        (NotAcceptable, 406, "Not Acceptable"),
        (Conflict, 409, "Conflict"),
        (PayloadTooLarge, 413, "Too large"),
        (UnsupportedMediaType, 415, "Unsupported Media Type"),
        (Unprocessable, 422, "Unprocessable"),
    ],
)
def test_each_class_carries_its_status_and_default_title(
    cls: type[ClientError], status: int, title: str
) -> None:
    exc = cls("what went wrong")
    assert (exc.status, exc.title, exc.description) == (status, title, "what went wrong")
    named = cls("why", title="Collection not found")
    assert (named.status, named.title) == (status, "Collection not found")


def test_unauthorized_challenges_unless_told_not_to() -> None:
    assert Unauthorized("who are you?").headers == {"WWW-Authenticate": REALM}
    # The web admin page: a Basic challenge would open the browser's own login dialog.
    assert Unauthorized("log in", "Log in first", headers={}).headers == {}


def test_too_many_requests_says_when_to_retry() -> None:
    exc = TooManyRequests("slow down", "17")
    assert (exc.status, exc.title, exc.headers) == (429, "Too Many Requests", {"Retry-After": "17"})


def test_no_call_site_spells_a_status_by_hand() -> None:
    literal = re.compile(r"TaxiiError\(\s*\d")  # \s*: also TaxiiError(\n    404, ...
    found = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in sorted((ROOT / "cyberlab").rglob("*.py"))
        if path != ROOT / "cyberlab" / "errors.py"
        for text in [path.read_text()]
        for match in literal.finditer(text)
    ]
    assert not found, f"use the status classes of cyberlab.errors: {found}"
