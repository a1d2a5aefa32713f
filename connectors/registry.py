"""Connector types by name: `type = "..."` in a [connectors.NAME] table picks one."""

from __future__ import annotations

from collections.abc import Callable

from config import ConnectorSettings
from connectors.base import Connector, SourceError
from connectors.misp_feed import MispFeedConnector
from connectors.soc.connector import SocConnector


def _misp(settings: ConnectorSettings) -> Connector:
    from connectors.misp_api import MispConnector  # imports PyMISP, which is slow to load

    return MispConnector(settings)


def _taxii(settings: ConnectorSettings) -> Connector:
    from connectors.taxii import TaxiiConnector

    return TaxiiConnector(settings)


CONNECTORS: dict[str, Callable[[ConnectorSettings], Connector]] = {
    "soc": SocConnector,
    "misp-feed": MispFeedConnector,
    "misp": _misp,
    "taxii": _taxii,
}


def build_connector(settings: ConnectorSettings) -> Connector:
    try:
        factory = CONNECTORS[settings.type]
    except KeyError:
        raise SourceError(
            f"connector {settings.name!r}: unknown type {settings.type!r}; types are {', '.join(CONNECTORS)}"
        ) from None
    return factory(settings)
