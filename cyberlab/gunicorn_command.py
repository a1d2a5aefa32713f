"""The gunicorn command line serving wsgi:app, built in one place: `cyberlab serve` runs it with
the settings (and the access log and hooks), cyberlab/devserver.py on a free loopback port."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOOKS = "python:cyberlab.gunicorn_hooks"  # drops exited workers' metrics (see that module)


def gunicorn_argv(
    bind: str,
    workers: int,
    timeout: int,
    *,
    access_log: str | None = None,
    config: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """`python -m gunicorn` from the project root. `access_log`: a file, or "-" for stdout (none
    when None); `config`: gunicorn's -c (e.g. HOOKS); `extra_args` go just before the app."""
    argv = [sys.executable, "-m", "gunicorn", "--chdir", str(PROJECT_ROOT)]
    argv += ["--bind", bind, "--workers", str(workers), "--timeout", str(timeout)]
    if access_log is not None:
        argv += ["--access-logfile", access_log]
    if config is not None:
        argv += ["--config", config]
    return [*argv, *extra_args, "wsgi:app"]
