"""报表: the weekly 督查周报 and the monthly 月讲评 on screen (with their charts) and as
downloads (md, html, xlsx), built by ``reports`` exactly as ``duban report`` builds them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from duban.runtime import Runtime
from reports.errors import ReportError
from web.context import PageNotFound, PageRefused, Who, current, runtime_of
from web.errors import BadForm
from web.render import page

router = APIRouter()

KINDS = {"weekly": "督查周报", "monthly": "月讲评"}
DOWNLOADS = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def require_reports(who: Who) -> None:
    if not who.may_report:
        raise PageRefused("报表仅供督查室人员和单位负责人查看")


def build(rt: Runtime, kind: str, period_text: str | None) -> Any:
    from reports.monthly import office_monthly
    from reports.periods import last_complete_month, last_complete_week, parse_month, parse_week
    from reports.weekly import office_weekly

    now = rt.now()
    try:
        if kind == "weekly":
            period = parse_week(period_text) if period_text else last_complete_week(now, rt.tz)
        else:
            period = parse_month(period_text) if period_text else last_complete_month(now, rt.tz)
    except (ReportError, ValueError) as exc:
        raise BadForm(str(getattr(exc, "user", exc)), "bad period") from None
    with rt.session() as session:
        if kind == "weekly":
            return office_weekly(session, now=now, rules=rt.rules, policy=rt.policy, week=period)
        return office_monthly(session, now=now, rules=rt.rules, policy=rt.policy, month=period)


@router.get("/reports")
def reports_page(request: Request) -> Response:
    who = current(request)
    require_reports(who)
    rt = runtime_of(request)
    kind = request.query_params.get("kind") or "weekly"
    if kind not in KINDS:
        raise PageNotFound()
    report = build(rt, kind, request.query_params.get("period") or None)
    return page(
        request,
        "reports.html",
        who,
        kind=kind,
        kinds=KINDS,
        period=report.period.key,
        label=report.period.label,
        formats=list(DOWNLOADS),
    )


@router.get("/reports/{kind}/{name}")
def report_file(request: Request, kind: str, name: str) -> Response:
    """``/reports/weekly/2026-W47.html`` (charts inside the page), ``.md`` or ``.xlsx``."""
    who = current(request)
    require_reports(who)
    period, _, fmt = name.rpartition(".")
    if kind not in KINDS or fmt not in DOWNLOADS:
        raise PageNotFound()
    rt = runtime_of(request)
    report = build(rt, kind, period)
    from reports.render import write_report

    folder = Path(tempfile.mkdtemp(prefix="duban-report-"))
    target = folder / f"{kind}-{report.period.key}.{fmt}"
    written = write_report(report, target, fmt)
    path = written.files[fmt]
    inline = fmt == "html" and request.query_params.get("view") == "1"
    return FileResponse(
        path,
        media_type=DOWNLOADS[fmt],
        filename=None if inline else f"{KINDS[kind]}-{report.period.key}.{fmt}",
        content_disposition_type="inline" if inline else "attachment",
        background=BackgroundTask(shutil.rmtree, folder, True),
    )
