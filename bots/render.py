"""Chinese text the bot posts: ticket details, to-do lists, intake outcomes, help."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from bots.messages import Action
from bots.text import shorten

BOT_NAME = "督办助手"

HELP_UNIT = """单位经办人：
/签收 编号 — 签收交办件
/回复 编号 内容 — 反馈办理情况（可多次补充）
/回复 编号 — 开始分多条编写反馈，写完发 /办结 提交
/办结 编号 [内容] — 提交最终反馈（办结报告），等待督查室核查
/延期 编号 天数 理由 — 申请延期（工作日）
/退回 编号 理由 — 不属于本单位职责，退回督查室重新分办"""

HELP_SUPERVISOR = """督查人员：
/批准延期 编号 [天数] [意见]　/驳回延期 编号 意见
/核查 编号 通过|不通过 评分1-5 [意见] — 不通过即转续办
/续办 编号 理由　/通报 编号 内容　/归档 编号　/备注 编号 内容
/报表 [上周|本周|2026-W47] — 督查周报（附图表）"""

HELP_INTAKE = """录入台：
直接粘贴或转发留言即登记（多条之间空一行或用 --- 分隔；首行可写「批示件：」「来信：」注明来源）
/分办 编号 单位名称 — 交办或改派　/单位 关键词 — 查单位名称"""

HELP_COMMON = """通用：
/待办 — 我的待办　/详情 编号 — 查看督办件　/身份 — 我的绑定信息
/绑定 绑定码 — 绑定本人账号　/取消 — 放弃正在编写的内容　/帮助 — 本说明
回复督办卡片时可省略编号；英文别名：/ack /reply /done /extend /return /approve /deny /verify"""


def help_text(roles: set[str] | None) -> str:
    """The commands for these roles (all of them when ``roles`` is None)."""
    sections = []
    if roles is None or roles & {"member", "leader"}:
        sections.append(HELP_UNIT)
    if roles is None or roles & {"supervisor", "admin"}:
        sections.append(HELP_SUPERVISOR)
    if roles is None or roles & {"intake", "supervisor", "admin"}:
        sections.append(HELP_INTAKE)
    sections.append(HELP_COMMON)
    return f"【{BOT_NAME}·命令】\n" + "\n\n".join(sections)


def detail_text(d: dict[str, Any], events: list[dict[str, Any]], *, tz: tzinfo) -> str:
    """``ledger.views.ticket_detail`` as a chat message (times in the office's zone)."""
    left = d.get("workdays_left")
    clock = ""
    if left is not None:
        clock = f"（已超期 {-left} 个工作日）" if d["overdue"] else f"（剩 {left} 个工作日）"
    lines = [
        f"【详情】{d['number']}　{d['state_label']}",
        f"来源：{d['source_label']}　收件：{_day(d['message']['received_at'], tz)}",
        f"责任单位：{d['unit_name'] or '待分办'}",
        f"办理时限：{d['due_date']}{clock}"
        + ("（临时时限）" if d["deadline_provisional"] else "")
        + (f"　原时限 {d['original_due_date']}" if d["extension_days"] else ""),
    ]
    if d["message"].get("title"):
        lines.append(f"标题：{d['message']['title']}")
    lines.append(f"内容：{d['message']['text']}")
    for r in d["replies"]:
        who = r["author"] or "-"
        lines.append(f"反馈（第{r['round']}轮，{who}，{_day(r['at'], tz)}）：{r['text']}")
    for x in d["extensions"]:
        status = {"requested": "待审批", "approved": "已批准", "denied": "未批准"}.get(
            x["status"], x["status"]
        )
        lines.append(f"延期申请 {x['days']} 个工作日（{status}）：{x['reason']}")
    if d.get("quality_score"):
        lines.append(f"核查评分：{d['quality_score']} 分")
    if events:
        lines.append("办理记录：")
        for e in events[-8:]:
            note = f"：{shorten(e['note'], 40)}" if e.get("note") else ""
            lines.append(f"· {_day(e['at'], tz)} {e['action_label']} {e['actor']}{note}")
    return "\n".join(lines)


def todo_text(title: str, rows: list[dict[str, Any]], *, empty: str) -> str:
    if not rows:
        return f"【{title}】{empty}"
    lines = [f"【{title}】共 {len(rows)} 件"]
    for row in rows[:30]:
        left = row["workdays_left"]
        clock = (
            ""
            if left is None
            else (f"超期{-left}个工作日" if row["overdue"] else f"剩{left}个工作日")
        )
        lines.append(
            f"· {row['number']} {row['state_label']} {row['unit_name'] or '待分办'} "
            f"时限{row['due_date']} {clock}".rstrip()
        )
    if len(rows) > 30:
        lines.append(f"……另有 {len(rows) - 30} 件，请用 duban tickets list 查看")
    return "\n".join(lines)


def outcome_text(o: Any) -> tuple[str, tuple[Action, ...]]:
    """One ``routing.pipeline.ItemOutcome`` as the answer in the intake chat, with buttons."""
    row = f"第{o.row}条：" if o.row else ""
    confidence = f"（置信度 {o.confidence:.0%}）" if o.confidence is not None else ""
    if o.status == "opened":
        return (
            f"【已立项】{row}{o.ticket} → {o.unit_name or o.unit}{confidence}\n"
            f"办理时限：{o.due_date or '-'}",
            (),
        )
    if o.status == "triage":
        lines = [f"【待分办】{row}{o.ticket}{confidence}，请人工选择责任单位"]
        actions = []
        for index, s in enumerate(o.suggestions[:3], start=1):
            share = f"（{s['confidence']:.0%}）" if s.get("confidence") is not None else ""
            lines.append(f"{index}. {s['unit_name']}{share}")
            actions.append(Action(f"{index}. {s['unit_name']}", f"/分办 {o.ticket} {s['unit']}"))
        lines.append(f"分办：/分办 {o.ticket} 单位名称（可写简称，/单位 关键词 可查）")
        if o.due_date:
            lines.append(f"办理时限：{o.due_date}")
        return "\n".join(lines), tuple(actions)
    if o.status == "duplicate":
        return f"【重复件】{row}已并入 {o.duplicate_of or o.ticket}", ()
    if o.status == "known":
        return f"【已登记】{row}此条此前已登记：{o.ticket or o.duplicate_of or '-'}", ()
    if o.status == "queued":
        return f"【处理中】{row}已收到，正在分办，结果稍后通知", ()
    return f"【未登记】{row}{o.reason or '内容无法登记'}", ()


def _day(value: Any, tz: tzinfo) -> str:
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return str(value)
