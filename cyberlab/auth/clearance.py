"""TLP clearance: the most restrictive TLP each role may see."""

from __future__ import annotations

from cyberlab.auth.caller import Caller
from indexer.tlp import TLP_ORDER

# Ranks of indexer.tlp.TLP_ORDER: subscribers are businesses that got TLP:GREEN's "community"
# promise; partners and analysts are inside the circle.
TLP_CLEARANCE = {"subscriber": 1, "partner": 2, "analyst": 3, "admin": 4}


def tlp_clearance(caller: Caller) -> int:
    return TLP_CLEARANCE.get(caller.role or "", 0)


def max_tlp_rank(caller: Caller) -> int | None:
    """The TLP limit of a caller's reads (ObjectQuery.max_tlp_rank): None for those who see all."""
    clearance = tlp_clearance(caller)
    return None if clearance >= len(TLP_ORDER) - 1 else clearance
