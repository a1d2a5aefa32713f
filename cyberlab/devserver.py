"""The real server started for a test or a benchmark: gunicorn serving wsgi:app on 127.0.0.1.

tests/helpers.py and bench/ both start servers through `start`, so what they measure and what
they test is the same process tree. The command line is `cyberlab serve`'s (gunicorn_command.py);
unlike that, this one always binds a free loopback port, has no access log or hooks unless asked
(extra_args), takes the whole environment from the caller (settings come from CYBERLAB_*
variables, as in wsgi.py) and waits until a worker answers.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cyberlab.gunicorn_command import gunicorn_argv


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevServer:
    """A started gunicorn: its base URL, the master process and where its output went."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None

    def log(self) -> str:
        """What gunicorn and the app wrote so far (empty when the output was discarded)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10) -> None:
        stop(self.process, timeout)


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM (gunicorn's graceful stop), SIGKILL if it is still there after `timeout` s."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start(
    env: Mapping[str, str],
    *,
    workers: int = 1,
    timeout: int = 60,
    extra_args: Sequence[str] = (),
    log_dir: Path | None = None,
    startup_seconds: float = 30,
) -> DevServer:
    """Start gunicorn with `env` as its whole environment; return once /healthz answers.

    `timeout` is gunicorn's worker timeout; `extra_args` go before the app (e.g. `--config
    python:cyberlab.gunicorn_hooks`). Output goes to `log_dir`/gunicorn-PORT.log, or nowhere.
    Raises RuntimeError with the log when gunicorn exits or does not answer within
    `startup_seconds`. (/healthz is never rate-limited, so the probe spends no test's quota.)
    """
    port = free_port()
    log_path = log_dir / f"gunicorn-{port}.log" if log_dir is not None else None
    output: IO[bytes] | int = log_path.open("wb") if log_path is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            gunicorn_argv(f"127.0.0.1:{port}", workers, timeout, extra_args=extra_args),
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    finally:
        if not isinstance(output, int):
            output.close()  # the child has its own copy
    server = DevServer(f"http://127.0.0.1:{port}", process, log_path)
    wait_until_answering(server.url + "/healthz", process, startup_seconds, server.log)
    return server


def wait_until_answering(
    url: str,
    process: subprocess.Popen[bytes],
    seconds: float,
    log: Callable[[], str] | None = None,
) -> None:
    """Poll `url` until any HTTP answer comes back; fail early if `process` exits.

    The port accepts connections before a worker has imported the app, so a refused or slow
    first request means "still starting", not "broken". `log` supplies the server's output
    for the error message.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log() if log else ''}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # an error status is an answer: the server is up
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"server did not answer {url} within {seconds:.0f} s: {log() if log else ''}")
