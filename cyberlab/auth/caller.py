"""The caller of a request: every access rule takes one explicitly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    name: str | None  # None = anonymous
    role: str | None

    @property
    def anonymous(self) -> bool:
        return self.name is None


ANONYMOUS = Caller(None, None)
