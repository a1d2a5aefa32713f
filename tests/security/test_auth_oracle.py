"""Issue 10 item 9: scrypt as an oracle and a lever.

A wrong key for an existing account cost 63-90 ms, for an unknown name 3 ms: anyone could tell
whether `acme-bank` has an account. Now unknown names are checked against a dummy hash (equal
work), verified credentials are remembered under an HMAC of the whole credential (and forgotten
when the key is revoked or rotated), and failed logins are throttled per address (429).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import requests

from cyberlab.accounts import revoke, rotate
from indexer.store.embedded import EmbeddedStore
from tests.helpers import TAXII, LiveServer, basic, prepare_store, start_server, web_login

ROUNDS = 7


def _took(server: LiveServer, name: str, key: str) -> float:
    started = time.perf_counter()
    response = requests.get(
        server.root + "collections/",
        headers={"Accept": TAXII, "Authorization": basic(name, key)},
        timeout=20,
    )
    assert response.status_code == 401
    return time.perf_counter() - started


def test_a_wrong_key_costs_the_same_for_unknown_and_existing_names(server: LiveServer) -> None:
    known, unknown = [], []
    for n in range(ROUNDS):  # interleaved, so a busy moment of the shared CPU hits both alike
        known.append(_took(server, "subscriber", f"wrong-key-{n}"))
        unknown.append(_took(server, f"acme-bank-{n}", f"wrong-key-{n}"))
    known_ms, unknown_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
    assert known_ms > 15, known_ms  # scrypt really ran
    # Before: 3 ms against 63-90 ms (a ratio near 0.05). Generous bounds for a shared CPU.
    assert 0.4 < unknown_ms / known_ms < 2.5, (unknown_ms, known_ms)


def test_failed_logins_are_throttled_and_a_revoked_key_is_forgotten(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    server = start_server(tmp_path, keys, workers=2, CYBERLAB_RATE_LIMIT__FAILED_LOGINS="5 per minute")
    collections = server.root + "collections/"
    try:
        # The subscriber's key is verified once (remembered: no scrypt on its next requests).
        for _ in range(4):  # both workers, most likely
            ok = requests.get(
                collections, auth=server.auth("subscriber"), headers={"Accept": TAXII}, timeout=10
            )
            assert ok.status_code == 200
        # Wrong keys from one address: 401 while under the limit, then 429 before any scrypt.
        # Exactly 5 across both workers: the count is shared (with per-worker counts, up to
        # 2 x 5 got through).
        answers = []
        started = time.monotonic()
        for n in range(14):
            response = requests.get(
                collections,
                headers={"Accept": TAXII, "Authorization": basic("partner", f"guess-{n}")},
                timeout=10,
            )
            answers.append(response)
        assert time.monotonic() - started < 30
        codes = [r.status_code for r in answers]
        assert codes == [401] * 5 + [429] * 9, codes
        limited = next(r for r in answers if r.status_code == 429)
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        assert "too many failed logins" in limited.json()["description"]
        # The login form counts against the same address: it is throttled already (a page, with
        # Retry-After; under the limit the form answers 200 with an error).
        forms = [web_login(server.url, "partner", "another-guess")[1] for _ in range(3)]
        assert [f.status_code for f in forms] == [429] * 3
        form = forms[0]
        assert form.status_code == 429 and "too many failed logins" in form.text
        assert "Retry-After" in form.headers

        # Revoking the (remembered) key ends it at once on every worker; so does rotating.
        store = EmbeddedStore(tmp_path)
        revoke(store, "subscriber")
        after = [
            requests.get(collections, auth=server.auth("subscriber"), headers={"Accept": TAXII}, timeout=10)
            for _ in range(4)
        ]
        assert {r.status_code for r in after} <= {401, 429}, [r.status_code for r in after]
        new_key = rotate(store, "subscriber")
        store.close()
        assert {
            requests.get(
                collections, auth=("subscriber", new_key), headers={"Accept": TAXII}, timeout=10
            ).status_code
            for _ in range(2)
        } <= {200, 429}
    finally:
        server.stop()
