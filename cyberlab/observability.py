"""Request ids, structured logs and Prometheus metrics.

Every response carries X-Request-ID (a client's own id is kept if it is sane) and every log line
written while serving it names it. /metrics exposes request counts and latency by endpoint and
status, ingest outcomes by connector (recorded in the store by the processes that ingest), and
the store's size. Under gunicorn, metrics are collected across workers with prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `cyberlab serve`).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from config.secret import redact_urls
from cyberlab.services import services

bp = Blueprint("metrics", __name__)
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Label values come from a fixed set: an invented method (or an unknown path) is one series, not
# a new one per request that would grow every scrape and the multiprocess files for good.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter("cyberlab_http_requests_total", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "cyberlab_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class TextFormatter(logging.Formatter):
    """Plain lines, URL credentials masked (a store's error names its host URL as configured)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_urls(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, URL credentials masked as in TextFormatter."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact_urls(orjson.dumps(entry).decode())


# The Elasticsearch driver (elasticsearch-py 7, elastic_transport under 8) logs every failed
# request at WARNING with the whole urllib3 traceback: dozens of lines per request while a node is
# down. The store already turns the failure into one StoreError naming the host and the cause,
# and the app logs that; the driver's own record is kept, cut to one line.
DRIVER_LOGGERS = ("elasticsearch", "elastic_transport", "urllib3")
_MAX_ERROR_CHARS = 500  # a node's error text can hold a whole response body


class DriverTracebackFilter(logging.Filter):
    """A driver's record with an exception: its message (method and URL, as the driver logs it)
    and the exception's type and text, on one line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name.partition(".")[0] in DRIVER_LOGGERS:
            error = record.exc_info[1]
            if error is not None:
                text = " ".join(f"{type(error).__name__}: {error}".split())[:_MAX_ERROR_CHARS]
                record.msg, record.args = f"{record.getMessage()}: {text}", None
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.addFilter(DriverTracebackFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


def install(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex[:16]
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "other"
        if endpoint != "/metrics":
            REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
            LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response


class StoreCollector(Collector):
    """Figures read from the store at scrape time: ingest outcomes and size on disk."""

    def collect(self) -> Iterator[Any]:
        store = services().store
        outcomes = CounterMetricFamily(
            "cyberlab_ingest_objects",
            "Objects by connector and outcome, over all ingest runs",
            labels=["connector", "outcome"],
        )
        for (connector, outcome), count in sorted(store.ingest_totals().items()):
            outcomes.add_metric([connector, outcome], count)
        yield outcomes
        size = GaugeMetricFamily("cyberlab_store_bytes", "Size of the store on disk")
        size.add_metric([], store.size_bytes())
        yield size


@bp.get("/metrics")
def metrics() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # all workers, summed
        body = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY)
    store_figures = CollectorRegistry()
    store_figures.register(StoreCollector())
    return Response(body + generate_latest(store_figures), content_type=CONTENT_TYPE_LATEST)
