"""The "Is this suspicious?" page (everyone), its one-click report, and the analysts' report queue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext

from cyberlab.api.check import refuse_oversized, run_check
from cyberlab.api.sightings import record_sightings
from cyberlab.check import validate
from cyberlab.errors import BadRequest, Forbidden, NotFound, register_error_page
from cyberlab.reports import ReportError, accept, file_report, reject
from cyberlab.services import services
from cyberlab.web.security import check_csrf, web_caller
from indexer.sightings import ReportedLine

bp = Blueprint("web_check", __name__, template_folder="templates")


@bp.record_once
def _error_pages(state: BlueprintSetupState) -> None:
    from cyberlab.web.views import render_error  # the pages share one error template

    register_error_page(state.app, bp.name, render_error)


SIGHTING_ROLES = ("partner", "analyst", "admin")
ANALYST_ROLES = ("analyst", "admin")


def _page(
    answer: dict[str, Any] | None = None, error: str = "", text: str = "", status: int = 200
) -> tuple[str, int]:
    cfg = services().settings.check
    html = render_template(
        "check.html",
        answer=answer,
        error=error,
        text=text,
        max_text_kb=cfg.max_text_bytes // 1000,
        max_eml_kb=cfg.max_eml_bytes // 1000,
        max_values=cfg.max_values,
        sighting_roles=SIGHTING_ROLES,
    )
    return html, status


@bp.route("/check", methods=["GET", "POST"])
def check_page() -> tuple[str, int]:
    if request.method == "GET":
        return _page()
    refuse_oversized()
    check_csrf()
    caller = web_caller()
    file = request.files.get("file")
    text = request.form.get("text", "")
    if file is not None and file.filename:
        answer = run_check(caller, None, file.read(services().settings.check.max_eml_bytes + 1))
    elif text.strip():
        answer = run_check(caller, text, None)
    else:
        return _page(error="Paste something to check, or choose an .eml file.", status=400)
    return _page(answer, text=text)


@bp.post("/check/report")
def report() -> Response | tuple[str, int]:
    caller = web_caller()
    if caller.anonymous:
        return redirect(url_for("web.login"))  # type: ignore[return-value]
    check_csrf()
    checked = validate(request.form.get("value", ""), request.form.get("type", ""))
    if checked is None:
        raise BadRequest("that is not a value of the kind it claims to be", title="Bad report")
    value, kind = checked
    if caller.role in SIGHTING_ROLES:
        receipt = record_sightings(caller, [ReportedLine(1, value, kind)])
        line = receipt["lines"][0]
        outcomes = {
            "accepted": gettext("recorded as your sighting"),
            "duplicate": gettext("you had already reported it"),
        }
        outcome = outcomes.get(line["status"], f"not recorded: {line.get('reason', '')}")
        return render_template("check_reported.html", value=value, outcome=outcome, queue=False), 200
    svc = services()
    try:
        file_report(svc.store, svc.sanitizer, caller.name or "", kind, value)
    except ReportError as exc:
        return render_template("check_reported.html", value=value, outcome=str(exc), queue=False), 400
    outcome = gettext("queued for the city’s analysts, who will look at it")
    return render_template("check_reported.html", value=value, outcome=outcome, queue=True), 200


@bp.get("/reports")
def queue() -> Response | tuple[str, int]:
    caller = web_caller()
    if caller.anonymous:
        return redirect(url_for("web.login"))  # type: ignore[return-value]
    if caller.role not in ANALYST_ROLES:
        raise Forbidden("the report queue is for analysts")
    return _queue_page("")


def _queue_page(error: str, status: int = 200) -> tuple[str, int]:
    reports = services().store.list_check_reports()
    open_reports = [r for r in reports if r.status == "open"]
    decided = sorted((r for r in reports if r.status != "open"), key=lambda r: r.decided or 0, reverse=True)
    html = render_template("reports.html", open_reports=open_reports, decided=decided[:50], error=error)
    return html, status


@bp.post("/reports/<report_id>")
def decide(report_id: str) -> Response | tuple[str, int]:
    caller = web_caller()
    if caller.anonymous:
        return redirect(url_for("web.login"))  # type: ignore[return-value]
    if caller.role not in ANALYST_ROLES:
        raise Forbidden("the report queue is for analysts")
    check_csrf()
    svc = services()
    found = svc.store.get_check_report(report_id[:100])
    if found is None:
        raise NotFound("there is no such report")
    try:
        if request.form.get("action") == "accept":
            accept(svc.store, svc.settings, svc.sanitizer, found, caller.name or "")
        elif request.form.get("action") == "reject":
            reject(svc.store, found, caller.name or "", request.form.get("reason", ""))
        else:
            return _queue_page("Choose accept or reject.", 400)
    except ReportError as exc:
        return _queue_page(str(exc), 400)
    return redirect(url_for("web_check.queue"))  # type: ignore[return-value]
