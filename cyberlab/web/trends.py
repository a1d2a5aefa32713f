"""The home page's trend: new blockable values per day for 30 days, by kind, as a server-drawn SVG.

"New" is by first seen (an indicator's valid_from). A store whose newest data is old (sample
feeds from 2022) would draw 30 empty days, so the window then ends at the newest day there is
data for, and the page says so. Counting is per value (one compound file indicator with three
hashes is three values), from what indexer.search.values extracted: nothing is re-parsed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from indexer.search.model import SearchQuery, SearchResult
from indexer.store.base import Store
from indexer.timestamps import format_timestamp

DAY = 86_400_000_000
# Kinds drawn, bottom to top; cidr counts with ip, email and anything else as "other".
KINDS = ("ip", "domain", "url", "hash", "other")
_GROUP = {"ip": "ip", "cidr": "ip", "domain": "domain", "url": "url", "hash": "hash"}
PAGE = 500  # indicators fetched per search while counting

# Drawing area inside the SVG's viewBox (left and bottom margins hold the axis labels).
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 44


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    count: int
    day: str


@dataclass
class Trend:
    days: int
    start: str  # first day shown, YYYY-MM-DD
    end: str  # last day shown
    newest: str | None  # day of the newest indicator at all (None: the store is empty)
    stale: bool  # nothing in the last `recent_days`: the window ends at `newest` instead of today
    recent_days: int
    per_day: list[dict[str, int]]  # per day, kind -> values first seen that day
    totals: dict[str, int]  # over the window, by kind
    recent: dict[str, int]  # over the last `recent_days` of the window, by kind
    capped: bool  # more indicators than the limit: the counts are lower bounds
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[tuple[float, int]] = field(default_factory=list)  # (y, value)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, MM-DD)
    width: int = WIDTH
    height: int = HEIGHT
    plot: tuple[int, int, int, int] = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM)

    @property
    def total(self) -> int:
        return sum(self.totals.values())


def _day_start(micros: int) -> int:
    return micros - micros % DAY


def _search(store: Store, base: SearchQuery, **changes: Any) -> SearchResult:
    return store.search(replace(base, **changes))


def build_trend(
    store: Store,
    collections: tuple[str, ...],
    max_tlp: int,
    now: int,
    days: int = 30,
    recent_days: int = 7,
    max_objects: int = 5000,
) -> Trend:
    base = SearchQuery(collections=collections, max_tlp=max_tlp, types=("indicator",), revoked=False)
    newest_hits = _search(store, base, sort="-first_seen", limit=1).hits
    newest = newest_hits[0].first_seen if newest_hits and newest_hits[0].first_seen else None
    today = _day_start(now)
    stale = newest is None or newest < now - recent_days * DAY
    end = _day_start(newest) if (stale and newest is not None) else today
    start = end - (days - 1) * DAY
    per_day: list[dict[str, int]] = [dict.fromkeys(KINDS, 0) for _ in range(days)]
    seen = 0
    after = None
    capped = False
    while True:
        result = _search(
            store,
            base,
            first_seen_after=start - 1,
            first_seen_before=end + DAY,
            sort="first_seen",
            limit=PAGE,
            after=after,
        )
        for hit in result.hits:
            if hit.first_seen is None or not start <= hit.first_seen < end + DAY:
                continue
            index = (hit.first_seen - start) // DAY
            for value in hit.values:
                per_day[index][_GROUP.get(value["kind"], "other")] += 1
        seen += len(result.hits)
        if not result.more or not result.hits:
            break
        if seen >= max_objects:
            capped = True
            break
        after = result.hits[-1].position
    totals = {k: sum(d[k] for d in per_day) for k in KINDS}
    recent = {k: sum(d[k] for d in per_day[-recent_days:]) for k in KINDS}
    trend = Trend(
        days=days,
        start=format_timestamp(start)[:10],
        end=format_timestamp(end)[:10],
        newest=format_timestamp(newest)[:10] if newest else None,
        stale=stale,
        recent_days=recent_days,
        per_day=per_day,
        totals=totals,
        recent=recent,
        capped=capped,
    )
    _layout(trend, start)
    return trend


def _nice_top(peak: int) -> tuple[int, int]:
    """A round axis maximum at or above `peak`, and its tick step (1, 2, 5, 10, 20, 50...: <= 5 ticks)."""
    step, factors = 1, (2, 2.5, 2)
    index = 0
    while step * 5 < peak:
        step = int(step * factors[index % 3])
        index += 1
    return max(step, -(-peak // step) * step), step


def _layout(trend: Trend, start: int) -> None:
    left, top_y, right, bottom = trend.plot
    plot_w, plot_h = right - left, bottom - top_y
    peak = max((sum(d.values()) for d in trend.per_day), default=0)
    top, step = _nice_top(max(peak, 1))
    slot = plot_w / trend.days
    width = max(slot * 0.8, 1)
    for index, day in enumerate(trend.per_day):
        x = left + index * slot + (slot - width) / 2
        y = float(bottom)
        label = format_timestamp(start + index * DAY)[:10]
        for kind in KINDS:
            n = day[kind]
            if not n:
                continue
            h = n / top * plot_h
            y -= h
            trend.bars.append(Bar(round(x, 1), round(y, 1), round(width, 1), round(h, 1), kind, n, label))
    trend.y_ticks = [(round(bottom - v / top * plot_h, 1), v) for v in range(0, top + 1, step)]
    # Every 7th day from the last one backwards, so the newest day always has its label.
    trend.x_ticks = [
        (round(left + i * slot + slot / 2, 1), format_timestamp(start + i * DAY)[5:10])
        for i in range(trend.days - 1, -1, -7)
    ][::-1]
