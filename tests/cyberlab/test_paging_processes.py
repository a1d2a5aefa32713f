"""`next` tokens are stateless: any worker, restarted server or second machine continues a walk."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from indexer.synthetic import indicators
from tests.helpers import TAXII, Backend, LiveServer, prepare_store, start_server

COUNT = 600


def post_all(server: LiveServer) -> None:
    objs = list(indicators(COUNT, seed=11))
    url = server.collection_url("paging") + "objects/"
    for start in range(0, COUNT, 300):
        response = requests.post(
            url,
            json={"objects": objs[start : start + 300]},
            auth=server.auth("admin"),
            headers={"Accept": TAXII, "Content-Type": TAXII},
            timeout=60,
        )
        assert response.json()["success_count"] == 300


def page(server: LiveServer, params: dict[str, str]) -> dict:  # type: ignore[type-arg]
    response = requests.get(
        server.collection_url("paging") + "objects/",
        params=params,
        auth=server.auth("subscriber"),
        headers={"Accept": TAXII},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def two_servers(tmp_path: Path, backend: Backend) -> Iterator[tuple[LiveServer, LiveServer]]:
    keys = prepare_store(tmp_path, backend)
    first, second = (
        start_server(tmp_path, keys, backend=backend),
        start_server(tmp_path, keys, backend=backend),
    )
    yield first, second
    first.stop()
    second.stop()


def test_pages_alternate_between_two_servers_and_survive_a_restart(
    two_servers: tuple[LiveServer, LiveServer], tmp_path: Path, backend: Backend
) -> None:
    first, second = two_servers
    post_all(first)
    seen: list[str] = []
    params = {"limit": "50"}
    servers = [first, second]
    for n in range(COUNT // 50):
        if n == 6:  # restart one of them in the middle of the walk
            first.stop()
            servers[0] = start_server(tmp_path, first.keys, backend=backend)
        body = page(servers[n % 2], params)
        seen.extend(o["id"] for o in body["objects"])
        if not body["more"]:
            break
        params["next"] = body["next"]
    servers[0].stop()
    assert len(seen) == len(set(seen)) == COUNT


def test_two_workers_with_concurrent_clients_each_see_everything_once(
    tmp_path: Path, backend: Backend
) -> None:
    keys = prepare_store(tmp_path, backend)
    log = tmp_path / "access.log"
    server = start_server(
        tmp_path,
        keys,
        workers=2,
        backend=backend,
        extra_args=("--access-logfile", str(log), "--access-logformat", "pid=%(p)s %(U)s %(q)s"),
    )
    try:
        post_all(server)
        results: dict[int, list[str]] = {}

        def walk(client: int) -> None:
            seen: list[str] = []
            params = {"limit": "40"}
            while True:
                body = page(server, params)
                seen.extend(o["id"] for o in body["objects"])
                if not body["more"]:
                    break
                params["next"] = body["next"]
            results[client] = seen

        threads = [threading.Thread(target=walk, args=(c,)) for c in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        server.stop()
    assert len(results) == 4
    for seen in results.values():
        assert len(seen) == len(set(seen)) == COUNT
    pids = {m.group(1) for m in re.finditer(r"pid=<(\d+)> \S+/objects/ \S*next=", log.read_text())}
    assert len(pids) == 2, "continuation pages should have been served by both workers"
