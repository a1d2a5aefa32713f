"""Helpers of the small-business tests (digest, check): web logins, indicators, a real SMTP server.

The SMTP server is aiosmtpd on 127.0.0.1: the digest really speaks SMTP to it, and the tests
parse what arrived with the stdlib email package.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from indexer.normalize.common import indicator_id, pattern_for, source_reference
from indexer.tlp import MARKING_FOR_LEVEL
from tests.conftest import LiveServer, free_port


def indicator(
    kind: str,
    value: str,
    tlp: str = "green",
    valid_until: str = "2099-01-01T00:00:00Z",
    revoked: bool = False,
    source: str = "City SOC",
    **extra: Any,
) -> dict[str, Any]:
    pattern = pattern_for(kind, value)
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(pattern) if not extra.pop("random_id", False) else f"indicator--{uuid.uuid4()}",
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-20T00:00:00.000Z",
        "name": f"Attacker {value}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
        "valid_until": valid_until,
        "object_marking_refs": [MARKING_FOR_LEVEL[tlp]],
        "external_references": [source_reference(source)],
        **extra,
    }
    if revoked:
        obj["revoked"] = True
    return obj


def login(server: LiveServer, role: str) -> requests.Session:
    session = requests.Session()
    token = csrf(session, f"{server.url}/login")
    response = session.post(
        f"{server.url}/login",
        data={"name": role, "key": server.keys[role], "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    return session


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


@dataclass
class Mailbox:
    """What the SMTP server accepted, and recipients it is told to refuse."""

    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.received.append(message_from_bytes(content, policy=policy.default))  # type: ignore[arg-type]
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on a free loopback port; stop() and start() again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "CYBERLAB_DIGEST__HOST": "127.0.0.1",
            "CYBERLAB_DIGEST__PORT": str(self.port),
            "CYBERLAB_DIGEST__FROM_ADDRESS": "digest@cyberlab.test",
        }
