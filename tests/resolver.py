"""A real Unbound resolver on 127.0.0.1 for the RPZ export tests (Debian's unbound package).

Unbound loads the export as its `rpz:` zone and answers for one local domain from an `auth-zone`
served to its own iterator (`for-upstream: yes`): no network, yet every answer goes through the
iterator and the respip module, so both kinds of RPZ trigger apply: QNAME (the listed name and
its subdomains) and response IP (`rpz-ip`: a name whose address is listed).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

UNBOUND = shutil.which("unbound") or ("/usr/sbin/unbound" if Path("/usr/sbin/unbound").exists() else None)


@dataclass(frozen=True)
class Resolver:
    port: int
    log: Path

    def ask(self, name: str, timeout: float = 5) -> tuple[str, list[str]]:
        """(rcode, A addresses) of one query for `name`."""
        query = dns.message.make_query(name, dns.rdatatype.A)
        answer = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=timeout)
        addresses = [
            item.address for rrset in answer.answer if rrset.rdtype == dns.rdatatype.A for item in rrset
        ]
        return dns.rcode.to_text(answer.rcode()), addresses


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def unbound(tmp_path: Path, rpz_zone: str, origin: str, records: dict[str, str]) -> Iterator[Resolver]:
    """Unbound with `rpz_zone` as its RPZ (zone rpz.cyberlab.) and `records` (name -> IPv4) in an
    auth zone for `origin`. Runs in the foreground (-d) as the current user; stopped afterwards."""
    assert UNBOUND is not None
    (tmp_path / "rpz.zone").write_text(rpz_zone)
    lines = [f"$ORIGIN {origin}.", "$TTL 300", "@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300"]
    lines += ["@ NS localhost."] + [f"{name}. A {address}" for name, address in records.items()]
    (tmp_path / "local.zone").write_text("\n".join(lines) + "\n")
    port = _free_udp_port()
    log = tmp_path / "unbound.log"
    (tmp_path / "unbound.conf").write_text(
        f"""server:
  interface: 127.0.0.1
  port: {port}
  do-ip6: no
  do-tcp: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{tmp_path}"
  pidfile: ""
  use-syslog: no
  logfile: "{log}"
  verbosity: 1
  access-control: 127.0.0.0/8 allow
  module-config: "respip validator iterator"
rpz:
  name: rpz.cyberlab.
  zonefile: "{tmp_path / "rpz.zone"}"
  rpz-log: yes
  rpz-log-name: cyberlab
auth-zone:
  name: {origin}.
  zonefile: "{tmp_path / "local.zone"}"
  for-downstream: no
  for-upstream: yes
  fallback-enabled: no
"""
    )
    process = subprocess.Popen(
        [UNBOUND, "-d", "-c", str(tmp_path / "unbound.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        resolver = Resolver(port, log)
        deadline = time.monotonic() + 20
        while True:  # ready when it answers (it refuses a bad zone by exiting)
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise AssertionError(f"unbound exited: {output}{log.read_text() if log.exists() else ''}")
            try:
                resolver.ask(f"ready.{origin}", timeout=0.5)
                break
            except (dns.exception.Timeout, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield resolver
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
