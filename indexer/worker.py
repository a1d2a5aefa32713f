"""`cyberlab worker`: every enabled connector on its own schedule, one failure never stops the rest."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from types import FrameType

from config import CyberlabError, Settings
from indexer.pipeline import Pipeline
from indexer.store.base import Store

log = logging.getLogger(__name__)


Job = tuple[int, Callable[[], None]]  # (seconds between runs, what to run)


def run_worker(
    settings: Settings,
    store: Store,
    once: bool = False,
    max_cycles: int | None = None,
    jobs: dict[str, Job] | None = None,
) -> None:
    """jobs: other periodic work by name (the email digest: cyberlab.cli passes it in, since the
    indexer never imports cyberlab), run on its schedule like a connector and as isolated."""
    jobs = jobs or {}
    enabled = [name for name, conn in settings.connectors.items() if conn.enabled]
    if not enabled and not jobs:
        log.warning("worker.idle: no enabled connectors")
        return
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("worker.stopping signal=%d", signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    due = {name: 0.0 for name in [*enabled, *jobs]}
    cycles = 0
    log.info("worker.start connectors=%s", ",".join(enabled))
    while not stopping:
        for name in enabled:
            if stopping or time.monotonic() < due[name]:
                continue
            try:
                report = Pipeline(settings, store, name).run()
                log.info(
                    "worker.run connector=%s %s",
                    name,
                    " | ".join(line.strip() for line in report.lines()[1:6]),
                )
            except CyberlabError as exc:
                log.error("worker.failed connector=%s error=%s", name, exc)
            except Exception:  # a connector bug must not take the other connectors down
                log.exception("worker.crashed connector=%s", name)
            due[name] = time.monotonic() + settings.connectors[name].schedule
        for name, (every, job) in jobs.items():
            if stopping or time.monotonic() < due[name]:
                continue
            try:
                job()
            except Exception:  # a failed digest run is retried at its next slot; connectors go on
                log.exception("worker.crashed job=%s", name)
            due[name] = time.monotonic() + every
        cycles += 1
        if once or (max_cycles is not None and cycles >= max_cycles):
            return
        time.sleep(max(0.5, min(due.values()) - time.monotonic()) if due else 1)
