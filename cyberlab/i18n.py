"""English and Spanish for the small-business pages and the digest email (Flask-Babel).

The language is, in order: `?lang=` (remembered in a cookie, the header's switch), the `lang`
cookie, the browser's Accept-Language, English. Message catalogs live in
cyberlab/translations/<lang>/LC_MESSAGES/messages.po; the compiled .mo files are committed next
to them (`make translations` extracts, updates and compiles; a test checks the .mo matches the
.po and that every string of those templates has a Spanish translation), so a fresh clone needs
no build step. Analyst and admin pages may stay in English: their strings are not marked.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from flask import Flask, Response, g, request
from flask_babel import Babel, get_locale
from jinja2 import Environment

TRANSLATIONS = Path(__file__).with_name("translations")
LANGUAGES = ("en", "es")
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
COOKIE = "lang"
COOKIE_DAYS = 365


def select_locale() -> str:
    asked = request.args.get("lang", "")
    if asked in LANGUAGES:
        g.lang_switch = asked  # remembered by the cookie set in _remember
        return asked
    cookie = request.cookies.get(COOKIE, "")
    if cookie in LANGUAGES:
        return cookie
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def _remember(response: Response) -> Response:
    chosen = g.get("lang_switch")
    if chosen:
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_DAYS * 86400, samesite="Lax", httponly=True)
    if "text/html" in response.content_type:
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale and locale.language in LANGUAGES else LANGUAGES[0]


def install(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_LOCALE"] = LANGUAGES[0]
    Babel(app, locale_selector=select_locale)
    app.after_request(_remember)

    @app.context_processor
    def _language() -> dict[str, object]:
        return {"current_lang": current_language(), "language_names": LANGUAGE_NAMES}


@cache
def translations(language: str) -> NullTranslations:
    """The catalog for `language` (English: the msgids themselves), for rendering outside a request."""
    return Translations.load(str(TRANSLATIONS), [language if language in LANGUAGES else LANGUAGES[0]])


def install_in(env: Environment, language: str) -> None:
    """Give a plain Jinja environment (the digest email's) the catalog of `language`."""
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
