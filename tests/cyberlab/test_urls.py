"""cyberlab.urls.site_url: the one definition of the address links are written with."""

from __future__ import annotations

from dataclasses import replace

from flask import Flask

from config import Settings
from cyberlab.urls import site_url


def test_the_configured_public_url_wins_over_the_request(settings: Settings) -> None:
    behind_proxy = replace(settings, server=replace(settings.server, public_url="https://cti.example.org/"))
    with Flask(__name__).test_request_context("/subscribe", base_url="http://10.0.0.5:8000"):
        assert site_url(behind_proxy) == "https://cti.example.org"


def test_without_one_links_follow_the_request(settings: Settings) -> None:
    plain = replace(settings, server=replace(settings.server, public_url=""))
    with Flask(__name__).test_request_context("/taxii2/", base_url="http://127.0.0.1:8123"):
        assert site_url(plain) == "http://127.0.0.1:8123"


def test_outside_a_request_the_bind_address(settings: Settings) -> None:
    # the digest mailer runs from the CLI: no request to take a host from
    plain = replace(settings, server=replace(settings.server, public_url="", bind="127.0.0.1:8999"))
    assert site_url(plain) == "http://127.0.0.1:8999"
