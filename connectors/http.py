"""One HTTP session for every connector: timeouts, and retries on 429/5xx that honour Retry-After."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

TIMEOUT = (10, 120)  # connect, read (seconds)
USER_AGENT = "CyberLab/0.1 (+threat-sharing connector)"


def retry_adapter(retries: int = 5, backoff: float = 1.0) -> HTTPAdapter:
    """Retries on 429 and 5xx, waiting as long as Retry-After asks (else exponential backoff)."""
    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "POST", "HEAD"}),  # MISP restSearch is a POST that reads
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    return HTTPAdapter(max_retries=retry)


def use_retries(session: requests.Session) -> requests.Session:
    adapter = retry_adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def make_session(verify: bool = True) -> requests.Session:
    session = requests.Session()
    adapter = retry_adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.verify = verify
    return session
