"""SOC log parsing and incremental reading, on the real sample logs (connectors/samples/soc-logs)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from config import SocPolicySettings
from connectors.soc.connector import SocConnector
from connectors.soc.parsers import PARSERS, LineContext, LineError, detect
from connectors.soc.policy import Informational, Policy
from connectors.soc.reader import load_cursor
from tests.helpers import make_settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "connectors" / "samples" / "soc-logs"
CTX = LineContext(year=2026, fallback_time=1_767_225_600)
# What the parsers can read, whatever the policy would publish (tests/connectors/test_soc_policy.py):
# the CEF sample's lines are all severity "low", which the default policy leaves out.
EVERYTHING = LineContext(2026, 1_767_225_600, Policy(SocPolicySettings(cef_min_severity=0)))


def observations(name: str) -> list[tuple[str, str]]:
    found = []
    for line in (SAMPLES / name).read_text(encoding="utf-8", errors="replace").splitlines():
        fmt = detect(line)
        if fmt:
            with contextlib.suppress(LineError, Informational):
                found += [(o.value, o.kind) for o in PARSERS[fmt](line, EVERYTHING)]
    return found


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("suricata/eve-alerts.crowdsec.json", {("1.2.3.4", "ipv4"), ("2.2.3.4", "ipv4")}),
        ("cef/cef.beats.log", {("1.128.3.4", "ipv4"), ("bc8bbe52f041fd17318f08a0f73762ce", "md5")}),
        ("firewall/pfsense.wazuh.log", {("10.9.0.119", "ipv4")}),  # only the block line
    ],
)
def test_sample_logs_name_their_attackers(name: str, expected: set[tuple[str, str]]) -> None:
    assert expected <= set(observations(name))


def test_fortigate_login_failures_and_denies() -> None:
    found = set(observations("firewall/fortigate.wazuh.log"))
    assert ("222.186.130.227", "ipv4") in found  # "Admin login failed ... ssh(222.186.130.227)"


def test_netfilter_direction_picks_the_external_party() -> None:
    inbound = "Aug 17 10:03:37 h kernel: DROP IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.5 PROTO=TCP DPT=22"
    outbound = "Feb  4 23:33:37 h kernel: FIREWALL_OUT IN= OUT=eth0 SRC=10.0.0.5 DST=198.51.100.7 PROTO=TCP"
    assert PARSERS["netfilter"](inbound, CTX)[0].value == "203.0.113.9"
    assert PARSERS["netfilter"](outbound, CTX)[0].value == "198.51.100.7"
    assert "DROP TCP/22" in PARSERS["netfilter"](inbound, CTX)[0].signature


@pytest.mark.parametrize(
    ("fmt", "line", "message"),
    [
        ("eve", '{"event_type": "alert", "src_ip": "1.2.3.4"', "truncated or invalid JSON"),
        ("eve", "[1, 2]", "not a JSON object"),
        ("cef", "CEF:0|only|three", "fewer than 8"),
        ("pfsense", "Jan 1 00:00:00 filterlog: 1,2,3", "too few fields"),
        ("csv", "1.2.3.4,colour", "unknown indicator type"),
        ("csv", "not-an-ip,ipv4", "not an IP"),
        ("csv", "abc,md5", "not a md5 hash"),
        ("csv", "1.2.3.4,ip,,,-3", "at least 1"),
    ],
)
def test_malformed_lines_say_why(fmt: str, line: str, message: str) -> None:
    with pytest.raises(LineError, match=message):
        PARSERS[fmt](line, CTX)


def test_a_cef_time_in_other_digits_is_the_files_time_not_a_crash() -> None:
    # '²' is a digit to str.isdigit() that int() refuses; '١٧٦٧' (Arabic-Indic) int() reads as 1767.
    for rt in ("²", "١٧٦٧"):
        line = f"CEF:0|a|b|1|2|Name|8|src=203.0.113.2 rt={rt}"
        assert [o.first_seen for o in PARSERS["cef"](line, EVERYTHING)] == [CTX.fallback_time]


def test_csv_export_rows() -> None:
    (obs,) = PARSERS["csv"](
        "Evil.Example.com,domain,2026-01-01T00:00:00Z,2026-01-03T00:00:00Z,7,phishing", CTX
    )
    assert (obs.value, obs.kind, obs.count, obs.category) == ("evil.example.com", "domain", 7, "phishing")
    assert obs.last_seen - obs.first_seen == 2 * 86400


def connector(paths: list[str], tmp: Path) -> SocConnector:
    conn = make_settings(tmp).connectors["city-soc"]
    return SocConnector(replace(conn, paths=tuple(paths)))


def run(conn: SocConnector, cursor: str | None) -> tuple[list[str], str | None, int]:
    values, read = [], 0
    for batch in conn.batches(cursor):
        values += [r.data.value for r in batch.records]
        read += batch.read
        cursor = batch.cursor or cursor
    return values, cursor, read


def test_cursor_resumes_after_appends_and_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "fw.log"
    line = "Aug 17 10:03:37 h kernel: DROP IN=eth0 OUT= SRC={} DST=10.0.0.5 PROTO=TCP DPT=22\n"
    log.write_text(line.format("203.0.113.1") + line.format("203.0.113.2"))
    conn = connector([str(tmp_path)], tmp_path)
    values, cursor, _ = run(conn, None)
    assert sorted(values) == ["203.0.113.1", "203.0.113.2"]
    assert run(conn, cursor)[0] == []  # nothing new
    with log.open("a") as fh:
        fh.write(line.format("203.0.113.3"))
    values, cursor, _ = run(conn, cursor)
    assert values == ["203.0.113.3"]
    with log.open("a") as fh:  # written after our last read, then the file is rotated
        fh.write(line.format("203.0.113.4"))
    os.rename(log, tmp_path / "fw.log.1")
    log.write_text(line.format("203.0.113.5"))
    values, cursor, _ = run(conn, cursor)
    assert sorted(values) == ["203.0.113.4", "203.0.113.5"]
    assert run(conn, cursor)[0] == []


def test_truncated_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "fw.log"
    line = "Aug 17 10:03:37 h kernel: DROP IN=eth0 OUT= SRC={} DST=10.0.0.5 PROTO=TCP DPT=22\n"
    log.write_text(line.format("203.0.113.1") * 3)
    conn = connector([str(log)], tmp_path)
    _, cursor, _ = run(conn, None)
    log.write_text(line.format("203.0.113.9"))  # copytruncate: same inode, smaller
    assert run(conn, cursor)[0] == ["203.0.113.9"]


def test_unterminated_last_line_waits_unless_complete(tmp_path: Path) -> None:
    log = tmp_path / "eve.json"
    done = '{"event_type":"alert","src_ip":"203.0.113.1","dest_ip":"10.0.0.1","alert":{"signature":"x"}}\n'
    log.write_text(done + '{"event_type":"alert","src_ip":"203.0.1')  # a writer is mid-line
    conn = connector([str(log)], tmp_path)
    values, cursor, _ = run(conn, None)
    assert values == ["203.0.113.1"]
    assert load_cursor(cursor)[str(log.resolve())][1] == len(done)
    with log.open("a") as fh:
        fh.write('13.2","dest_ip":"10.0.0.1","alert":{"signature":"x"}}')  # complete, still no newline
    values, cursor, _ = run(conn, cursor)
    assert values == ["203.0.113.2"]
    assert run(conn, cursor)[0] == []


def test_mixed_encodings_and_garbage_are_counted_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_bytes(
        b"Aug 17 10:03:37 h kernel: DROP\xe9 IN=eth0 OUT= SRC=203.0.113.1 DST=10.0.0.5 PROTO=TCP\n"
        b"\x00\xff binary junk\n"
        b"{not json at all\n"
        b"CEF:0|a|b|1|2|Name|8|src=203.0.113.2\n"
    )
    batch = next(connector([str(log)], tmp_path).batches(None))
    assert sorted(r.data.value for r in batch.records) == ["203.0.113.1", "203.0.113.2"]
    assert batch.skipped == {"unknown-format": 1, "malformed-eve": 1}
    assert batch.problems and "JSON" in batch.problems[0][1]


def test_whole_sample_folder(tmp_path: Path) -> None:
    values, _, read = run(connector([str(SAMPLES)], tmp_path), None)
    assert read == sum(len(p.read_bytes().splitlines()) for p in SAMPLES.rglob("*") if p.is_file())
    assert "222.186.130.227" in values and "1.2.3.4" in values


def demo_connector(paths: list[str], tmp: Path, now: float) -> SocConnector:
    conn = replace(make_settings(tmp).connectors["city-soc"], paths=tuple(paths), demo_shift_to_now=True)
    return SocConnector(conn, clock=lambda: now)


def test_demo_shift_moves_each_files_newest_line_to_now_and_keeps_it_in_the_cursor(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    alert = (
        '{{"timestamp":"{}","event_type":"alert","src_ip":"{}",'
        '"dest_ip":"10.0.0.1","alert":{{"signature":"x"}}}}\n'
    )
    eve.write_text(
        alert.format("2022-07-10T00:00:00+0000", "203.0.113.1")
        + alert.format("2022-07-12T00:00:00+0000", "203.0.113.2")
    )
    now = 1_796_000_000.0  # 2026-11-29
    conn = demo_connector([str(tmp_path)], tmp_path, now)
    batches = list(conn.batches(None))
    seen = {r.data.value: (r.data.first_seen, r.data.last_seen) for b in batches for r in b.records}
    assert seen["203.0.113.2"][1] == int(now)  # the newest line is now
    assert seen["203.0.113.2"][1] - seen["203.0.113.1"][1] == 2 * 86400  # spacing kept
    shift = int(now) - 1_657_584_000
    assert batches[0].notes == [f"timestamps shifted by {round(shift / 86400):,} days (demo): eve.json"]
    cursor = batches[-1].cursor
    assert not list(conn.batches(cursor)) or all(not b.records for b in conn.batches(cursor))
    # A later run (another day) reuses the stored shift: appended lines keep the same offset,
    # and nothing already read comes back shifted differently.
    with eve.open("a") as fh:
        fh.write(alert.format("2022-07-13T00:00:00+0000", "203.0.113.3"))
    later = demo_connector([str(tmp_path)], tmp_path, now + 5 * 86400)
    (batch,) = list(later.batches(cursor))
    assert [(r.data.value, r.data.last_seen) for r in batch.records] == [("203.0.113.3", int(now) + 86400)]


def test_without_the_demo_option_timestamps_are_as_logged(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_text(
        '{"timestamp":"2022-07-12T00:00:00+0000","event_type":"alert","src_ip":"203.0.113.2",'
        '"dest_ip":"10.0.0.1","alert":{"signature":"x"}}\n'
    )
    (batch,) = list(connector([str(tmp_path)], tmp_path).batches(None))
    assert batch.records[0].data.last_seen == 1_657_584_000 and batch.notes == []
    assert "shifts" not in (batch.cursor or "")
