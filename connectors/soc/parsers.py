"""Parsers for the city SOC's log formats. Each turns one line into the attacker values it names.

Formats: Suricata EVE JSON alerts, netfilter/iptables syslog, pfSense filterlog, FortiGate
key=value, ArcSight CEF, and a plain CSV export (value,type,first_seen,last_seen,count,category).
A parser returns a list of Observations (empty when the line is recognized but names no attacker,
e.g. a flow record or an allowed connection), raises Informational when the line is an alert the
policy (connectors.soc.policy, the context's) does not count as an attack, or raises LineError when
the line is malformed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from connectors.soc.policy import DEFAULT_POLICY, UNSTATED, Informational, Policy

HASH_KINDS = {32: "md5", 40: "sha1", 64: "sha256"}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
_SYSLOG_TIME = re.compile(r"^([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})")
_SYSLOG_HOST = re.compile(r"^[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+([\w.:-]{1,64})\s")
_NETFILTER_ALLOWED = re.compile(r"\b(ACCEPT|ALLOW|AUDIT|PASS)", re.IGNORECASE)
SENSOR_CHARS = 64
_KV = re.compile(r'(\w+)=("([^"]*)"|\S+)')
_NETFILTER = re.compile(r"\b(IN|OUT|SRC|DST|PROTO|DPT)=(\S*)")
_NETFILTER_PREFIX = re.compile(r"kernel:\s*(?:\[[\d.\s]+\]\s*)?(\S+)?\s*IN=")
_CEF_EXT = re.compile(r"(\w+)=((?:\\=|[^=])*?)(?=\s+\w+=|\s*$)")
_UI_IP = re.compile(r"\((\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]+)\)")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_FORTI_DENY = frozenset({"deny", "blocked", "block", "dropped", "drop", "reset", "reject"})
_FORTI_DETECTIONS = frozenset({"ips", "anomaly", "virus", "waf"})
CSV_HEADER = ("value", "type", "first_seen", "last_seen", "count", "category")
_CSV_TYPES = {
    "ip": "ip",
    "ipv4": "ip",
    "ipv6": "ip",
    "ip-src": "ip",
    "ip-dst": "ip",
    "domain": "domain",
    "hostname": "domain",
    "url": "url",
    "email": "email",
    "email-src": "email",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
}


class LineError(ValueError):
    """A line of a known format that cannot be parsed; the message says why."""


@dataclass(frozen=True, slots=True)
class Observation:
    value: str
    kind: str  # ipv4, ipv6, domain, url, email, md5, sha1, sha256
    first_seen: int  # epoch seconds
    last_seen: int
    count: int
    signature: str
    category: str
    level: int = UNSTATED  # connectors.soc.policy: UNSTATED, LOW, MEDIUM, HIGH
    sensor: str = ""  # the device that logged it (EVE host, FortiGate devid, CEF dvchost, syslog host)


@dataclass(frozen=True)
class LineContext:
    """What a line alone does not say: the year of syslog timestamps (from the file's mtime), and
    the connector's policy of what is an attack."""

    year: int
    fallback_time: int  # epoch seconds, for lines without a timestamp (the file's mtime)
    policy: Policy = field(default=DEFAULT_POLICY)


def detect(line: str) -> str | None:
    """The format of one line, or None if it is no format we read."""
    start = line.lstrip()[:1]
    if start == "{":
        return "eve"
    if "CEF:" in line:
        return "cef"
    if "filterlog" in line:
        return "pfsense"
    if " SRC=" in line and " DST=" in line:
        return "netfilter"
    if "devid=" in line or ("logid=" in line and "type=" in line):
        return "fortigate"
    return None


def ip_kind(value: str) -> str | None:
    try:
        return "ipv4" if ipaddress.ip_address(value).version == 4 else "ipv6"
    except ValueError:
        return None


def is_public_ip(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).is_global
    except ValueError:
        return False


def _ip_obs(
    value: str, when: int, signature: str, category: str, level: int = UNSTATED, sensor: str = ""
) -> list[Observation]:
    kind = ip_kind(value)
    if kind is None:
        return []
    return [Observation(value, kind, when, when, 1, signature, category, level, sensor[:SENSOR_CHARS])]


def _syslog_host(line: str) -> str:
    match = _SYSLOG_HOST.match(line)
    return match.group(1) if match else ""


def _syslog_time(line: str, ctx: LineContext) -> int:
    match = _SYSLOG_TIME.match(line)
    if not match:
        return ctx.fallback_time
    month = _MONTHS.get(match.group(1))
    if month is None:
        return ctx.fallback_time
    day, hour, minute, second = (int(g) for g in match.groups()[1:])
    try:
        return int(datetime(ctx.year, month, day, hour, minute, second, tzinfo=UTC).timestamp())
    except ValueError:
        return ctx.fallback_time


def _iso_time(text: str, ctx: LineContext) -> int:
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.strip())
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return ctx.fallback_time


def parse_eve(line: str, ctx: LineContext) -> list[Observation]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise LineError(f"truncated or invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise LineError("EVE record is not a JSON object")
    if record.get("event_type") != "alert":
        return []  # flow, stats, dns...: context, not an attack
    alert = record.get("alert") or {}
    if not isinstance(alert, dict):
        raise LineError("EVE alert is not a JSON object")
    if alert.get("action") == "allowed" and not alert.get("signature"):
        return []
    src, dst = str(record.get("src_ip", "")), str(record.get("dest_ip", ""))
    if not src and not dst:
        raise LineError("alert without src_ip/dest_ip")
    signature, category = str(alert.get("signature", "")), str(alert.get("category", ""))
    level = ctx.policy.eve(signature, category, alert.get("severity"))
    # A rule with the `target` keyword names the attacker itself (alert.source); when that is one of
    # ours, its target outside is a victim, not something to block.
    source = alert.get("source")
    if isinstance(source, dict) and source.get("ip"):
        attacker = str(source["ip"])
        if ctx.policy.is_home(attacker):
            raise Informational("eve attack from our network")
    else:
        attacker = ctx.policy.attacker(src, dst, _eve_sender(record, src, dst))
    when = _iso_time(str(record.get("timestamp", "")), ctx)
    return _ip_obs(attacker, when, signature, category, level, str(record.get("host") or ""))


def _eve_sender(record: dict[str, object], src: str, dst: str) -> str:
    """Who sent what matched, when EVE says (Suricata 7: `direction` and the flow's own src_ip):
    the client for to_server, the server for to_client. Older EVE: the alert's src_ip."""
    flow, direction = record.get("flow"), record.get("direction")
    if not isinstance(flow, dict) or direction not in ("to_server", "to_client"):
        return src
    client = str(flow.get("src_ip") or "")
    if client not in (src, dst):
        return src
    server = dst if client == src else src
    return client if direction == "to_server" else server


def parse_netfilter(line: str, ctx: LineContext) -> list[Observation]:
    fields = dict(_NETFILTER.findall(line))
    src, dst = fields.get("SRC", ""), fields.get("DST", "")
    if not src or not dst:
        raise LineError("netfilter line without SRC= and DST=")
    start, end = line.find("kernel:"), line.find("IN=")
    if start >= 0 and _NETFILTER_ALLOWED.search(line[start:end]):
        return []  # a rule that logs what it lets through ([UFW ALLOW], ACCEPT): no attempt was stopped
    inbound = bool(fields.get("IN")) and not fields.get("OUT")
    outbound = bool(fields.get("OUT")) and not fields.get("IN")
    attacker = dst if outbound and not inbound else src
    prefix = _NETFILTER_PREFIX.search(line)
    label = prefix.group(1) if prefix and prefix.group(1) else "netfilter"
    service = f"{fields.get('PROTO', '')}/{fields['DPT']}" if fields.get("DPT") else fields.get("PROTO", "")
    when = _syslog_time(line, ctx)
    return _ip_obs(attacker, when, f"{label} {service}".strip(), "firewall-deny", sensor=_syslog_host(line))


def parse_pfsense(line: str, ctx: LineContext) -> list[Observation]:
    _, sep, rest = line.partition("filterlog")
    payload = rest.split(":", 1)[1].strip() if ":" in rest else ""
    fields = payload.split(",")
    if not sep or len(fields) < 17:
        raise LineError("filterlog line with too few fields")
    action, direction, version = fields[6], fields[7], fields[8]
    if action != "block":
        return []
    if version == "4" and len(fields) >= 20:
        proto, src, dst = fields[16], fields[18], fields[19]
    elif version == "6" and len(fields) >= 17:
        proto, src, dst = fields[12], fields[15], fields[16]
    else:
        raise LineError(f"filterlog line with unknown IP version {version!r}")
    attacker = src if direction == "in" else dst
    when, sensor = _syslog_time(line, ctx), _syslog_host(line)
    return _ip_obs(attacker, when, f"pfSense block {proto}".strip(), "firewall-deny", sensor=sensor)


def parse_fortigate(line: str, ctx: LineContext) -> list[Observation]:
    kv = {k: (quoted if quoted or v.startswith('"') else v) for k, v, quoted in _KV.findall(line)}
    if "date" in kv and "time" in kv:
        when = _iso_time(f"{kv['date']}T{kv['time']}+00:00", ctx)
    else:
        when = ctx.fallback_time
    log_type, action = kv.get("type", ""), kv.get("action", "").lower()
    signature = kv.get("attack") or kv.get("virus") or kv.get("logdesc") or kv.get("msg") or log_type
    src, dst = kv.get("srcip", ""), kv.get("dstip", "")
    sensor = (kv.get("devid") or kv.get("devname") or "")[:SENSOR_CHARS]
    policy = ctx.policy
    found: list[Observation] = []
    if log_type == "traffic":
        # A denied connection is an attempt; accepted traffic is nobody's attack.
        if action in _FORTI_DENY and (src or dst):
            attacker = policy.attacker(src, dst)
            found += _ip_obs(attacker, when, signature or "FortiGate deny", "firewall-deny", sensor=sensor)
    elif log_type == "anomaly" or (log_type == "utm" and kv.get("subtype") in _FORTI_DETECTIONS):
        # Detections: an IPS signature, a DoS anomaly, a virus, a web application attack. Judged by
        # the detection's severity, whatever the action (a "detected" or "pass" one is still an attack).
        subtype = "anomaly" if log_type == "anomaly" else kv["subtype"]
        level = policy.fortigate_detection(subtype, kv.get("severity", ""), kv.get("crlevel", ""))
        if src or dst:
            found += _ip_obs(policy.attacker(src, dst), when, signature, subtype, level, sensor)
    elif log_type == "utm":
        subtype = kv.get("subtype", "")
        if subtype in ("webfilter", "dns"):
            category = kv.get("catdesc", "")
            level = policy.fortigate_web(subtype, category, kv.get("crlevel", ""))
            if kv.get("hostname"):
                # A malicious site or lookup: the destination is the malicious one.
                domain = kv["hostname"].lower()
                found.append(Observation(domain, "domain", when, when, 1, signature, subtype, level, sensor))
        elif subtype == "app-ctrl":
            level = policy.fortigate_app(kv.get("appcat", ""))
            if src or dst:
                found += _ip_obs(policy.attacker(src, dst), when, signature, subtype, level, sensor)
        else:
            policy.fortigate_other(subtype)
    elif log_type == "event" and ("failed" in kv.get("logdesc", "").lower() or kv.get("status") == "failed"):
        match = _UI_IP.search(kv.get("ui", "")) if kv.get("ui") else None
        candidate = match.group(1) if match else src
        if candidate:
            found += _ip_obs(candidate, when, signature, "authentication-failure", sensor=sensor)
    return found


def parse_cef(line: str, ctx: LineContext) -> list[Observation]:
    start = line.find("CEF:")
    header = line[start:].split("|", 7)
    if len(header) < 8:
        raise LineError("CEF line with fewer than 8 header fields")
    name, severity, extension = header[5], header[6], header[7]
    level = ctx.policy.cef(severity)
    ext = {k: v.strip().replace("\\=", "=") for k, v in _CEF_EXT.findall(extension)}
    when = ctx.fallback_time
    rt = ext.get("rt", "")
    if rt.isascii() and rt.isdigit():  # ASCII: '²' is a digit that int() refuses, '١' one it reads
        when = int(rt) // 1000
    sensor = (ext.get("dvchost") or ext.get("dvc") or ext.get("deviceExternalId") or "")[:SENSOR_CHARS]
    found: list[Observation] = []
    if ext.get("src"):
        # CEF's src is the event's origin; an outbound event (src ours, dst outside) names the
        # destination our host reached.
        attacker = ctx.policy.attacker(ext["src"], ext.get("dst", ""))
        found += _ip_obs(attacker, when, name, "cef", level, sensor)
    file_hash = ext.get("fileHash", "")
    if file_hash and _HEX.match(file_hash) and len(file_hash) in HASH_KINDS:
        kind = HASH_KINDS[len(file_hash)]
        found.append(Observation(file_hash.lower(), kind, when, when, 1, name, "file", level, sensor))
    return found


def parse_csv_row(line: str, ctx: LineContext) -> list[Observation]:
    fields = [f.strip() for f in line.split(",")]
    if len(fields) < 2 or not fields[0]:
        raise LineError("CSV row needs at least value,type")
    fields += [""] * (6 - len(fields))
    value, kind_name, first, last, count, category = fields[:6]
    kind = _CSV_TYPES.get(kind_name.lower())
    if kind is None:
        raise LineError(f"unknown indicator type {kind_name!r}")
    if kind == "ip":
        ip = ip_kind(value)
        if ip is None:
            raise LineError(f"{value!r} is not an IP address")
        kind = ip
    elif kind in ("md5", "sha1", "sha256") and not (_HEX.match(value) and HASH_KINDS.get(len(value)) == kind):
        raise LineError(f"{value!r} is not a {kind} hash")
    first_seen = _iso_time(first, ctx) if first else ctx.fallback_time
    last_seen = _iso_time(last, ctx) if last else first_seen
    try:
        times = int(count) if count else 1
    except ValueError:
        raise LineError(f"count {count!r} is not an integer") from None
    if times < 1:
        raise LineError("count must be at least 1")
    value = value.lower() if kind in ("domain", "md5", "sha1", "sha256", "email") else value
    return [Observation(value, kind, first_seen, max(first_seen, last_seen), times, category, category)]


PARSERS = {
    "eve": parse_eve,
    "netfilter": parse_netfilter,
    "pfsense": parse_pfsense,
    "fortigate": parse_fortigate,
    "cef": parse_cef,
    "csv": parse_csv_row,
}
