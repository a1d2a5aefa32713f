"""What the SOC connector publishes (connectors/soc/policy.py), on the sample logs of
connectors/samples/soc-logs: the real ones, and the hand-written EVE capture of policy noise."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import orjson
import pytest

from config import ConfigError, ConnectorSettings, Settings, SocPolicySettings, load_settings
from connectors.soc.connector import SocConnector
from connectors.soc.parsers import PARSERS, LineContext, detect
from connectors.soc.policy import Informational, Policy
from tests.helpers import TEST_CONFIG, make_settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "connectors" / "samples" / "soc-logs"
NOISE = SAMPLES / "suricata" / "eve-noise.handwritten.json"
ATTACKERS = {"203.0.113.50", "192.0.2.77", "192.0.2.91", "203.0.113.61", "198.51.100.23"}
NOISE_SOURCES = {"198.51.100.80", "203.0.113.9", "192.0.2.130", "192.0.2.44", "192.0.2.200"}


def settings_with(tmp: Path, toml: str = "", **env: str) -> Settings:
    """The test settings (documentation ranges count as outside), plus a TOML file of our own."""
    config = tmp / "policy.toml"
    config.write_text(TEST_CONFIG.read_text() + "\n" + toml)
    return make_settings(tmp, CYBERLAB_CONFIG=str(config), **env)


def read(conn: ConnectorSettings, *paths: Path) -> tuple[dict[str, int], Counter[str], Counter[str]]:
    """(count per published value, informational reasons, skipped reasons) of one connector run."""
    values: dict[str, int] = {}
    informational: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for batch in SocConnector(dataclasses.replace(conn, paths=tuple(map(str, paths)))).batches(None):
        for record in batch.records:
            values[record.data.value] = values.get(record.data.value, 0) + record.data.count
        informational.update(batch.informational)
        skipped.update(batch.skipped)
    return values, informational, skipped


def test_default_policy_leaves_out_policy_info_decode_and_not_suspicious(tmp_path: Path) -> None:
    values, informational, skipped = read(settings_with(tmp_path).connectors["city-soc"], NOISE)
    assert set(values) == ATTACKERS
    assert not NOISE_SOURCES & set(values)
    assert informational == {
        "eve signature ET POLICY": 9,  # 8 OpenSSL demo certificates (Not Suspicious Traffic), a Kali DHCP
        "eve signature SURICATA": 2,  # the engine's own decoder/app-layer anomalies
        "eve signature ET INFO": 2,
        "eve category Misc activity": 1,  # GPL ICMP_INFO PING, severity 3
        "eve attack from our network": 1,  # alert.source is a city host: its target is a victim
    }
    assert skipped == {"no-attacker-eve": 2}  # the flow and stats records: context, not alerts


def test_each_rule_on_its_own() -> None:
    policy = Policy(SocPolicySettings())
    with pytest.raises(Informational, match="category Not Suspicious Traffic"):  # whatever the severity
        policy.eve("LOCAL TLS self-signed certificate", "Not Suspicious Traffic", 1)
    with pytest.raises(Informational, match="eve severity 3"):
        policy.eve("ET HUNTING Suspicious User-Agent", "Potentially Bad Traffic", 3)
    assert policy.eve("ET SCAN Behavioral scan", "Detection of a Network Scan", 3) == 1  # attack category
    assert policy.eve("ET EXPLOIT x", "Attempted Administrator Privilege Gain", 1) == 3
    assert policy.eve("ET SCAN x", "Attempted Information Leak", "2") == 2
    assert policy.eve("hand-made", "", None) == 0  # no severity stated: judged by the rest
    with pytest.raises(Informational, match="eve signature ET INFO"):
        policy.eve("ET INFO Observed DNS Query to .cloud TLD", "Potentially Bad Traffic", 2)


def test_settings_re_include_what_the_defaults_leave_out(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path,
        "[soc_policy]\ncef_min_severity = 0\n"
        "[connectors.city-soc.policy]\n"
        "eve_max_severity = 3\neve_informational_categories = []\neve_ignored_signature_prefixes = []\n",
    )
    conn = settings.connectors["city-soc"]
    assert conn.policy.cef_min_severity == 0  # the site's [soc_policy]...
    assert conn.policy.eve_max_severity == 3  # ...under the connector's own keys
    assert settings.soc_policy.eve_max_severity == 2
    values, informational, _ = read(conn, NOISE, SAMPLES / "cef" / "cef.beats.log")
    assert ATTACKERS | NOISE_SOURCES - {"192.0.2.200"} <= set(values)
    assert values["198.51.100.80"] == 8  # the demo-certificate server, as asked
    assert {"1.128.3.4", "bc8bbe52f041fd17318f08a0f73762ce"} <= set(values)  # CEF "low" lines
    assert informational == {"eve attack from our network": 1}  # a victim is never an attacker


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[connectors.cert-fr.policy]\neve_max_severity = 3\n", "policy is for soc connectors only"),
        ("[connectors.city-soc.policy]\neve_max_severty = 3\n", "unknown setting"),
        ("[soc_policy]\nfortigate_min_severity = 'severe'\n", "fortigate_min_severity must be one of"),
        ("[soc_policy]\ncef_min_severity = 11\n", "between 0 and 10"),
        ("[connectors.city-soc.policy]\nhome_networks = ['10.0.0.0/33']\n", "is not a CIDR"),
        ("[soc_policy]\neve_max_severity = 0\n", "at least 1"),
    ],
)
def test_policy_mistakes_are_config_errors(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_with(tmp_path, toml)


def test_defaults_toml_says_what_the_code_defaults_say() -> None:
    assert load_settings(environ={}).soc_policy == SocPolicySettings()


def test_cef_low_severity_is_left_out() -> None:
    """cef.beats.log (elastic/beats test data): all four lines are severity "low"."""
    values, informational, _ = read(load_settings(environ={}).connectors["city-soc"], SAMPLES / "cef")
    assert values == {} and informational == {"cef severity below 4": 4}
    policy = Policy(SocPolicySettings())
    assert (policy.cef("4"), policy.cef("Medium"), policy.cef("7"), policy.cef("Very-High")) == (2, 2, 3, 3)
    for severity, reason in (("3", "below 4"), ("Low", "below 4"), ("Unknown", "unknown"), ("12", "unknown")):
        with pytest.raises(Informational, match=reason):
            policy.cef(severity)


def test_fortigate_blocks_of_policy_are_not_attacks() -> None:
    """fortigate.wazuh.log (Wazuh test data): web filter, application control, SSL inspection."""
    values, informational, _ = read(
        load_settings(environ={}).connectors["city-soc"], SAMPLES / "firewall" / "fortigate.wazuh.log"
    )
    assert "morrishittu.ddns.net" in values  # FortiGuard category "Malicious Websites"
    for policy_block in ("4-edge-chat.facebook.com", "www.download.windowsupdate.com", "xxxxx.com"):
        assert policy_block not in values  # the site's URL filter list, an allowed category
    assert "195.8.215.136" not in values  # application control: dailymotion
    assert "111.221.29.254" not in values  # application control: Windows Update
    assert "157.55.235.162" not in values  # IPS signature of severity "info" (HTTP.Unknown.Tunnelling)
    assert "104.154.89.105" not in values  # "Server certificate blocked": SSL inspection
    assert {"164.100.80.203", "222.186.130.227", "7.3.8.5"} <= set(values)  # virus, failed login, deny
    assert informational == {
        "fortigate webfilter policy": 3,
        "fortigate app-ctrl": 3,
        "fortigate ssl": 5,
        "fortigate cifs": 1,
        "fortigate ips severity info": 1,
    }


def eve(src: str, dst: str, alert: dict[str, object] | None = None, **fields: object) -> str:
    """One EVE alert line of a high-severity trojan signature."""
    body = {"signature": "ET MALWARE test", "category": "A Network Trojan was detected", "severity": 1}
    record = {"event_type": "alert", "src_ip": src, "dest_ip": dst, "alert": {**body, **(alert or {})}}
    return orjson.dumps({**record, **fields}).decode()


def test_direction_picks_the_attacker(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, CYBERLAB_SANITIZE__PROTECTED_NETWORKS="198.51.100.0/25")
    ctx = LineContext(2026, 0, Policy(settings.connectors["city-soc"].policy))

    def attacker(line: str) -> str:
        fmt = detect(line)
        assert fmt is not None
        (obs,) = PARSERS[fmt](line, ctx)
        return obs.value

    assert attacker(eve("203.0.113.5", "10.0.0.8")) == "203.0.113.5"  # inbound: the source
    assert attacker(eve("10.0.0.8", "203.0.113.5")) == "203.0.113.5"  # outbound: the destination reached
    # The city's own public address (sanitize.protected_networks) is home too.
    assert attacker(eve("198.51.100.20", "203.0.113.5")) == "203.0.113.5"
    # Both outside: who sent what matched, by EVE's direction and the flow's client.
    flow = {"src_ip": "198.51.100.200", "dest_ip": "203.0.113.99"}
    to_client = eve("198.51.100.200", "203.0.113.99", direction="to_client", flow=flow)
    to_server = eve("198.51.100.200", "203.0.113.99", direction="to_server", flow=flow)
    assert (attacker(to_client), attacker(to_server)) == ("203.0.113.99", "198.51.100.200")
    # alert.source (the rule's target keyword) is the attacker, whatever the packet's direction.
    named = eve("10.0.0.8", "192.0.2.9", alert={"source": {"ip": "192.0.2.9"}, "target": {"ip": "10.0.0.8"}})
    assert attacker(named) == "192.0.2.9"
    cef = "CEF:0|Vendor|IPS|1|7|Trojan callback|8|src=10.0.0.8 dst=203.0.113.44"
    assert attacker(cef) == "203.0.113.44"
    forti = 'date=2026-11-30 time=10:00:00 devid="FG1" type="traffic" action="deny" '
    forti += "srcip=10.0.0.8 dstip=192.0.2.4"
    assert attacker(forti) == "192.0.2.4"


def test_firewall_accepts_are_no_attempts_and_waf_detections_are_attacks() -> None:
    ctx = LineContext(2026, 0)
    allowed = "Nov 30 10:00:00 fw kernel: [UFW ALLOW] IN=eth0 OUT= SRC=203.0.113.5 DST=10.0.0.5 DPT=22"
    assert PARSERS["netfilter"](allowed, ctx) == []
    (dropped,) = PARSERS["netfilter"](allowed.replace("ALLOW", "BLOCK"), ctx)
    assert (dropped.value, dropped.sensor) == ("203.0.113.5", "fw")
    waf = (
        'date=2026-11-30 time=10:00:00 devid="FG100E" type="utm" subtype="waf" level="warning" '
        'severity="high" srcip=203.0.113.8 dstip=10.0.0.9 action="blocked" msg="SQL injection"'
    )
    (attack,) = PARSERS["fortigate"](waf, ctx)
    assert (attack.value, attack.level, attack.sensor) == ("203.0.113.8", 3, "FG100E")
    with pytest.raises(Informational, match="fortigate emailfilter"):
        PARSERS["fortigate"](waf.replace('subtype="waf"', 'subtype="emailfilter"'), ctx)
