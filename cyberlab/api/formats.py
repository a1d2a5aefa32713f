"""Blocklist formats the firewalls and DNS filters load: RPZ zone, hosts file, Zeek intel, EDL.

Every value reaching a writer was checked by exports.exportable (one well-formed IP, network,
domain, URL or hash, no control characters, no broad network), so nothing needs escaping: a domain
is LDH labels (or an IDN, written here as its A-label), an IP is an address. Each writer states its
own line limits.

- rpz: a DNS Response Policy Zone (RFC draft-vixie-dnsop-dns-rpz; BIND, Unbound, PowerDNS,
  Knot Resolver): `name CNAME .` (NXDOMAIN) for the domain and its subdomains, and
  `<reversed address>.rpz-ip CNAME .` for addresses and networks; a fixed SOA with the export's
  Last-Modified as serial. Checked with BIND's named-checkzone in the tests.
- hosts: `0.0.0.0 domain` lines (Pi-hole, /etc/hosts, AdGuard): domains only, no wildcards.
- zeek: the Zeek Intelligence Framework's input file: a `#fields` header, then tab-separated
  indicator, indicator_type (Intel::ADDR, Intel::SUBNET, Intel::DOMAIN, Intel::URL without its
  scheme, as Zeek's docs say, Intel::FILE_HASH), meta.source, meta.desc (the indicator id).
- edl: a Palo Alto / FortiGate external dynamic list: one entry per line, URLs without their
  scheme (PAN-OS URL lists refuse one), at most `limits.edl_lines` lines (PAN-OS: 50,000 entries in
  one IP or URL list on most models, 100,000 or more on some; FortiOS threat feeds: 131,072 per
  list), the rest left out and counted in the response header `X-Entries-Left-Out`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any, Protocol

ZEEK_TYPES = {
    "ip": "Intel::ADDR",
    "cidr": "Intel::SUBNET",
    "domain": "Intel::DOMAIN",
    "url": "Intel::URL",
    "hash": "Intel::FILE_HASH",
}
RPZ_ORIGIN = "rpz.cyberlab."


class Row(Protocol):
    """One exported value (exports.Entry): what every list format, Suricata rules included, reads."""

    @property
    def value(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def indicator(self) -> dict[str, Any]: ...

    @property
    def indicator_id(self) -> str: ...


def _a_label(domain: str) -> str:
    host = domain.lower().rstrip(".")
    return host if host.isascii() else host.encode("idna").decode("ascii")


def _scheme_less(url: str) -> str:
    return url.split("://", 1)[1] if "://" in url else url


def rpz(rows: Iterable[Row], serial: int) -> bytes:
    """An RPZ zone: NXDOMAIN for listed domains (and their subdomains), and for answers in listed
    addresses or networks (rpz-ip triggers)."""
    lines = [
        "$TTL 300",
        f"@ SOA localhost. hostmaster.localhost. {serial} 3600 600 86400 300",
        "@ NS localhost.",
    ]
    names: set[str] = set()
    for row in rows:
        if row.kind == "domain":
            host = _a_label(row.value)
            names.update((f"{host}", f"*.{host}"))
        elif row.kind in ("ip", "cidr"):
            names.add(_rpz_ip(row.value))
    lines += [f"{name} CNAME ." for name in sorted(names)]
    return ("\n".join(lines) + "\n").encode()


def _rpz_ip(value: str) -> str:
    network = ipaddress.ip_network(value, strict=False)
    if network.version == 4:
        octets = str(network.network_address).split(".")
        return f"{network.prefixlen}.{'.'.join(reversed(octets))}.rpz-ip"
    # IPv6: prefix length, then the eight 16-bit groups reversed, in hex without leading zeros
    # (the full form; RPZ's "zz" shorthand for a zero run is optional)
    groups = network.network_address.exploded.split(":")
    words = [format(int(g, 16), "x") for g in groups]
    return f"{network.prefixlen}.{'.'.join(reversed(words))}.rpz-ip"


def hosts(rows: Iterable[Row]) -> bytes:
    domains = sorted({_a_label(r.value) for r in rows if r.kind == "domain"})
    return "".join(f"0.0.0.0 {d}\n" for d in domains).encode()


def zeek(rows: Iterable[Row], source: str) -> bytes:
    lines = ["#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc"]
    seen: set[tuple[str, str]] = set()
    for row in sorted(rows, key=lambda r: (r.kind, r.value)):
        indicator = _scheme_less(row.value) if row.kind == "url" else row.value
        if row.kind == "domain":
            indicator = _a_label(indicator)
        key = (indicator, row.kind)
        if key in seen or row.kind not in ZEEK_TYPES:
            continue
        seen.add(key)
        lines.append("\t".join((indicator, ZEEK_TYPES[row.kind], source, row.indicator_id)))
    return ("\n".join(lines) + "\n").encode()


def _edl_entry(row: Row) -> str:
    if row.kind == "url":
        return _scheme_less(row.value)
    return _a_label(row.value) if row.kind == "domain" else row.value


def edl(rows: Iterable[Row], max_lines: int) -> tuple[bytes, int]:
    """The list and how many entries were left out over `max_lines`."""
    entries = sorted({_edl_entry(r) for r in rows})
    kept = entries[:max_lines]
    return "".join(f"{e}\n" for e in kept).encode(), len(entries) - len(kept)
