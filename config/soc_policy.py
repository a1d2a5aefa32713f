"""What the soc connectors publish as an attack: the [soc_policy] settings (README "What the SOC
connector publishes"; connectors/soc/policy.py applies them)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from config.errors import ConfigError

# Suricata's classification.config (ET Open's, which extends Snort's): alerts of these categories are
# context, not attacks, whatever their severity. Priority 3-4 housekeeping (not suspicious, unknown,
# misc activity, protocol decode, ICMP events, TCP connections); policy matters of the site that
# runs the sensor (corporate privacy violation, porn: priority 1 but nobody attacked anyone);
# a host asking what its public address is (the destination is ipinfo.io, not an attacker).
EVE_INFORMATIONAL_CATEGORIES = (
    "Not Suspicious Traffic",
    "Unknown Traffic",
    "Misc activity",
    "Generic Protocol Command Decode",
    "Generic ICMP event",
    "A TCP connection was detected",
    "Potential Corporate Privacy Violation",
    "SCORE! Get the lotion!",
    "Device Retrieving External IP Address Detected",
)
# Categories that are attacks even when a rule lowers its severity to 3 (classification.config
# priority 1-2 attack classes, and network scans, priority 3).
EVE_ATTACK_CATEGORIES = (
    "Attempted Administrator Privilege Gain",
    "Successful Administrator Privilege Gain",
    "Attempted User Privilege Gain",
    "Unsuccessful User Privilege Gain",
    "Successful User Privilege Gain",
    "Web Application Attack",
    "Executable code was detected",
    "A Network Trojan was detected",
    "Malware Command and Control Activity Detected",
    "Domain Observed Used for C2 Detected",
    "Exploit Kit Activity Detected",
    "Targeted Malicious Activity was Detected",
    "Successful Credential Theft Detected",
    "Attempted Denial of Service",
    "Denial of Service",
    "Detection of a Denial of Service Attack",
    "Attempted Information Leak",
    "Misc Attack",
    "Attempt to login by a default username and password",
    "An attempted login using a suspicious username was detected",
    "Detection of a Network Scan",
)
FORTIGATE_SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class SocPolicySettings:
    """What the soc connector publishes as an attack; the rest is counted as informational.

    Defaults in [soc_policy]; a [connectors.NAME.policy] table overrides keys for one connector.
    README "What the SOC connector publishes" explains each rule.
    """

    # Suricata EVE: severity 1 (high) .. 3 (low). Alerts above eve_max_severity are published only
    # when their category is in eve_attack_categories; informational categories and signatures with
    # these prefixes (ET POLICY/INFO: policy and inventory rules; "SURICATA ": the engine's own
    # decoder and app-layer anomaly rules) never are.
    eve_max_severity: int = 2
    eve_informational_categories: tuple[str, ...] = EVE_INFORMATIONAL_CATEGORIES
    eve_attack_categories: tuple[str, ...] = EVE_ATTACK_CATEGORIES
    eve_ignored_signature_prefixes: tuple[str, ...] = (
        "ET POLICY ",
        "ET INFO ",
        "ETPRO POLICY ",
        "ETPRO INFO ",
        "SURICATA ",
    )
    # ArcSight CEF: header severity 0-10, or Low (0-3), Medium (4-6), High (7-8), Very-High (9-10).
    cef_min_severity: int = 4
    # FortiGate: IPS/anomaly signatures below this severity (info, low, medium, high, critical) are
    # informational; web/DNS filter blocks count only for these FortiGuard categories (other blocks
    # are the site's browsing policy); application control only for these application categories.
    fortigate_min_severity: str = "low"
    fortigate_web_categories: tuple[str, ...] = ("Malicious Websites", "Phishing", "Spam URLs")
    fortigate_app_categories: tuple[str, ...] = ("Botnet",)
    # Which end of a connection is ours, to pick the attacker: private ranges, these networks and
    # sanitize.protected_networks (always added). external_networks: non-public ranges to treat as
    # outside (sanitize.allowed_networks are always added).
    home_networks: tuple[str, ...] = ()
    external_networks: tuple[str, ...] = ()


def check_policy(policy: SocPolicySettings, where: str) -> None:
    if policy.eve_max_severity < 1:
        raise ConfigError(f"{where}.eve_max_severity must be at least 1 (Suricata's highest severity)")
    if not 0 <= policy.cef_min_severity <= 10:
        raise ConfigError(f"{where}.cef_min_severity must be between 0 and 10")
    if policy.fortigate_min_severity not in FORTIGATE_SEVERITIES:
        raise ConfigError(f"{where}.fortigate_min_severity must be one of {', '.join(FORTIGATE_SEVERITIES)}")
    for name in ("home_networks", "external_networks"):
        for cidr in getattr(policy, name):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"{where}.{name}: {cidr!r} is not a CIDR") from None
