"""The "Email digest" page (subscribe, change, stop) and the unsubscribe link of every digest."""

from __future__ import annotations

import re
from dataclasses import replace

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState

from cyberlab.auth.access import readable_collections
from cyberlab.digest import UnsubscribeTokens
from cyberlab.errors import BadRequest, register_error_page
from cyberlab.services import services
from cyberlab.web.security import check_csrf, web_caller
from indexer.store.base import DigestSubscription
from indexer.timestamps import now_micros

bp = Blueprint("web_digest", __name__, template_folder="templates")


@bp.record_once
def _error_pages(state: BlueprintSetupState) -> None:
    from cyberlab.web.views import render_error  # the pages share one error template

    register_error_page(state.app, bp.name, render_error)


# One plain address: no display name, no list, nothing that could add a header (CR/LF).
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


@bp.route("/digest", methods=["GET", "POST"])
def settings_page() -> Response | tuple[str, int]:
    caller = web_caller()
    if caller.anonymous:
        return redirect(url_for("web.login"))  # type: ignore[return-value]
    store = services().store
    readable = readable_collections(caller, services().settings.collections.values())
    current = store.get_digest_subscription(caller.name or "")
    error, saved, status = "", False, 200
    if request.method == "POST":
        check_csrf()
        wanted = tuple(request.form.getlist("collection"))
        allowed = {c.id for c in readable}
        address = request.form.get("address", "").strip()
        frequency = request.form.get("frequency", "daily")
        if any(c not in allowed for c in wanted):
            error = "You may only receive collections your account may read."
        elif frequency not in ("daily", "weekly"):
            error = "How often must be daily or weekly."
        elif not _ADDRESS.match(address) or len(address) > 254:
            error = "Give one email address, such as owner@myshop.example."
        elif request.form.get("enabled") and not wanted:
            error = "Choose at least one collection."
        if error:
            status = 400
        else:
            current = DigestSubscription(
                account=caller.name or "",
                enabled=bool(request.form.get("enabled")),
                frequency="weekly" if frequency == "weekly" else "daily",
                collections=wanted,
                address=address,
                html=request.form.get("format") == "html",
                updated=now_micros(),
            )
            store.save_digest_subscription(current)
            saved = True
    html = render_template(
        "digest.html",
        sub=current,
        collections=readable,
        error=error,
        saved=saved,
        form=request.form if error else None,
    )
    return html, status


@bp.route("/digest/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> tuple[str, int]:
    """GET shows a button (mail scanners open links: a GET must change nothing); POST, from that
    button or a mail client's one-click unsubscribe (RFC 8058), stops the digest. The signed token
    is the authority, so neither needs a login or a CSRF token."""
    account = UnsubscribeTokens(services().settings.server.signing_key.reveal()).account(token)
    if account is None:
        raise BadRequest(
            "this unsubscribe link is not one this server issued, or it was cut short", title="Bad link"
        )
    store = services().store
    sub = store.get_digest_subscription(account)
    done = False
    if request.method == "POST":
        if sub is not None and sub.enabled:
            store.save_digest_subscription(replace(sub, enabled=False, updated=now_micros()))
        done = True
    return render_template(
        "unsubscribe.html", account=account, done=done, token=token, active=bool(sub and sub.enabled)
    ), 200
