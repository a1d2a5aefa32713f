""" "Is this suspicious?": the observables in pasted text or an email, and a verdict for each.

Extraction. Free text goes through ioc-finder (PyPI `ioc-finder`): it is maintained (2026
releases; iocextract's last is from 2023), finds URLs, domains, IPv4/IPv6 addresses, email
addresses and MD5/SHA-1/SHA-256 hashes, and refangs what people and feeds defang (`hxxp://`,
`[.]`, `(dot)`, `[@]`) through its companion ioc-fanger. Emails (.eml uploads, or pasted text
that starts with headers) are parsed with the stdlib email package: it reads every MIME shape
without executing or fetching anything, which is all we need (eml-parser / mail-parser add
conveniences over the same parser, and dependencies, for no extra safety). From an email we take
the public IPs of its Received hops, the sender, reply-to, return-path and sender domains, the
links of its text and HTML bodies (href/src attributes read as text: nothing is ever fetched),
and the SHA-256 and MD5 of each attachment's bytes; attachments are never opened or stored.

Everything is attacker-written: inputs are capped (settings [check]), every value is validated
for its kind before any lookup, and nothing is kept unless the person reports a value.

Verdicts. known-bad: an exact value match among the indicators the caller may read, through a
store search carrying the caller's scope (collections it may read in full, TLP clearance;
anonymous callers: the public collections only). known-benign: the MISP warninglists and the
city's protected assets, exactly as the sanitizer (indexer/sanitize.py) applies them at ingest,
and addresses that are not on the public internet. unknown: neither.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlsplit

from flask_babel import gettext

from config import Settings
from cyberlab.auth.access import read_scope, readable_collections
from cyberlab.auth.caller import Caller
from cyberlab.auth.clearance import tlp_clearance
from indexer.sanitize import Sanitizer
from indexer.search.model import Hit, SearchQuery
from indexer.sightings import MAX_VALUE, LineRejected, classify
from indexer.store.base import Store
from indexer.timestamps import format_timestamp, now_micros

Verdict = Literal["known-bad", "known-benign", "unknown"]
COARSE = {"ipv4": "ip", "ipv6": "ip", "md5": "hash", "sha1": "hash", "sha256": "hash"}
_IOC_KEYS = {
    "urls": "url",
    "domains": "domain",
    "ipv4s": "ipv4",
    "ipv6s": "ipv6",
    "email_addresses": "email",
    "md5s": "md5",
    "sha1s": "sha1",
    "sha256s": "sha256",
}
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]{2,45})\]")
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,60}:[ \t]")
_EMAIL_HEADERS = ("received", "from", "to", "subject", "date", "message-id", "return-path", "reply-to")
_URL_SCHEMES = ("http", "https", "ftp")
_UNSAFE = re.compile(r"[\s<>\"'`\\^{}|\x00-\x1f\x7f]")


class InputTooLarge(ValueError):
    """The input is over a [check] cap; the message names the cap."""


@dataclass
class Observable:
    value: str
    type: str  # ipv4, ipv6, domain, url, email, md5, sha1, sha256
    found_in: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return COARSE.get(self.type, self.type)


@dataclass
class Extraction:
    observables: list[Observable] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)  # name, size, sha256, md5
    is_email: bool = False
    not_checked: int = 0  # values over check.max_values

    _index: dict[tuple[str, str], Observable] = field(default_factory=dict, repr=False)

    def add(self, value: str, declared: str, where: str) -> None:
        checked = validate(value, declared)
        if checked is None:
            return
        # A dict, not a scan: 100 kB of text can hold thousands of values.
        obs = self._index.get(checked)
        if obs is None:
            obs = self._index[checked] = Observable(checked[0], checked[1], [])
            self.observables.append(obs)
        if where not in obs.found_in:
            obs.found_in.append(where)


# -- validation ------------------------------------------------------------------------------
def validate(value: str, declared: str = "") -> tuple[str, str] | None:
    """(value, type) if `value` really is one of its kind, None if not (then it is not looked up)."""
    value = value.strip()
    if not value or len(value) > MAX_VALUE or _UNSAFE.search(value):
        return None
    if declared == "url":
        return _validate_url(value)
    if declared in ("md5", "sha1", "sha256"):
        value = value.lower()
    if declared == "domain":
        value = value.lower().rstrip(".")
    try:
        kind = classify(value, declared if declared not in ("ipv4", "ipv6") else "ip")
    except LineRejected:
        return None
    if kind == "url":
        return _validate_url(value)
    if kind == "email":
        local, _, domain = value.rpartition("@")
        return (f"{local}@{domain.lower()}", kind) if local else None
    return value, kind


def _validate_url(value: str) -> tuple[str, str] | None:
    if _UNSAFE.search(value):
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        return None
    if parts.scheme.lower() not in _URL_SCHEMES or not host:
        return None
    try:
        kind = classify(host.strip("[]"))
    except LineRejected:
        return None
    return (value, "url") if kind in ("ipv4", "ipv6", "domain") else None


# -- extraction --------------------------------------------------------------------------------
def looks_like_email(text: str) -> bool:
    """Pasted text that starts with mail headers (Received:, From:, Subject: ...)."""
    lines = text.lstrip("\ufeff\r\n").splitlines()[:40]
    names = [ln.split(":", 1)[0].lower() for ln in lines if _HEADER_LINE.match(ln)]
    return bool(lines) and bool(_HEADER_LINE.match(lines[0])) and len(set(names) & set(_EMAIL_HEADERS)) >= 2


def extract_text(text: str, settings: Settings, where: str = "the text") -> Extraction:
    limit = settings.check.max_text_bytes
    if len(text.encode("utf-8", "replace")) > limit:
        raise InputTooLarge(f"the text is over {limit:,} bytes, the most this check reads")
    if looks_like_email(text):
        return extract_email(text.encode("utf-8", "replace"), settings)
    found = Extraction()
    _iocs(found, text, where)
    return _capped(found, settings)


def extract_email(raw: bytes, settings: Settings) -> Extraction:
    limit = settings.check.max_eml_bytes
    if len(raw) > limit:
        raise InputTooLarge(f"the email is over {limit:,} bytes, the most this check reads")
    msg = message_from_bytes(raw, policy=policy.default)
    found = Extraction(is_email=True)
    for n, received in enumerate(msg.get_all("Received", []) or [], start=1):
        for address in _received_ips(str(received)):
            found.add(address, "", f"Received hop {n}")
    for header, label in (
        ("From", "sender"),
        ("Sender", "sender"),
        ("Reply-To", "reply-to"),
        ("Return-Path", "return-path"),
    ):
        for _name, address in getaddresses([str(v) for v in msg.get_all(header, []) or []]):
            if "@" not in address:
                continue
            found.add(address, "email", f"{label} address")
            found.add(address.rpartition("@")[2], "domain", f"{label} domain")
    text_budget = settings.check.max_text_bytes
    bodies: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            _hash_attachment(found, part, filename or "(no name)")
            continue
        if part.get_content_maintype() != "text":
            continue
        text = _decoded_text(part)[:text_budget]
        text_budget -= len(text)
        if part.get_content_subtype() == "html":
            links = _LinkCollector.collect(text)
            for link in links:
                found.add(link, "url", "a link in the email")
            text = _LinkCollector.text_of(text)
        bodies.append(text)
        if text_budget <= 0:
            break
    _iocs(found, "\n".join(bodies), "the email's text")
    return _capped(found, settings)


def _iocs(found: Extraction, text: str, where: str) -> None:
    from ioc_finder import find_iocs  # imported here: a few hundred ms of grammar set-up

    # Only what can be blocked; no file paths, phone numbers, ASNs or the like.
    results = find_iocs(text, included_ioc_types=list(_IOC_KEYS))
    for key, declared in _IOC_KEYS.items():
        for value in results.get(key, []):
            found.add(str(value), declared, where)


def _received_ips(header: str) -> list[str]:
    """The public addresses in a Received header (a private hop is the sender's own network)."""
    out = []
    for candidate in [*_IPV4.findall(header), *_IPV6.findall(header)]:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if address.is_global:
            out.append(str(address))
    return out


def _hash_attachment(found: Extraction, part: Message, name: str) -> None:
    # The bytes are decoded from their transfer encoding and hashed: never opened, never kept.
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()
    shown = name[:200]
    found.attachments.append({"name": shown, "size": len(data), "sha256": sha256, "md5": md5})
    found.add(sha256, "sha256", f"attachment {shown}")
    found.add(md5, "md5", f"attachment {shown}")


def _decoded_text(part: Message) -> str:
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else part.get_payload()
    except (LookupError, ValueError, AssertionError):  # unknown charset, broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


class _LinkCollector(HTMLParser):
    """href/src values and the visible text of HTML, read as text: nothing is fetched or run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action") and value:
                self.links.append(value.strip())

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @classmethod
    def collect(cls, html: str) -> list[str]:
        parser = cls()
        parser.feed(html)
        return parser.links

    @classmethod
    def text_of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return " ".join(parser.text)


def _capped(found: Extraction, settings: Settings) -> Extraction:
    cap = settings.check.max_values
    if len(found.observables) > cap:
        found.not_checked = len(found.observables) - cap
        found.observables = found.observables[:cap]
    return found


# -- verdicts --------------------------------------------------------------------------------
def lookup_collections(caller: Caller, settings: Settings) -> tuple[str, ...]:
    """Where a caller's known-bad answers come from: the collections it reads in full (a partner
    reads only its own objects in the sightings collection, so that one is not searched)."""
    return tuple(
        c.id
        for c in readable_collections(caller, settings.collections.values())
        if read_scope(caller, c, settings.sightings_collection).owner is None
    )


def verdicts(
    found: Extraction, caller: Caller, settings: Settings, store: Store, sanitizer: Sanitizer
) -> list[dict[str, Any]]:
    collections = lookup_collections(caller, settings)
    now = now_micros()
    answers = []
    for obs in found.observables:
        hits: list[Hit] = []
        if collections:
            query = SearchQuery(
                collections=collections,
                max_tlp=tlp_clearance(caller),
                types=("indicator",),
                values=(obs.value,),
                limit=20,
            )
            hits = [h for h in store.search(query).hits if _exactly(h, obs)]
        answers.append(_answer(obs, hits, sanitizer, settings, now))
    return answers


def _exactly(hit: Hit, obs: Observable) -> bool:
    # A search answers by indicator; only one whose own value is this one counts (case folded
    # for domains, hashes and emails, as the store's exact-value key is).
    return any(v.get("value", "").lower() == obs.value.lower() for v in hit.values)


def _answer(
    obs: Observable, hits: list[Hit], sanitizer: Sanitizer, settings: Settings, now: int
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "value": obs.value,
        "kind": obs.kind,
        "type": obs.type,
        "found_in": obs.found_in,
    }
    live = [h for h in hits if not h.revoked]
    if live:
        newest = max(live, key=lambda h: h.last_seen or 0)
        sources = sorted({s for h in live for s in h.sources})
        titles = sorted({c.title for h in live if (c := settings.collection(h.collection)) is not None})
        last = format_timestamp(newest.last_seen)[:10] if newest.last_seen else "unknown"
        expired = all(h.valid_until is not None and h.valid_until < now for h in live)
        by = ", ".join(sources) if sources else gettext("the city")
        entry.update(
            verdict="known-bad",
            sources=sources,
            collections=titles,
            last_seen=last,
            indicators=[f"/indicators/{h.id}" for h in live[:5]],
            why=gettext(
                "Known bad: reported by %(by)s (in %(collections)s); last seen %(last)s.",
                by=by,
                collections=", ".join(titles),
                last=last,
            ),
            advice=gettext("Not seen recently: watch your logs for it; blocking it is optional.")
            if expired
            else _block_advice(obs.kind),
        )
        return entry
    reason = sanitizer.check(_sanitizer_kind(obs), obs.value)
    if reason in ("warninglist", "protected-asset", "non-public-address"):
        why = {
            "warninglist": gettext(
                "Known benign: it is on a MISP warninglist of well-known, legitimate "
                "services (the lists CyberLab uses to keep false alarms out of its feeds)."
            ),
            "protected-asset": gettext("Known benign: it belongs to the city itself."),
            "non-public-address": gettext(
                "Known benign: a private or reserved address, not one on the internet."
            ),
        }[reason]
        entry.update(verdict="known-benign", why=why, advice=gettext("Nothing to do about this value."))
        return entry
    withdrawn = " " + gettext("It was listed once, and withdrawn.") if hits else ""
    entry.update(
        verdict="unknown",
        why=gettext("Unknown: not in any feed you may see, and not on a list of well-known services.")
        + withdrawn,
        advice=gettext(
            "Unknown is not safe: if the message was unexpected or asks for a payment, a password "
            "or a click, do not act on it. Logged-in users can report it to the city's analysts."
        ),
    )
    return entry


def _block_advice(kind: str) -> str:
    """What a shop does with a known-bad value, by where it is blocked (in the reader's language)."""
    if kind == "ip":
        where = gettext("Block it in your firewall, and check your logs for past contact.")
    elif kind == "domain":
        where = gettext("Block it in your DNS filter, and check your logs for past contact.")
    elif kind == "url":
        where = gettext("Block it in your web proxy or DNS filter, and check your logs for past contact.")
    elif kind == "email":
        where = gettext("Block it in your mail filter, and check your logs for past contact.")
    elif kind == "hash":
        where = gettext(
            "Block it in your antivirus or endpoint protection, and check your logs for past contact."
        )
    else:
        where = gettext("Block it in your security tools, and check your logs for past contact.")
    return f"{gettext('Do not open or visit it.')} {where}"


def _sanitizer_kind(obs: Observable) -> str:
    return obs.kind  # ip, domain, url, email, hash: the sanitizer's kinds


def answer_document(found: Extraction, results: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    return {
        "results": results,
        "count": len(results),
        "not_checked": found.not_checked,
        "email": found.is_email,
        "attachments": found.attachments,
        "stored": False,
        "note": "Nothing you sent was stored: only a value you report is kept.",
        "limits": {
            "max_text_bytes": settings.check.max_text_bytes,
            "max_eml_bytes": settings.check.max_eml_bytes,
            "max_values": settings.check.max_values,
        },
    }
