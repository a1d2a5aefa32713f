"""gunicorn settings for a CyberLab server: `gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app`."""

import multiprocessing
import os

bind = os.environ.get("CYBERLAB_BIND", "127.0.0.1:8000")  # nginx in front terminates TLS
# Sync workers: each request is short (a keyset query and a splice of stored JSON); 2 per core.
workers = int(os.environ.get("CYBERLAB_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = 60  # a 10 MiB POST validates in ~2 s; anything near this is stuck
graceful_timeout = 30
max_requests = 10000  # recycle workers now and then
max_requests_jitter = 1000
accesslog = "-"
access_log_format = '%(h)s %(u)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"
forwarded_allow_ips = "127.0.0.1"
# /metrics sums every worker's counters from files in this directory (emptied at each start).
raw_env = [
    f"PROMETHEUS_MULTIPROC_DIR={os.environ.get('PROMETHEUS_MULTIPROC_DIR', '/run/cyberlab/prometheus')}"
]


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from cyberlab.gunicorn_hooks import child_exit as drop_dead_worker_metrics

    drop_dead_worker_metrics(server, worker)
