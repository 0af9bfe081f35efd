"""The intake desk's commands: 分办 (交办 / 改派) and 单位 (find a unit's name)."""

from __future__ import annotations

from bots.chat import HIDDEN, Chat, ChatCommand, Section, refused
from bots.identity import Speaker
from bots.messages import Action, Command, IncomingMessage, Outcome, Reply, Response
from desk import tickets as D
from ledger.directory import list_units


def assign(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if cmd.args:
        return chat.step(who, cmd, lambda ctx, actor: D.assign(ctx, number, cmd.args, actor=actor))
    with chat.ctx.session() as session:
        ticket = chat.visible(session, who, number)
        if ticket is None:
            return refused(HIDDEN)
        number = ticket.number
        actions = tuple(
            Action(f"{i}. {s.get('unit_name') or s.get('unit')}", f"/分办 {number} {s['unit']}")
            for i, s in enumerate(ticket.suggestions[:3], start=1)
            if s.get("unit")
        )
    lines = [f"请发送：/分办 {ticket.number} 单位名称（可写简称；/单位 关键词 可查单位）"]
    if actions:
        lines.append("建议：" + "　".join(a.label for a in actions))
    return Response(
        Outcome.ANSWERED, [Reply("\n".join(lines), actions=actions, ticket_id=ticket.id)]
    )


def units(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    key = cmd.args.strip()
    with chat.ctx.session() as session:
        found = [
            u
            for u in list_units(session, active_only=True)
            if not key or any(key in name for name in (u.code, u.name, u.short_name, *u.aliases))
        ]
    if not found:
        return refused(f"没有名称含「{key}」的单位")
    lines = [f"【单位】{'含「' + key + '」' if key else '全部'}（{len(found)}）"]
    lines += [f"· {u.short_name}（{u.code}）{u.name}" for u in found[:40]]
    return Response(Outcome.ANSWERED, [Reply("\n".join(lines))])


COMMANDS = (
    ChatCommand("分办", ("assign", "交办", "改派"), "/分办 编号 单位名称",
                "交办或改派（不写单位则列出模型建议）", Section.INTAKE, assign, needs_ticket=True),
    ChatCommand("单位", ("units", "查单位"), "/单位 关键词", "查单位名称", Section.INTAKE, units),
)  # fmt: skip
