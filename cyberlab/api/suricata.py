"""Suricata rules for a collection's addresses, domains and http:// URLs (Suricata 6, 7 and 8).

One rule per value and protocol, each naming its indicator in `metadata`:

    alert ip [198.51.100.7] any <> $HOME_NET any (msg:"CyberLab exports ip 198.51.100.7"; ...)
    alert dns $HOME_NET any -> any any (msg:...; dns.query; dotprefix; content:".bad.example";
        nocase; endswith; ...)                          the name and its subdomains, as the RPZ zone
    alert tls $HOME_NET any -> any any (msg:...; flow:established,to_server; tls.sni; dotprefix;
        content:".bad.example"; nocase; endswith; ...)  the same name in a TLS client hello
    alert http $HOME_NET any -> any any (msg:...; flow:established,to_server; http.host;
        content:"bad.example"; bsize:11; http.uri.raw; content:"/x.php?a=1"; startswith; endswith; ...)

- sid: SID_BASE + SHA-256(indicator id, protocol, value) mod SID_SPAN, i.e. 9,000,000 to 9,999,999
  (sids of 1,000,000 and up are for local rules; Emerging Threats uses 2,000,000-2,999,999). A
  collision takes the next free sid, with the rules of older indicators placed first, so a new
  indicator never moves an existing rule's sid. rev: the indicator's `modified` in seconds since
  1970, so a rule changes only when its indicator does and suricata-update's diffs stay small.
- A value listed by several indicators gets one rule per protocol, from the oldest indicator.
- Escaping: values were checked at ingest and again by exports.exportable (IPs, LDH or A-label
  names, URLs without spaces or control characters), yet every byte of a `content` outside
  [A-Za-z0-9.-_~/?=&%+,@!*$#] is written in Suricata's |hex| notation (so `"` `;` `:` `|` `\\` and
  non-ASCII never appear raw), and `msg` keeps only printable ASCII with `\\` `"` `;` escaped.
- Limits: Suricata refuses a rule line over 8,191 bytes (DETECT_MAX_RULE_SIZE 8192); such a rule
  (a URL of a few thousand characters) is left out and counted in X-Entries-Left-Out, as are rules
  beyond the 1,000,000 sids of the range.
- Not written: hashes (Suricata matches file hashes with filemd5/filesha256 lists, not rules),
  URLs other than http:// (an https URL's path is encrypted: its host alone is not the indicator)
  and URLs whose host is an IPv6 literal.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from cyberlab.api.formats import Row
from indexer.timestamps import parse_timestamp

SID_BASE = 9_000_000
SID_SPAN = 1_000_000
MAX_RULE_BYTES = 8191  # Suricata's DETECT_MAX_RULE_SIZE (8192) holds the line and its terminator
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~/?=&%+,@!*$#")
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))  # what quote() leaves: printable ASCII


@dataclass(frozen=True)
class _Rule:
    proto: str  # ip, dns, tls, http: part of the sid's key
    value: str  # the value as listed (ip, domain or URL)
    indicator: dict[str, Any]
    body: str  # the rule without its sid and rev

    @property
    def key(self) -> str:
        return f"{self.indicator.get('id', '')}\x00{self.proto}\x00{self.value}"

    @property
    def age(self) -> tuple[int, str]:
        return (_micros(self.indicator.get("created")), str(self.indicator.get("id", "")))


def content(text: str) -> str:
    """`text` as the inside of a Suricata content string: bytes outside _PLAIN as |XX XX|."""
    out: list[str] = []
    run: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _PLAIN:
            if run:
                out.append("|" + " ".join(run) + "|")
                run = []
            out.append(chr(byte))
        else:
            run.append(f"{byte:02X}")
    if run:
        out.append("|" + " ".join(run) + "|")
    return "".join(out)


def _msg(text: str) -> str:
    printable = "".join(c if " " <= c <= "~" else "?" for c in text)
    return re.sub(r'([\\";])', r"\\\1", printable)


def _meta_word(text: str) -> str:
    # metadata is `key value, key value`: no comma, semicolon, space or quote inside a value
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", text)[:100] or "_"


def _day(stamp: Any) -> str:
    return str(stamp)[:10].replace("-", "_") if isinstance(stamp, str) and len(stamp) >= 10 else "1970_01_01"


def _micros(stamp: Any) -> int:
    try:
        return parse_timestamp(stamp) if isinstance(stamp, str) else 0
    except ValueError:
        return 0


def _rev(indicator: dict[str, Any]) -> int:
    seconds = _micros(indicator.get("modified") or indicator.get("created")) // 1_000_000
    return min(max(1, seconds), 2**32 - 1)  # Suricata's rev is an unsigned 32-bit number


def _options(collection: str, what: str, row: Row, match: str, classtype: str) -> str:
    ind = row.indicator
    metadata = ", ".join(
        (
            f"cyberlab_indicator {_meta_word(str(ind.get('id', '')))}",
            f"cyberlab_collection {_meta_word(collection)}",
            f"created_at {_day(ind.get('created'))}",
            f"updated_at {_day(ind.get('modified'))}",
        )
    )
    msg = _msg(f"CyberLab {collection} {what}")
    return f'msg:"{msg}"; {match}classtype:{classtype}; metadata:{metadata};'


def _a_label(domain: str) -> str:
    host = domain.lower().rstrip(".")
    return host if host.isascii() else host.encode("idna").decode("ascii")


def _rules_for(row: Row, collection: str) -> list[_Rule]:
    if row.kind in ("ip", "cidr"):
        opts = _options(collection, f"{row.kind} {row.value}", row, "", "misc-attack")
        return [_Rule("ip", row.value, row.indicator, f"alert ip [{row.value}] any <> $HOME_NET any ({opts}")]
    if row.kind == "domain":
        name = _a_label(row.value)
        suffix = f'dotprefix; content:"{content("." + name)}"; nocase; endswith; '
        dns = _options(collection, f"domain {name}", row, "dns.query; " + suffix, "bad-unknown")
        tls = _options(
            collection,
            f"domain {name} (TLS SNI)",
            row,
            "flow:established,to_server; tls.sni; " + suffix,
            "bad-unknown",
        )
        return [
            _Rule("dns", name, row.indicator, f"alert dns $HOME_NET any -> any any ({dns}"),
            _Rule("tls", name, row.indicator, f"alert tls $HOME_NET any -> any any ({tls}"),
        ]
    if row.kind == "url":
        return _http_rule(row, collection)
    return []


def _http_rule(row: Row, collection: str) -> list[_Rule]:
    parts = urlsplit(row.value)
    host = parts.hostname or ""
    if parts.scheme.lower() != "http" or not host or ":" in host:
        return []
    host = _a_label(host)
    # What a client sends on the request line: the path and query as written, non-ASCII
    # percent-encoded (as browsers do); http.uri.raw is that line's target before normalization.
    target = quote(parts.path or "/", safe=_URL_SAFE) + (
        "?" + quote(parts.query, safe=_URL_SAFE) if parts.query else ""
    )
    match = (
        f'flow:established,to_server; http.host; content:"{content(host)}"; bsize:{len(host)}; '
        f'http.uri.raw; content:"{content(target)}"; startswith; endswith; '
    )
    opts = _options(collection, f"url {host}", row, match, "bad-unknown")
    return [_Rule("http", row.value, row.indicator, f"alert http $HOME_NET any -> any any ({opts}")]


def rules(rows: Iterable[Row], collection: str) -> tuple[bytes, int]:
    """The rules file and how many rules were left out over MAX_RULE_BYTES."""
    chosen: dict[tuple[str, str], _Rule] = {}
    for row in rows:
        for rule in _rules_for(row, collection):
            seen = chosen.get((rule.proto, rule.value))
            if seen is None or rule.age < seen.age:
                chosen[(rule.proto, rule.value)] = rule
    taken: set[int] = set()
    lines: list[tuple[int, str]] = []
    left_out = 0
    for rule in sorted(chosen.values(), key=lambda r: (r.age, r.key)):
        if len(taken) == SID_SPAN:  # every sid of the range used: nothing more fits
            left_out += 1
            continue
        slot = int.from_bytes(hashlib.sha256(rule.key.encode()).digest()[:8], "big") % SID_SPAN
        while SID_BASE + slot in taken:  # linear probing to the next free sid
            slot = (slot + 1) % SID_SPAN
        line = f"{rule.body} sid:{SID_BASE + slot}; rev:{_rev(rule.indicator)};)"
        if len(line.encode()) > MAX_RULE_BYTES:
            left_out += 1
            continue
        taken.add(SID_BASE + slot)
        lines.append((SID_BASE + slot, line))
    header = [
        f"# CyberLab Suricata rules for {_meta_word(collection)}: {len(lines)} rules, sids {SID_BASE}-"
        f"{SID_BASE + SID_SPAN - 1}",
        "# Needs Suricata 6 or later (dns.query, tls.sni, dotprefix, http.uri.raw, bsize).",
    ]
    body = header + [line for _, line in sorted(lines)]
    return ("\n".join(body) + "\n").encode(), left_out
