"""Issue 10 item 15: logout left the session cookie valid.

A session cookie now carries the account's session generation, which logout (and rotate and
revoke) bump in the store: a copy of the cookie taken before logout opens nothing afterwards.
"""

from __future__ import annotations

from pathlib import Path

import requests

from cyberlab.accounts import rotate
from tests.helpers import Backend, LiveServer, csrf, prepare_store, start_server, web_login


def _copy(session: requests.Session) -> requests.Session:
    stolen = requests.Session()
    stolen.cookies.update(session.cookies)
    return stolen


def test_a_cookie_copied_before_logout_is_refused_after_it(server: LiveServer) -> None:
    partner, response = web_login(server.url, "partner", server.keys["partner"])
    assert response.status_code == 302
    stolen = _copy(partner)
    assert stolen.get(f"{server.url}/sightings/upload", allow_redirects=False, timeout=10).status_code == 200
    token = csrf(partner, f"{server.url}/sightings/upload")
    out = partner.post(f"{server.url}/logout", data={"csrf_token": token}, allow_redirects=False, timeout=10)
    assert out.status_code == 302
    # The old cookie: anonymous now, on every page (the upload form sends it to the login page).
    again = stolen.get(f"{server.url}/sightings/upload", allow_redirects=False, timeout=10)
    assert again.status_code == 302 and again.headers["Location"].endswith("/login")
    assert "Log out" not in stolen.get(f"{server.url}/", timeout=10).text
    # Logging in again works, with a fresh cookie.
    fresh, response = web_login(server.url, "partner", server.keys["partner"])
    assert response.status_code == 302
    assert fresh.get(f"{server.url}/sightings/upload", allow_redirects=False, timeout=10).status_code == 200


def test_rotating_a_key_ends_its_sessions(tmp_path: Path, backend: Backend) -> None:
    keys = prepare_store(tmp_path, backend)
    server = start_server(tmp_path, keys, workers=2, backend=backend)
    try:
        analyst, response = web_login(server.url, "analyst", keys["analyst"])
        assert response.status_code == 302
        store = server.open_store()
        rotate(store, "analyst")
        account = store.get_account("analyst")
        store.close()
        assert account is not None and account.session_generation == 1
        page = analyst.get(f"{server.url}/sightings/upload", allow_redirects=False, timeout=10)
        assert page.status_code == 302 and page.headers["Location"].endswith("/login")
    finally:
        server.stop()
