"""What counts as an attack, per log format (settings: config.SocPolicySettings, [soc_policy]).

A parser asks the policy about each alert it reads. The policy answers with the alert's severity
level (for the indicator's confidence) or raises Informational with a short reason: the line is
then counted in the run report as informational, neither published nor an error.

The reasons are built from the settings' own words (a prefix, a category) or from small fixed
vocabularies, never from free log text, so the run report has a bounded number of them.
"""

from __future__ import annotations

import ipaddress
import re

from config import SocPolicySettings

# Severity levels shared by every format, highest last (indexer.confidence turns them into points).
UNSTATED, LOW, MEDIUM, HIGH = 0, 1, 2, 3
_FORTI_LEVELS = {"info": 0, "information": 0, "low": LOW, "medium": MEDIUM, "high": HIGH, "critical": HIGH}
_FORTI_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
# CEF severity names stand for their band; a band counts as its top value against cef_min_severity.
_CEF_NAMES = {"low": 3, "medium": 6, "high": 8, "very-high": 10, "veryhigh": 10, "very high": 10}
_WORD = re.compile(r"^[a-z][a-z0-9_-]{0,23}$")
_CACHE_LIMIT = 16_384  # addresses remembered as ours or not (~1.5 MB)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Informational(Exception):
    """The line is a real alert or event, but not an attack by the policy."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


class Policy:
    """SocPolicySettings made quick to ask, line after line."""

    def __init__(self, settings: SocPolicySettings) -> None:
        self.settings = settings
        self._home = _networks(settings.home_networks)
        self._outside = _networks(settings.external_networks)
        self._prefixes = tuple(p for p in settings.eve_ignored_signature_prefixes if p)
        self._informational = {c.lower(): c for c in settings.eve_informational_categories}
        self._attacks = frozenset(c.lower() for c in settings.eve_attack_categories)
        self._web = frozenset(c.lower() for c in settings.fortigate_web_categories)
        self._apps = frozenset(c.lower() for c in settings.fortigate_app_categories)
        self._forti_min = _FORTI_RANK[settings.fortigate_min_severity]
        self._home_cache: dict[str, bool] = {}

    # -- which end is the attacker ------------------------------------------------------------
    def is_home(self, value: str) -> bool:
        """Ours, or no usable address: private ranges, home_networks (sanitize.protected_networks)."""
        known = self._home_cache.get(value)
        if known is not None:
            return known
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            home = True  # an empty or broken field is never "the outside end"
        else:
            if any(address in net for net in self._home):
                home = True
            elif any(address in net for net in self._outside):
                home = False
            else:
                home = not address.is_global
        if len(self._home_cache) >= _CACHE_LIMIT:
            self._home_cache.clear()
        self._home_cache[value] = home
        return home

    def attacker(self, src: str, dst: str, sender: str = "") -> str:
        """The end to block. Inbound (src outside, dst ours): the source. Outbound (src ours, dst
        outside): the destination our host reached (a C2 server, a malware site). Both outside:
        `sender`, the end that sent what matched, when the log says (else the source). Both ours:
        the source, which the sanitizer then drops as ours."""
        src_home, dst_home = self.is_home(src), self.is_home(dst)
        if src_home and not dst_home:
            return dst
        if not src_home and not dst_home and sender in (src, dst):
            return sender
        return src

    # -- Suricata EVE ---------------------------------------------------------------------------
    def eve(self, signature: str, category: str, severity: object) -> int:
        """Level of an EVE alert, or Informational. severity: alert.severity as logged."""
        for prefix in self._prefixes:
            if signature.startswith(prefix):
                raise Informational(f"eve signature {prefix.strip()}")
        lowered = category.strip().lower()
        if lowered in self._informational:
            raise Informational(f"eve category {self._informational[lowered]}")
        number = _int(severity)
        if number is None:
            return UNSTATED  # hand-made or foreign EVE without a severity: judged by the rest
        if number > self.settings.eve_max_severity and lowered not in self._attacks:
            raise Informational(f"eve severity {min(number, 9)}{'+' if number > 9 else ''}")
        return HIGH if number <= 1 else MEDIUM if number == 2 else LOW

    # -- ArcSight CEF ---------------------------------------------------------------------------
    def cef(self, severity: str) -> int:
        text = severity.strip().lower()
        number = _int(text) if text.isdigit() else _CEF_NAMES.get(text)
        if number is None or not 0 <= number <= 10:
            raise Informational("cef severity unknown")
        if number < self.settings.cef_min_severity:
            raise Informational(f"cef severity below {self.settings.cef_min_severity}")
        return HIGH if number >= 7 else MEDIUM if number >= 4 else LOW

    # -- FortiGate ------------------------------------------------------------------------------
    def fortigate_detection(self, kind: str, severity: str, crlevel: str) -> int:
        """IPS, anomaly (DoS) and antivirus logs: a detection, judged by its severity."""
        stated = severity.strip().lower()
        if stated in _FORTI_RANK and _FORTI_RANK[stated] < self._forti_min:
            raise Informational(f"fortigate {kind} severity {stated}")
        return _FORTI_LEVELS.get(stated or crlevel.strip().lower(), UNSTATED)

    def fortigate_web(self, subtype: str, category: str, crlevel: str) -> int:
        """Web and DNS filter: only FortiGuard's security categories are attacks."""
        if category.strip().lower() not in self._web:
            raise Informational(f"fortigate {subtype} policy")
        return _FORTI_LEVELS.get(crlevel.strip().lower(), MEDIUM)

    def fortigate_app(self, category: str) -> int:
        if category.strip().lower() not in self._apps:
            raise Informational("fortigate app-ctrl")
        return MEDIUM

    @staticmethod
    def fortigate_other(subtype: str) -> None:
        """Other UTM logs (SSL inspection, file filter, DLP...): the site's rules, not attacks."""
        raise Informational(f"fortigate {subtype if _WORD.match(subtype) else 'utm'}")


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


DEFAULT_POLICY = Policy(SocPolicySettings())
