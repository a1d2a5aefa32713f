"""X-Forwarded-For and X-Forwarded-Proto, believed only from configured reverse proxies.

Behind nginx every TCP peer is 127.0.0.1, so per-address limits would lump all clients together;
but a client talking to gunicorn directly could pick its own address with the header. Only when
the peer is one of server.trusted_proxies does werkzeug's ProxyFix rewrite the client address
(from the last server.proxy_hops entries of the header, the ones the proxies appended).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

WsgiApp = Any  # a WSGI callable (werkzeug's own type is private)


class TrustedProxies:
    def __init__(self, app: WsgiApp, proxies: Iterable[str], hops: int) -> None:
        self._app = app
        self._fixed = ProxyFix(app, x_for=hops, x_proto=hops)
        self._networks = [ipaddress.ip_network(p, strict=False) for p in proxies]

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self._trusted(environ.get("REMOTE_ADDR", "")):
            return self._fixed(environ, start_response)
        return self._app(environ, start_response)


def install(app: Any, proxies: tuple[str, ...], hops: int) -> None:
    """Wrap the Flask app's WSGI callable when any proxy is trusted (otherwise headers are ignored)."""
    if proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, proxies, max(1, hops))
