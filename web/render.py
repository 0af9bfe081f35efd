"""Jinja2 templates and the filters the pages share (times in the office's zone)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ledger.models import SOURCE_LABELS, STATE_LABELS, SourceKind, TicketState
from ledger.tickets import ACTION_LABELS
from web.context import Who, runtime_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES))


def _state_label(value: str | None) -> str:
    if not value:
        return ""
    try:
        return STATE_LABELS[TicketState(value)]
    except ValueError:
        return value


templates.env.filters["state_label"] = _state_label
templates.env.filters["action_label"] = lambda a: ACTION_LABELS.get(a, a)
templates.env.filters["pct"] = lambda v: "" if v is None else f"{float(v):.0%}"
templates.env.globals["SOURCE_LABELS"] = {k.value: v for k, v in SOURCE_LABELS.items()}
templates.env.globals["SOURCES"] = [(k.value, SOURCE_LABELS[k]) for k in SourceKind]
templates.env.globals["STATES"] = [(s.value, STATE_LABELS[s]) for s in TicketState]


def page(
    request: Request,
    template: str,
    who: Who | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    rt = runtime_of(request)
    tz = rt.tz

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "" if value is None else value.astimezone(tz).strftime(fmt)

    def day(value: date | None) -> str:
        return "" if value is None else value.isoformat()

    return templates.TemplateResponse(
        request,
        template,
        {"who": who, "local": local, "day": day, "path": request.url.path, **context},
        status_code=status,
    )
