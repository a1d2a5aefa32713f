"""The email digest: what is new and still worth blocking, mailed to each subscribed account.

`cyberlab digest send` (and `cyberlab worker` every digest.schedule seconds) looks at every
subscription that is due (daily or weekly since its last digest SMTP accepted) and mails:
counts by kind, the top items with plain-language advice, and the whole list as a CSV
attachment written by the blocklist export code (cyberlab/api/exports.py).

Reads follow the account's clearance: every object comes from a store query carrying the
account's read scope (cyberlab.auth.access.read_scope), in collections it may read today (a role
changed since it subscribed narrows what it gets at once).

Delivery is at most once per item: the account's DigestState (how far its last digest went, by
date_added) advances only after the SMTP server accepted the message. A server that is down or
refuses the recipient is logged, nothing is recorded, and the next run sends the same items
again, with the same Message-ID so a mailbox that got it after all can drop the copy.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import smtplib
import ssl
from collections import Counter
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from config import Settings
from cyberlab.api.exports import Entry, entries, is_current, render_blocklist
from cyberlab.auth.access import can_read, read_scope
from cyberlab.auth.caller import Caller
from cyberlab.i18n import install_in, translations
from cyberlab.urls import site_url
from indexer.store.base import DigestState, DigestSubscription, Keyset, ObjectQuery, Store
from indexer.timestamps import format_timestamp, now_micros

log = logging.getLogger(__name__)

DAY = 86_400_000_000
PERIODS = {"daily": DAY, "weekly": 7 * DAY}
# A digest is due a little before its full period, so a worker that looks every hour does not
# push a daily digest an hour later each day.
SLACK = 3_600_000_000
_PAGE = 2000
KIND_NAMES = {
    "ip": "IP addresses",
    "cidr": "networks",
    "domain": "domains",
    "url": "web addresses (URLs)",
    "hash": "file hashes",
}
Outcome = Literal["sent", "dry-run", "nothing-new", "not-due", "disabled", "failed", "no-access"]


# -- the unsubscribe link -------------------------------------------------------------------
class UnsubscribeTokens:
    """A link that unsubscribes one account, without logging in.

    HMAC over (account, purpose) with a key derived from server.signing_key for this purpose
    only: itsdangerous with its own salt, so a TAXII `next` token or a session cookie (other keys,
    other salts) is never accepted as one, nor one of these as them."""

    PURPOSE = "cyberlab-digest-unsubscribe"

    def __init__(self, signing_key: str) -> None:
        self._serializer = URLSafeSerializer(signing_key, salt=self.PURPOSE)

    def issue(self, account: str) -> str:
        return self._serializer.dumps({"a": account, "p": "unsubscribe"})

    def account(self, token: str) -> str | None:
        """The account a genuine token names, None for anything else."""
        try:
            data = self._serializer.loads(token)
        except BadSignature:
            return None
        if not isinstance(data, dict) or data.get("p") != "unsubscribe" or not isinstance(data.get("a"), str):
            return None
        return str(data["a"])


# -- what goes in a digest ------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    value: str
    kind: str
    name: str
    sources: tuple[str, ...]
    last_seen: str
    advice: str
    indicator_id: str
    weight: tuple[int, int, str]  # how high it ranks: sources, confidence, modified


@dataclass
class Digest:
    account: str
    since: int
    up_to: int
    items: list[Item] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def counts(self) -> list[tuple[str, int]]:
        return [(KIND_NAMES.get(k, k), n) for k, n in self.kind_counts]

    @property
    def kind_counts(self) -> list[tuple[str, int]]:
        return sorted(Counter(i.kind for i in self.items).items())


def advice_for(kind: str, language: str = "en") -> str:
    tr = translations(language)
    if kind in ("ip", "cidr"):
        return tr.gettext("Block it in your firewall, and check your logs for past contact.")
    if kind == "domain":
        return tr.gettext("Block it in your DNS filter, and check your logs for past contact.")
    if kind == "url":
        return tr.gettext("Block it in your web proxy or DNS filter, and check your logs for past contact.")
    if kind == "hash":
        return tr.gettext(
            "Block it in your antivirus or endpoint protection, and check your logs for past contact."
        )
    return tr.gettext("Block it in your security tools, and check your logs for past contact.")


def kind_names(language: str) -> dict[str, str]:
    """The digest's counts, 'IP addresses: 12', in the mail's language."""
    tr = translations(language)
    return {
        "ip": tr.gettext("IP addresses"),
        "cidr": tr.gettext("networks"),
        "domain": tr.gettext("domains"),
        "url": tr.gettext("web addresses (URLs)"),
        "hash": tr.gettext("file hashes"),
    }


@cache
def _templates(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "web" / "templates"),
        autoescape=select_autoescape(["html"]),  # every value in the HTML mail is inert text
        extensions=["jinja2.ext.i18n"],
    )
    install_in(env, language)
    return env


def build_digest(
    settings: Settings, store: Store, account: str, role: str, sub: DigestSubscription, since: int, up_to: int
) -> Digest | None:
    """What is new in (since, up_to] in the subscription's collections that the account may read,
    as its read scope lets it see it. None when it may read none of them."""
    caller = Caller(account, role)
    digest = Digest(account, since, up_to)
    now = now_micros()
    seen: set[tuple[str, str]] = set()
    readable = [
        c for cid in sub.collections if (c := settings.collection(cid)) is not None and can_read(caller, c)
    ]
    if not readable:
        return None
    for collection in readable:
        scope = read_scope(caller, collection, settings.sightings_collection)
        after: Keyset | None = None
        while True:
            page = store.query(
                ObjectQuery(
                    collection.id,
                    types=("indicator",),
                    added_after=since,
                    after=after,
                    limit=_PAGE,
                    max_tlp_rank=scope.max_tlp_rank,
                    owner=scope.owner,
                )
            )
            for stored in page.objects:
                if stored.date_added > up_to:  # added during this run: the next digest has it
                    continue
                indicator = orjson.loads(stored.body)
                if not is_current(indicator, now):
                    continue
                for entry in entries(indicator):
                    if (entry.kind, entry.value) in seen:
                        continue
                    seen.add((entry.kind, entry.value))
                    digest.entries.append(entry)
                    digest.items.append(_item(entry, indicator))
            if not page.more or not page.objects:
                break
            after = page.objects[-1].keyset
    digest.items.sort(key=lambda i: i.weight, reverse=True)
    return digest


def _item(entry: Entry, indicator: dict[str, Any]) -> Item:
    sources = tuple(
        r["source_name"]
        for r in indicator.get("external_references", [])
        if isinstance(r, dict) and "source_name" in r
    )
    confidence = indicator.get("confidence")
    return Item(
        value=entry.value,
        kind=entry.kind,
        name=str(indicator.get("name") or ""),
        sources=sources,
        last_seen=str(indicator.get("modified", ""))[:10],
        advice=advice_for(entry.kind),
        indicator_id=str(indicator.get("id", "")),
        weight=(
            len(sources),
            confidence if isinstance(confidence, int) else 0,
            str(indicator.get("modified", "")),
        ),
    )


def defang(value: str) -> str:
    """A value a mail client will not turn into a link: the shop owner must not click it."""
    return value.replace("http", "hxxp", 1).replace(".", "[.]").replace("@", "[@]")


# -- the message -------------------------------------------------------------------------------
def compose(settings: Settings, sub: DigestSubscription, digest: Digest) -> EmailMessage:
    token = UnsubscribeTokens(settings.server.signing_key.reveal()).issue(sub.account)
    unsubscribe = f"{site_url(settings)}/digest/unsubscribe/{token}"
    language = settings.digest.language
    names = kind_names(language)
    top = [replace(i, advice=advice_for(i.kind, language)) for i in digest.items[: settings.digest.top_items]]
    day = format_timestamp(digest.up_to)[:10]
    context = {
        "platform": settings.platform_name,
        "account": sub.account,
        "day": day,
        "since": format_timestamp(digest.since)[:10],
        "counts": [(names.get(k, k), n) for k, n in digest.kind_counts],
        "lang": language,
        "total": len(digest.items),
        "top": top,
        "defang": defang,
        "base": site_url(settings),
        "unsubscribe": unsubscribe,
        "frequency": sub.frequency,
    }
    msg = EmailMessage()
    msg["Subject"] = f"{settings.platform_name}: {len(digest.items)} new to block ({day})"
    msg["From"] = settings.digest.from_address
    msg["To"] = sub.address
    msg["Date"] = formatdate(localtime=False)
    # The same digest (account, up_to) always has the same id: a resend after a lost answer dedupes.
    same = hashlib.sha256(f"{sub.account}|{digest.since}|{digest.up_to}".encode()).hexdigest()[:24]
    msg["Message-ID"] = f"<digest-{same}@{settings.digest.from_address.rpartition('@')[2] or 'cyberlab'}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    msg["Auto-Submitted"] = "auto-generated"
    templates = _templates(language)
    msg.set_content(templates.get_template("digest_email.txt").render(context))
    if sub.html:
        msg.add_alternative(templates.get_template("digest_email.html").render(context), subtype="html")
    msg.add_attachment(
        render_blocklist(digest.entries, "csv"),
        maintype="text",
        subtype="csv",
        filename=f"blocklist-{day}.csv",
    )
    return msg


def deliver(settings: Settings, msg: EmailMessage) -> None:
    """Hand one message to the SMTP server; raises smtplib.SMTPException or OSError if it is not
    accepted (connection refused, timeout, recipient refused)."""
    cfg = settings.digest
    with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
        smtp.ehlo()
        if cfg.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if cfg.user:
            if not cfg.starttls and not _loopback(cfg.host):
                raise smtplib.SMTPException(
                    "refusing to send the SMTP password unencrypted: set digest.starttls"
                )
            smtp.login(cfg.user, cfg.password.reveal())
        smtp.send_message(msg)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# -- one run -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunLine:
    account: str
    outcome: Outcome
    items: int = 0
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.account}: {self.outcome}, {self.items} item(s){extra}"


def send_due(
    settings: Settings, store: Store, dry_run: bool = False, force: bool = False, now: int | None = None
) -> list[RunLine]:
    """Send every digest that is due (force: every enabled one, whatever its schedule)."""
    now = now or now_micros()
    lines = []
    for sub in store.list_digest_subscriptions():
        try:
            lines.append(_send_one(settings, store, sub, dry_run, force, now))
        except Exception as exc:  # one account's failure never stops the others' digests
            log.exception("digest.crashed account=%s", sub.account)
            lines.append(RunLine(sub.account, "failed", detail=type(exc).__name__))
    return lines


def _send_one(
    settings: Settings, store: Store, sub: DigestSubscription, dry_run: bool, force: bool, now: int
) -> RunLine:
    account = store.get_account(sub.account)
    if not sub.enabled or account is None or not account.active:
        return RunLine(sub.account, "disabled")
    period = PERIODS.get(sub.frequency, DAY)
    state = store.get_digest_state(sub.account)
    if state is not None and not force and now - state.sent_at < period - SLACK:
        return RunLine(sub.account, "not-due")
    since = state.up_to if state is not None else now - period
    up_to = max((store.newest_date_added(cid) for cid in sub.collections), default=0)
    digest = build_digest(settings, store, account.name, account.role, sub, since, up_to)
    if digest is None:
        return RunLine(sub.account, "no-access", detail="no collection of this subscription is readable")
    if not digest.items:
        if not dry_run and up_to > since:  # nothing to block in there: no need to read it again
            store.save_digest_state(DigestState(sub.account, up_to, state.sent_at if state else 0))
        return RunLine(sub.account, "nothing-new")
    msg = compose(settings, sub, digest)
    if dry_run:
        return RunLine(sub.account, "dry-run", len(digest.items), f"would mail {sub.address}")
    try:
        deliver(settings, msg)
    except (smtplib.SMTPException, OSError) as exc:
        # Nothing recorded: the next run sends these items again.
        log.error("digest.failed account=%s error=%s", sub.account, _describe(exc))
        return RunLine(sub.account, "failed", len(digest.items), _describe(exc))
    store.save_digest_state(DigestState(sub.account, max(up_to, since), now))
    log.info("digest.sent account=%s items=%d", sub.account, len(digest.items))
    return RunLine(sub.account, "sent", len(digest.items))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = ", ".join(f"{code} {msg!r}" for code, msg in exc.recipients.values())
        return f"recipient refused: {codes}"
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        return f"SMTP {exc.smtp_code} {error.decode(errors='replace') if isinstance(error, bytes) else error}"
    return f"{type(exc).__name__}: {exc}"
