"""Printed documents of tasks: the 督办通知单, the 一事一档 (a task's whole file) and the
督查通报 (praise and criticism, units named), DOCX.

Both use the official layout of the reports (``reports.docx``: A4, GB/T 9704 margins, the
office in red over the 文号 and a red rule, 小标宋 title, 仿宋 body at a fixed line, 黑体
headings, the office's fonts and their stand-ins from ``policy.yaml``), the office as
发文机关署名 over the date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from desk.task_queries import TaskDetail, TaskRow
from ledger.policy import OfficePolicy
from reports.docx import ER_HAO, RED, SI_HAO, WU_HAO, _signature, _Writer
from reports.errors import RenderError
from reports.masthead import chinese_date
from reports.outputs import SHARED, atomic_path
from tasks.errors import TaskImportError

CN_NUMBERS = "一二三四五六七八九十"


@dataclass
class _Head:
    fonts: dict[str, list[str]]


@dataclass
class _Doc:
    """What ``reports.docx._Writer`` reads of a report: the fonts and the time zone."""

    masthead: _Head
    timezone: str
    extra: dict[str, Any] = field(default_factory=dict)


def _writer(office: OfficePolicy, tz: ZoneInfo) -> _Writer:
    fonts = {k: list(v) for k, v in office.fonts.model_dump().items()}
    return _Writer(_Doc(masthead=_Head(fonts=fonts), timezone=str(tz)))  # type: ignore[arg-type]


def doc_number(office: OfficePolicy, number: str) -> str:
    """文号 of a notice: the office's code with 通, the task's year and serial."""
    _, year, serial = number.split("-")
    code = office.weekly_code.removesuffix("周") or "督"
    return f"{code}通〔{year}〕{int(serial)}号"


def _header(w: _Writer, office: OfficePolicy, number_line: str) -> None:
    w.para(office.name, kind="title", size=ER_HAO + 4, align="center", indent=False, color=RED)
    w.red_rule(w.para(number_line, align="center", indent=False))
    w.para()


def _grid(w: _Writer, rows: list[tuple[str, str]]) -> None:
    """A two-column table: label, value."""
    from docx.enum.text import WD_LINE_SPACING

    table = w.doc.add_table(rows=len(rows), cols=2)
    table.style = "Table Grid"
    for index, (label, value) in enumerate(rows):
        for col, text in enumerate((label, value)):
            paragraph = table.cell(index, col).paragraphs[0]
            paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
            paragraph.paragraph_format.first_line_indent = 0
            run = w._run(paragraph, text, "body", SI_HAO)
            run.bold = col == 0
    w.doc.add_paragraph()


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _save(document: Any, path: Path) -> Path:
    try:
        with atomic_path(path, mode=SHARED) as temp:
            document.save(str(temp))
    except OSError as exc:
        raise RenderError(f"{path}: 无法写入: {exc}", "cannot write") from exc
    return path


def _basics(detail: TaskDetail) -> list[tuple[str, str]]:
    r = detail.row
    stones = "；".join(
        f"{m.seq}. {m.title}（{m.due_date.isoformat()}前）" for m in detail.milestones
    )
    report = "每月报送一次进展" if r.ongoing else "按规定时间报送进展"
    return [
        ("编号", r.number),
        ("任务名称", r.title),
        ("工作要求", detail.requirements or "—"),
        ("来源", r.source_label + (f"（{detail.source_ref}）" if detail.source_ref else "")),
        ("牵头领导", r.leader or "—"),
        ("牵头单位", r.lead_unit_name),
        ("配合单位", "、".join(r.support_units) or "—"),
        ("完成时限", r.deadline_text),
        ("节点", stones or "—"),
        ("报送要求", report),
    ]


def build_notice(detail: TaskDetail, *, office: OfficePolicy, now: datetime, tz: ZoneInfo) -> Any:
    """督办通知单: the task as the lead unit receives it on paper."""
    r = detail.row
    w = _writer(office, tz)
    _header(w, office, doc_number(office, r.number))
    w.para("督办通知单", kind="title", size=ER_HAO, align="center", indent=False)
    w.para()
    w.para(f"{r.lead_unit_name}：", align="left", indent=False)
    source = r.source_label + (f"（{detail.source_ref}）" if detail.source_ref else "")
    support = f"，{'、'.join(r.support_units)}配合" if r.support_units else ""
    w.para(
        f"根据{source}安排，现将下列事项交你单位牵头办理{support}。请高度重视，明确专人负责，"
        + (
            "长期坚持，每月报送进展情况。"
            if r.ongoing
            else f"于{r.due_date.isoformat() if r.due_date else '规定时限'}前办结，"
            "并按要求报送进展和办结情况。"
        )
    )
    _grid(w, _basics(detail))
    w.para("请收到后及时签收（聊天中发送 /签收 " + r.number + "）。", size=SI_HAO)
    w.para()
    _signature(w, office.issuer or office.name, chinese_date(now.astimezone(tz).date()))
    w.fallbacks()
    return w.doc


def build_dossier(detail: TaskDetail, *, office: OfficePolicy, now: datetime, tz: ZoneInfo) -> Any:
    """一事一档: every fact, report, score, extension and event of one task."""
    r = detail.row
    w = _writer(office, tz)
    _header(w, office, f"一事一档　{r.number}")
    w.para(r.title, kind="title", size=ER_HAO, align="center", indent=False)
    w.para(
        f"状态：{r.state_label}　颜色：{r.colour}　生成时间：{_local(now, tz)}",
        align="center",
        indent=False,
        size=SI_HAO,
    )
    sections: list[tuple[str, list[str] | list[tuple[str, str]]]] = []
    basics = [
        *_basics(detail),
        ("立项时间", _local(detail.created_at, tz)),
        ("交办时间", _local(detail.assigned_at, tz)),
        ("办结时间", _local(detail.finished_at, tz)),
        ("销号时间", _local(detail.closed_at, tz)),
        ("核查评分", f"{detail.quality_score} 分" if detail.quality_score else "—"),
        ("续办次数", str(detail.reopen_count)),
        ("催办次数", str(detail.remind_count)),
    ]
    sections.append(("基本情况", basics))
    sections.append(
        (
            "进展与办结报告",
            [
                f"{_local(p.at, tz)}　{p.unit or ''}{p.kind_label}（第{p.round}轮）"
                + (f"，节点{p.milestone}完成" if p.milestone else "")
                + (f"，核查评分 {p.quality} 分" if p.quality else "")
                + f"：{p.text}"
                for p in detail.reports
            ]
            or ["（无）"],
        )
    )
    sections.append(
        (
            "延期",
            [
                f"{_local(e.requested_at, tz)} 申请延期 {e.days} 个工作日，理由：{e.reason}；"
                + {"approved": "批准", "denied": "驳回", "requested": "待审批"}.get(
                    e.status, e.status
                )
                + (f"，时限由 {e.old_due_date} 改为 {e.new_due_date}" if e.new_due_date else "")
                + (f"（{e.note}）" if e.note else "")
                for e in detail.extensions
            ]
            or ["（无）"],
        )
    )
    sections.append(
        (
            "办理记录",
            [
                f"{_local(e.at, tz)}　{e.action_label}　{e.actor}"
                + (f"：{e.note}" if e.note else "")
                for e in detail.events
            ],
        )
    )
    for index, (heading, body) in enumerate(sections):
        w.para(f"{CN_NUMBERS[index]}、{heading}", kind="heading")
        if body and isinstance(body[0], tuple):
            _grid(w, body)
        else:
            for line in body:
                w.para(str(line), size=WU_HAO + 1.5)
    w.para()
    _signature(w, office.issuer or office.name, chinese_date(now.astimezone(tz).date()))
    w.fallbacks()
    return w.doc


def write_notice(
    detail: TaskDetail, path: Path, *, office: OfficePolicy, now: datetime, tz: ZoneInfo
) -> Path:
    _check(path)
    return _save(build_notice(detail, office=office, now=now, tz=tz), path)


def write_dossier(
    detail: TaskDetail, path: Path, *, office: OfficePolicy, now: datetime, tz: ZoneInfo
) -> Path:
    _check(path)
    return _save(build_dossier(detail, office=office, now=now, tz=tz), path)


def _check(path: Path) -> None:
    if path.suffix.lower() != ".docx":
        raise TaskImportError(f"{path}：须为 .docx 文件", "not a .docx path")


def build_bulletin(
    *,
    title_period: str,
    groups: Sequence[Any],
    late: Sequence[TaskRow],
    office: OfficePolicy,
    now: datetime,
    tz: ZoneInfo,
) -> Any:
    """督查通报: praise (红旗) and criticism (黄旗, 问责提示, tasks past their deadline),
    with the units named. ``groups``: ``reports.ranking.GroupRanking`` of the month."""
    w = _writer(office, tz)
    _header(w, office, f"{office.weekly_code.removesuffix('周') or '督'}通报〔{now.year}〕")
    w.para("督查通报", kind="title", size=ER_HAO, align="center", indent=False)
    w.para(title_period, kind="title", size=SI_HAO + 2, align="center", indent=False)
    w.para()
    if office.recipients:
        w.para(f"{office.recipients}：", align="left", indent=False)
    w.para(f"现将{title_period}督查督办工作情况通报如下。")
    sections: list[tuple[str, list[str]]] = []
    praise = [
        f"{g.label}：{'、'.join(e.label for e in g.entries if e.flag == '红旗')}"
        for g in groups
        if any(e.flag == "红旗" for e in g.entries)
    ]
    sections.append(("通报表扬（红旗单位）", praise or ["本期无。"]))
    criticism = [
        f"{g.label}：{'、'.join(e.label for e in g.entries if e.flag == '黄旗')}，"
        "请在月讲评会上作表态发言"
        for g in groups
        if any(e.flag == "黄旗" for e in g.entries)
    ]
    criticism += [
        f"{e.label}连续在{g.label}中排名末位，启动问责程序"
        for g in groups
        for e in g.entries
        if e.accountability
    ]
    sections.append(("通报批评（黄旗单位及问责提示）", criticism or ["本期无。"]))
    sections.append(
        (
            "超期未办结的督办事项",
            [f"{r.number}　{r.lead_unit_name}：{r.title}（{r.deadline_text}）" for r in late]
            or ["本期无。"],
        )
    )
    for index, (heading, lines) in enumerate(sections):
        w.para(f"{CN_NUMBERS[index]}、{heading}", kind="heading")
        for line in lines:
            w.para(line)
    w.para()
    _signature(w, office.issuer or office.name, chinese_date(now.astimezone(tz).date()))
    w.fallbacks()
    return w.doc


def write_bulletin(path: Path, **kwargs: Any) -> Path:
    _check(path)
    return _save(build_bulletin(**kwargs), path)
