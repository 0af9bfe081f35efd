"""导入: upload a CSV / XLSX / JSONL export or paste text; the per-row result as the CLI
gives it (``intake.outcome``)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import col, func, select
from starlette.datastructures import UploadFile

from duban.runtime import Runtime
from intake.errors import IntakeError
from intake.items import IntakeItem
from intake.outcome import outcome_text, summary_text
from intake.paste import parse_instruction, split_pasted
from intake.readers import ImportOptions, read_file, screen_junk
from ledger.models import Message, MessageStatus, SourceKind
from routing.pipeline import IntakeSummary, file_items
from web.context import PageRefused, Who, current, form_of, runtime_of
from web.errors import BadForm
from web.render import page

router = APIRouter()

SUFFIXES = (".csv", ".txt", ".xlsx", ".jsonl", ".ndjson")
LISTED_ROWS = 200
STATUS_LABELS = {
    "opened": "已立项",
    "triage": "待分办",
    "duplicate": "重复件",
    "known": "已导入过",
    "rejected": "未登记",
    "queued": "排队中",
}


def require_import(who: Who) -> None:
    if not who.may_import:
        raise PageRefused("导入仅供录入员和督查人员使用")


@router.get("/intake")
def intake_page(request: Request) -> Response:
    who = current(request)
    require_import(who)
    return page(request, "intake.html", who, summary=None)


@router.post("/intake")
async def intake_post(request: Request) -> Response:
    who = current(request)
    form = await form_of(request)
    require_import(who)
    rt = runtime_of(request)
    try:
        kind = SourceKind.parse(str(form.get("source") or "网民留言"))
    except ValueError:
        raise BadForm("未知来源，可选：网民留言、群众来信、批示件、其他", "bad source") from None
    upload = form.get("file")
    text = str(form.get("text") or "").strip()
    error, summary = None, None
    first_id = _last_message_id(rt) + 1
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            summary = await _import_file(rt, who, upload, kind, force=bool(form.get("force")))
        elif text:
            items = [_pasted(part, kind, who.person.code) for part in split_pasted(text)]
            if not items:
                raise BadForm("没有可登记的内容", "empty paste")
            summary = file_items(rt.routing, items)
        else:
            raise BadForm("请上传文件，或粘贴文字", "nothing to import")
    except IntakeError as exc:
        error = str(exc)
    rows = [
        {
            "row": o.row,
            "status": STATUS_LABELS.get(o.status, o.status),
            "ticket": o.ticket,
            "text": outcome_text(o, row_word="行")[0],
        }
        for o in (summary.outcomes if summary else [])
    ]
    queued = bool(summary and summary.queued)
    return page(
        request,
        "intake.html",
        who,
        status=400 if error else 200,
        summary=summary_text(summary) if summary else None,
        counts=summary,
        rows=rows,
        error=error,
        progress=progress(rt, first_id, _last_message_id(rt)) if queued else None,
    )


def _last_message_id(rt: Runtime) -> int:
    with rt.session() as session:
        return int(session.exec(select(func.max(Message.id))).one() or 0)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the routing jobs of one import have come (messages ``first``..``last``)."""

    first: int
    last: int
    waiting: int  # stored, a routing job will open their tickets
    done: int

    @property
    def finished(self) -> bool:
        return self.waiting == 0


def progress(rt: Runtime, first: int, last: int) -> Progress:
    with rt.session() as session:
        counts = dict(
            session.exec(
                select(Message.status, func.count())
                .where(col(Message.id) >= first, col(Message.id) <= last)
                .group_by(col(Message.status))
            ).all()
        )
    waiting = counts.get(MessageStatus.RECEIVED.value, 0)
    return Progress(first, last, waiting, sum(counts.values()) - waiting)


@router.get("/intake/progress")
def intake_progress(request: Request, first: int, last: int) -> Response:
    """The progress block of an import whose routing runs as jobs (htmx polls it)."""
    who = current(request)
    require_import(who)
    return page(request, "_progress.html", who, progress=progress(runtime_of(request), first, last))


async def _import_file(
    rt: Runtime, who: Who, upload: UploadFile, kind: SourceKind, *, force: bool
) -> IntakeSummary:
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise BadForm(
            f"不支持的文件类型「{suffix or '无扩展名'}」：请上传 CSV、XLSX 或 JSONL", "bad suffix"
        )
    fd, name = tempfile.mkstemp(prefix="duban-import-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            while chunk := await upload.read(1 << 20):
                handle.write(chunk)
        options = ImportOptions(
            source_kind=kind,
            channel="import",  # as `duban intake`: a file imported twice is known
            tz=rt.tz,
            submitter=who.person.code,
            limits=rt.policy.intake,
        )
        if not force:
            screen_junk(path, options)
        return file_items(
            rt.routing, read_file(path, options), keep_outcomes=False, keep_first=LISTED_ROWS
        )
    finally:
        path.unlink(missing_ok=True)


def _pasted(text: str, kind: SourceKind, by: str) -> IntakeItem:
    item = IntakeItem(text=text, source_kind=kind, channel="paste", submitter=by)
    if kind is SourceKind.INSTRUCTION:
        item.has_time_limit, item.time_limit_days = parse_instruction(text)
    return item
