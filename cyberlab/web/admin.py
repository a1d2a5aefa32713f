"""Admin pages: invite accounts, revoke them, rotate their keys (admin role, CSRF-checked forms).

A new key is shown once, on a page that is never cached; only its hash is stored.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask.blueprints import BlueprintSetupState

from config.settings import ROLES
from cyberlab import accounts
from cyberlab.auth.caller import Caller
from cyberlab.errors import Forbidden, Unauthorized, register_error_page
from cyberlab.services import services
from cyberlab.web.security import check_csrf, web_caller

bp = Blueprint("web_admin", __name__, url_prefix="/admin")


@bp.record_once
def _error_pages(state: BlueprintSetupState) -> None:
    from cyberlab.web.views import render_error  # the pages share one error template

    register_error_page(state.app, bp.name, render_error)


def require_admin() -> Caller:
    caller = web_caller()
    if caller.anonymous:
        # No Basic challenge on a web page: a browser would answer it with its own login dialog.
        raise Unauthorized(
            "the admin pages need an admin account: log in, then come back", "Log in first", headers={}
        )
    if caller.role != "admin":
        raise Forbidden("the admin pages are for admin accounts")
    return caller


def _list(notice: str = "", error: str = "", status: int = 200) -> tuple[str, int]:
    rows = sorted(services().store.list_accounts(), key=lambda a: (not a.active, a.name))
    page = render_template("admin.html", accounts=rows, roles=ROLES, notice=notice, error=error)
    return page, status


def _key_page(name: str, key: str, what: str) -> Response:
    response = Response(render_template("admin_key.html", name=name, key=key, what=what))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/accounts")
def account_list() -> tuple[str, int]:
    require_admin()
    return _list()


@bp.post("/accounts")
def invite() -> Response | tuple[str, int]:
    require_admin()
    check_csrf()
    name, role = request.form.get("name", "").strip(), request.form.get("role", "")
    try:
        key = accounts.invite(services().store, name, role)
    except accounts.AccountError as exc:
        return _list(error=str(exc), status=400)
    return _key_page(name, key, f"Account {name} ({role}) created.")


@bp.post("/accounts/<name>/revoke")
def revoke(name: str) -> tuple[str, int]:
    caller = require_admin()
    check_csrf()
    if name == caller.name:
        return _list(error="you cannot revoke your own account (another admin can)", status=400)
    try:
        accounts.revoke(services().store, name)
    except accounts.AccountError as exc:
        return _list(error=str(exc), status=404)
    return _list(notice=f"Account {name} revoked: its key and its sessions stopped working.")


@bp.post("/accounts/<name>/rotate")
def rotate(name: str) -> Response | tuple[str, int]:
    caller = require_admin()
    check_csrf()
    try:
        key = accounts.rotate(services().store, name)
    except accounts.AccountError as exc:
        return _list(error=str(exc), status=404)
    what = f"New key for {name}; the old one stopped working."
    if name == caller.name:
        what += " This ends your own session too: log in again with the new key."
    return _key_page(name, key, what)
