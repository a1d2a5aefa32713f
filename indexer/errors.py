"""Errors raised by the indexer and its stores."""

from config.errors import CyberlabError


class StoreError(CyberlabError):
    """The store could not be read or written."""


class InvalidObjectError(CyberlabError):
    """An object is not valid STIX 2.1 or breaks a collection's rules."""
