"""STIX `confidence` (0-100) of the platform's indicators: how sure we are the value is hostile.

    confidence = evidence + corroboration                                  (never above 100)

evidence, from the strongest single read of one log (a batch: up to 50,000 lines of one file),
in steps of 5 so that small changes in counts make no new versions:
    severity of its worst line     high 35, medium 25, low 15, none stated 15
                                   (Suricata 1/2/3; CEF 7-10/4-6/0-3; FortiGate critical+high/medium/low;
                                   firewall denies, failed logins and CSV rows state none)
  + times seen in that read        10-99: +5, 100 or more: +10
  + sensors that logged it there   2: +5, 3 or more: +10 (EVE host, FortiGate devid, CEF dvchost,
                                   syslog host)
  so 15..55;
corroboration, from the organizations that reported it (one external reference each: the city
SOC, CERT-FR's feed, another SOC connector): +15 for the second, +30 for three or more.

So one medium alert seen once is 25 and one high alert 35 (Low/Med on the STIX 2.1 Appendix A
None/Low/Med/High scale: 1-29 Low, 30-69 Med, 70-100 High); a high alert seen 100 times by three
sensors is 55, and 85 (High) once two other organizations report the value too.

Why this shape: the merge (indexer.merge) must stay idempotent and order-free, so that a replayed
batch or a crash-and-resume changes nothing. Evidence is merged as a maximum (a replayed read
brings nothing above what is stored) and corroboration is a function of the set of reporters
(a union). Because evidence never exceeds 55 and corroboration 30, the stored confidence minus
its corroboration gives back the evidence exactly: nothing else needs to be stored.
"""

from __future__ import annotations

from typing import Any

from connectors.soc.policy import HIGH, MEDIUM

MAX_EVIDENCE = 55
_SEVERITY_POINTS = {HIGH: 35, MEDIUM: 25}
_LOW_POINTS = 15


def evidence(level: int, times: int, sensors: int) -> int:
    """What one read of one log says: severity level (connectors.soc.policy), count, sensors."""
    points = _SEVERITY_POINTS.get(level, _LOW_POINTS)
    points += 10 if times >= 100 else 5 if times >= 10 else 0
    points += 10 if sensors >= 3 else 5 if sensors == 2 else 0
    return points


def corroboration(reporters: int) -> int:
    return 15 * max(0, min(reporters, 3) - 1)


def reporters(indicator: dict[str, Any]) -> int:
    """Organizations that reported it: its external references of the form source_reference writes."""
    return len(
        {
            ref["source_name"]
            for ref in indicator.get("external_references", [])
            if isinstance(ref, dict)
            and isinstance(ref.get("source_name"), str)
            and str(ref.get("description", "")).startswith("Reported by ")
        }
    )


def confidence(evidence_points: int, reporter_count: int) -> int:
    return max(0, min(100, evidence_points + corroboration(reporter_count)))


def evidence_of(indicator: dict[str, Any]) -> int | None:
    """The evidence part of a stored confidence (None when it has none). A confidence written by
    someone else (a TAXII post, a feed) counts as evidence as it is, less its corroboration."""
    value = indicator.get("confidence")
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return max(0, value - corroboration(reporters(indicator)))


def merged_confidence(current: dict[str, Any], new: dict[str, Any], merged: dict[str, Any]) -> int | None:
    """The confidence of `merged` (current widened by new, external references already united)."""
    parts = [p for p in (evidence_of(current), evidence_of(new)) if p is not None]
    if not parts:
        return None
    return confidence(max(parts), reporters(merged))
