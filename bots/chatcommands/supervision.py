"""The supervisors' steps: 批准/驳回延期, 核查, 续办, 通报, 归档, 备注."""

from __future__ import annotations

from bots.chat import Chat, ChatCommand, Section, refused
from bots.identity import Speaker
from bots.messages import Command, IncomingMessage, Response
from bots.numbers import parse_int
from desk import tickets as D

PASS_WORDS = frozenset({"通过", "合格", "pass", "ok", "是"})
FAIL_WORDS = frozenset({"不通过", "不合格", "fail", "否", "续办"})


def approve(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    first, rest = [*cmd.args.split(maxsplit=1), "", ""][:2]
    days = parse_int(first) if first else None
    note = (rest if days is not None else cmd.args).strip() or None
    return chat.step(
        who, cmd,
        lambda ctx, actor: D.decide_extension(
            ctx, number, approve=True, actor=actor, days=days, note=note
        ),
    )  # fmt: skip


def deny(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if not cmd.args:
        return chat.prompt(msg, who, cmd, "请发送驳回意见，例如：理由不充分，请按期办结")
    return chat.step(
        who, cmd,
        lambda ctx, actor: D.decide_extension(
            ctx, number, approve=False, actor=actor, note=cmd.args
        ),
    )  # fmt: skip


def verify(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    words = cmd.args.split(maxsplit=2)
    usage = f"用法：/核查 {number} 通过 评分1-5 [意见]，或 /核查 {number} 不通过 评分1-5 意见"
    if len(words) < 2 or words[0].lower() not in PASS_WORDS | FAIL_WORDS:
        return refused(usage)
    score = parse_int(words[1].removesuffix("分"))
    if score is None:
        return refused(usage)
    passed = words[0].lower() in PASS_WORDS
    note = words[2] if len(words) > 2 else None
    if not passed and note is None:
        return refused(f"核查不通过须写明意见，例如：/核查 {number} 不通过 {score} 未答复费用问题")
    return chat.step(
        who, cmd,
        lambda ctx, actor: D.verify(
            ctx, number, passed=passed, score=score, actor=actor, note=note
        ),
    )  # fmt: skip


def reopen(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if not cmd.args:
        return chat.prompt(msg, who, cmd, "请发送续办理由")
    return chat.step(who, cmd, lambda ctx, actor: D.reopen(ctx, number, cmd.args, actor=actor))


def escalate(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if not cmd.args:
        return chat.prompt(msg, who, cmd, "请发送通报内容")
    return chat.step(who, cmd, lambda ctx, actor: D.escalate(ctx, number, cmd.args, actor=actor))


def archive(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    return chat.step(
        who, cmd, lambda ctx, actor: D.archive(ctx, number, actor=actor, note=cmd.args or None)
    )


def comment(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if not cmd.args:
        return chat.prompt(msg, who, cmd, "请发送备注内容")
    return chat.step(who, cmd, lambda ctx, actor: D.comment(ctx, number, cmd.args, actor=actor))


COMMANDS = (
    ChatCommand("批准延期", ("approve",), "/批准延期 编号 [天数] [意见]",
                "批准延期（天数不超过申请天数）", Section.SUPERVISOR, approve, needs_ticket=True),
    ChatCommand("驳回延期", ("deny",), "/驳回延期 编号 意见", "驳回延期申请",
                Section.SUPERVISOR, deny, needs_ticket=True),
    ChatCommand("核查", ("verify", "check"), "/核查 编号 通过|不通过 评分1-5 [意见]",
                "核查反馈并评分，不通过即转续办", Section.SUPERVISOR, verify, needs_ticket=True),
    ChatCommand("续办", ("reopen",), "/续办 编号 理由", "要求继续办理", Section.SUPERVISOR,
                reopen, needs_ticket=True),
    ChatCommand("通报", ("escalate",), "/通报 编号 内容", "通报督办件", Section.SUPERVISOR,
                escalate, needs_ticket=True),
    ChatCommand("归档", ("archive",), "/归档 编号", "核查通过后归档", Section.SUPERVISOR,
                archive, needs_ticket=True),
    ChatCommand("备注", ("note", "comment"), "/备注 编号 内容", "在办理记录中加备注",
                Section.SUPERVISOR, comment, needs_ticket=True),
)  # fmt: skip
