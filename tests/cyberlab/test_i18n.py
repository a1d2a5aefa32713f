"""English and Spanish: every string of the small-business pages is marked and translated.

The catalog test fails on a marked string without a Spanish msgstr, the template test on visible
English text left unmarked, the .mo test on a compiled catalog older than its .po; over HTTP the
language follows Accept-Language, the header's switch (?lang=, then a cookie) and sets <html lang>.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from cyberlab.digest import _templates
from tests.helpers import LiveServer

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "cyberlab" / "web" / "templates"
CATALOG = ROOT / "cyberlab" / "translations" / "es" / "LC_MESSAGES"
# The small-business pages (and what they include); analyst and admin pages may stay English.
SMALL_BUSINESS = (
    "base.html",
    "_table.html",
    "home.html",
    "indicator.html",
    "check.html",
    "check_reported.html",
    "subscribe.html",
    "digest.html",
    "digest_email.html",
    "digest_email.txt",
    "unsubscribe.html",
    "error.html",
    "login.html",
)
# Words that are the same in both languages (names, protocols, code) or on analyst-only links.
SAME_IN_BOTH = {"TLP", "HTML", "taxii2-client", "(Python)", "curl", "Pivot", "Report", "queue", "Accounts"}


def _key(value: object) -> object:
    return value if isinstance(value, str) else tuple(value)  # type: ignore[call-overload]


def spanish() -> dict[object, object]:
    with (CATALOG / "messages.po").open("rb") as fh:
        return {_key(m.id): _key(m.string) for m in read_po(fh) if m.id}


def test_every_marked_string_has_a_spanish_translation() -> None:
    catalog = spanish()
    method_map = [
        ("web/templates/**.html", "jinja2"),
        ("web/templates/**.txt", "jinja2"),
        ("**.py", "python"),
    ]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
    missing = []
    found = 0
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "cyberlab"), method_map, keywords=keywords
    ):
        found += 1
        key = message if isinstance(message, str) else message[0]
        translated = catalog.get(_key(message))
        if not translated or (not isinstance(translated, str) and not all(translated)):
            missing.append(f"{filename}: {key}")
    assert found > 100
    assert not missing, "untranslated (run `make translations`, then translate):\n" + "\n".join(missing)


@pytest.mark.parametrize("name", SMALL_BUSINESS)
def test_no_visible_english_is_left_unmarked(name: str) -> None:
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
    text = re.sub(r"<(pre|code|script|style|title)\b.*?</\1>", " ", text, flags=re.S)
    if name.endswith(".html"):
        text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    words = [w for w in text.split() if not w.startswith(("/", "."))]  # paths and file endings
    leftovers = [w for w in words if re.search(r"[A-Za-z]{2}", w) and w not in SAME_IN_BOTH]
    assert not leftovers, f"{name}: text outside _(...): {leftovers[:10]}"


def test_the_compiled_catalog_matches_the_po() -> None:
    with (CATALOG / "messages.mo").open("rb") as fh:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(fh) if m.id}
    assert compiled == spanish(), "messages.mo is stale: run `make translations`"


def test_pages_follow_accept_language_and_the_switch(server: LiveServer) -> None:
    es = requests.get(f"{server.url}/", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}, timeout=10)
    assert '<html lang="es">' in es.text
    assert "Qué está atacando ahora a los negocios de la ciudad" in es.text
    assert "Valores nuevos por día, por tipo" in es.text and "What to do" not in es.text
    assert "Accept-Language" in es.headers.get("Vary", "")
    en = requests.get(f"{server.url}/", headers={"Accept-Language": "en-US"}, timeout=10)
    assert '<html lang="en">' in en.text and "What is attacking businesses in the city now" in en.text
    # The header's switch: ?lang= wins and is remembered in a cookie over Accept-Language.
    session = requests.Session()
    switched = session.get(f"{server.url}/check?lang=es", headers={"Accept-Language": "en"}, timeout=10)
    assert '<html lang="es">' in switched.text and "¿Es sospechoso?" in switched.text
    later = session.get(f"{server.url}/subscribe", headers={"Accept-Language": "en"}, timeout=10)
    assert '<html lang="es">' in later.text and "Suscribirse a los feeds" in later.text
    assert 'href="?lang=en"' in later.text  # and back
    back = session.get(f"{server.url}/login?lang=en", timeout=10)
    assert '<html lang="en">' in back.text and "Account name" in back.text
    # Error pages too.
    missing = requests.get(
        f"{server.url}/indicators/indicator--00000000-0000-4000-8000-000000000000",
        headers={"Accept-Language": "es", "Accept": "text/html"},
        timeout=10,
    )
    assert missing.status_code == 404 and "404 No encontrado" in missing.text and 'lang="es"' in missing.text


def test_an_unknown_language_falls_back_to_english(server: LiveServer) -> None:
    page = requests.get(f"{server.url}/?lang=xx", headers={"Accept-Language": "de, fr;q=0.8"}, timeout=10)
    assert page.status_code == 200 and '<html lang="en">' in page.text


def test_the_digest_email_in_spanish() -> None:
    context = {
        "platform": "CyberLab",
        "day": "2026-12-02",
        "since": "2026-12-01",
        "counts": [("direcciones IP", 2)],
        "total": 2,
        "top": [],
        "defang": str,
        "base": "http://127.0.0.1",
        "unsubscribe": "http://127.0.0.1/u",
        "frequency": "daily",
        "lang": "es",
    }
    text = _templates("es").get_template("digest_email.txt").render(context)
    assert "CyberLab: su resumen diario, 2026-12-02" in text
    assert "2 valores nuevos que bloquear desde el 2026-12-01:" in text
    assert "Darse de baja (sin iniciar sesión): http://127.0.0.1/u" in text
    html = _templates("es").get_template("digest_email.html").render(context)
    assert '<html lang="es">' in html and "Cambiar lo que recibe" in html
    english = _templates("en").get_template("digest_email.txt").render(context)
    assert "CyberLab: your daily digest, 2026-12-02" in english


def test_check_answers_in_the_readers_language(server: LiveServer) -> None:
    url = f"{server.url}/api/v1/check"
    es = requests.post(url, json={"text": "8.8.8.8"}, headers={"Accept-Language": "es"}, timeout=30).json()
    (entry,) = [r for r in es["results"] if r["value"] == "8.8.8.8"]
    assert (
        entry["why"].startswith("Benigno conocido")
        and entry["advice"] == "No hay nada que hacer con este valor."
    )
    en = requests.post(url, json={"text": "8.8.8.8"}, timeout=30).json()
    assert en["results"][0]["why"].startswith("Known benign")  # no Accept-Language: English
