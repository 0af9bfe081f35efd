"""The unit's steps: 签收, 回复 / 办结, 延期, 退回."""

from __future__ import annotations

from bots import state
from bots.chat import Chat, ChatCommand, Section, is_reply_draft, refused
from bots.identity import Speaker
from bots.messages import Command, IncomingMessage, Outcome, Reply, Response
from bots.numbers import normalise_number, parse_int
from desk import tickets as D
from ledger.models import TicketState


def acknowledge(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    return chat.step(who, cmd, lambda ctx, actor: D.acknowledge(ctx, number, actor=actor))


def reply(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if cmd.args:
        return chat.step(who, cmd, lambda ctx, actor: D.reply(ctx, number, cmd.args, actor=actor))
    return chat.prompt(
        msg, who, cmd,
        f"请发送 {number} 的反馈内容，可分多条发送；写完发送 /办结 提交，/取消 放弃。",
    )  # fmt: skip


def finish(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    """办结 = submit the final reply: the collected draft (plus any text given here)."""
    number = cmd.number or ""
    with chat.ctx.session() as session:
        draft = state.get_draft(
            session, platform=msg.platform, chat_id=msg.chat_id, account_id=msg.sender_id,
            now=chat.ctx.now(),
        )  # fmt: skip
        parts: list[str] = []
        if (
            draft is not None
            and is_reply_draft(draft.command)
            and normalise_number(draft.command.split()[-1]) == number
        ):
            parts = list(draft.parts)
    text = "\n".join([*parts, cmd.args] if cmd.args else parts).strip()
    if not text:
        with chat.ctx.session() as session:
            ticket = chat.visible(session, who, number)
            if ticket is not None and ticket.state == TicketState.REPLIED:
                return Response(
                    Outcome.ANSWERED,
                    [Reply(f"{ticket.number} 已反馈，等待督查室核查", ticket_id=ticket.id)],
                )
        return refused(
            f"请写明办结情况：/办结 {number} 办理结果；或先发送 /回复 {number}，"
            "分多条写完后再发 /办结"
        )
    response = chat.step(who, cmd, lambda ctx, actor: D.reply(ctx, number, text, actor=actor))
    if response.outcome == Outcome.DONE and parts:
        chat.drop_draft(msg)
    return response


def extend(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if not cmd.args:
        return chat.prompt(msg, who, cmd, "请发送：延期天数 理由，例如：3 需协调供电部门检修")
    first, reason = [*cmd.args.split(maxsplit=1), ""][:2]
    days = parse_int(first)
    example = f"例如：/延期 {number} 3 需协调供电部门检修"
    if days is None:
        return refused(f"延期天数须为正整数（工作日），{example}")
    if not reason.strip():
        return refused(f"请写明延期理由，{example}")
    return chat.step(
        who, cmd,
        lambda ctx, actor: D.request_extension(ctx, number, days, reason.strip(), actor=actor),
    )  # fmt: skip


def return_ticket(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if not cmd.args:
        return chat.prompt(msg, who, cmd, "请发送退回理由，例如：不属于本单位职责，建议转城管局")
    return chat.step(
        who, cmd, lambda ctx, actor: D.return_ticket(ctx, number, cmd.args, actor=actor)
    )


COMMANDS = (
    ChatCommand("签收", ("ack", "qs"), "/签收 编号", "签收交办件", Section.UNIT, acknowledge,
                needs_ticket=True),
    ChatCommand("回复", ("reply", "反馈"), "/回复 编号 内容",
                "反馈办理情况（可多次补充；不写内容则分多条编写，写完发 /办结 提交）",
                Section.UNIT, reply, needs_ticket=True),
    ChatCommand("办结", ("done", "finish"), "/办结 编号 [内容]",
                "提交最终反馈（办结报告），等待督查室核查", Section.UNIT, finish,
                needs_ticket=True),
    ChatCommand("延期", ("extend", "申请延期"), "/延期 编号 天数 理由", "申请延期（工作日）",
                Section.UNIT, extend, needs_ticket=True),
    ChatCommand("退回", ("return", "back"), "/退回 编号 理由",
                "不属于本单位职责，退回督查室重新分办", Section.UNIT, return_ticket,
                needs_ticket=True),
)  # fmt: skip
