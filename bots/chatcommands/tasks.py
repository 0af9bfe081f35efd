"""督办事项 in chat: 进展 (units), 销号 and 催办 (supervisors); and the task side of 签收,
办结, 延期 and 核查, which take a task number (RW-2026-0001) as well as a ticket number."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta

from bots.chat import Chat, ChatCommand, Section, refused
from bots.identity import Speaker
from bots.messages import Command, IncomingMessage, Outcome, Reply, Response
from bots.numbers import parse_int
from desk import tasks as D
from desk.task_queries import task_rows, visible_task
from ledger.errors import DubanError, user_text
from ledger.tickets import Actor
from routing.context import RoutingContext
from tasks.workflow import leading_number

logger = logging.getLogger(__name__)

HIDDEN = "没有找到该督办事项，或您无权查看、办理（请核对编号，如 RW-2026-0001）"
PASS_WORDS = frozenset({"通过", "合格", "pass", "ok", "是"})
FAIL_WORDS = frozenset({"不通过", "不合格", "fail", "否", "续办"})
MILESTONE = re.compile(r"^节点\s*(\d{1,2})\s*[:：,，]?\s*")

Run = Callable[[RoutingContext, Actor], D.TaskStepResult]


def step(chat: Chat, who: Speaker, cmd: Command, run: Run) -> Response:
    """Run one ``desk.tasks`` step as the sender; refusals become polite replies."""
    person = who.person
    assert person is not None
    with chat.ctx.session() as session:
        task = visible_task(session, chat.viewer(who), cmd.number)
    if task is None:
        return refused(HIDDEN)
    try:
        result = run(chat.ctx, Actor.of(person))
    except DubanError as exc:
        logger.info("chat task step %s on %s refused for %s: %s", cmd.name, task.number,
                    person.code, type(exc).__name__)  # fmt: skip
        return refused(user_text(exc))
    return Response(Outcome.DONE, [Reply(result.text)])


def _with_number(cmd: Command, usage: str) -> Command | Response:
    """The command with its task number (typed first), or the usage as a refusal."""
    if cmd.number is not None and cmd.number.upper().startswith("RW-"):
        return cmd
    found = leading_number(cmd.args)
    if found is None:
        return refused(f"请写明督办事项编号，用法：{usage}")
    return Command(name=cmd.name, number=found[0], args=found[1], raw=cmd.raw)


# -- the units -------------------------------------------------------------------------------


def progress(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    usage = "/进展 RW-2026-0001 内容（完成节点时写：/进展 编号 节点1 内容）"
    found = _with_number(cmd, usage)
    if isinstance(found, Response):
        return found
    number, text = found.number or "", found.args
    milestone = None
    if (m := MILESTONE.match(text)) is not None:
        milestone, text = int(m.group(1)), text[m.end() :]
    if not text.strip():
        return refused(f"请写明进展内容，用法：{usage}")
    return step(chat, who, found, lambda ctx, actor: D.progress(
        ctx, number, text, actor=actor, milestone=milestone))  # fmt: skip


def acknowledge(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    return step(chat, who, cmd, lambda ctx, actor: D.acknowledge(ctx, number, actor=actor))


def finish(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    if not cmd.args.strip():
        return refused(f"请写明办结情况：/办结 {number} 办理结果")
    return step(chat, who, cmd, lambda ctx, actor: D.finish(ctx, number, cmd.args, actor=actor))


def extend(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    number = cmd.number or ""
    first, reason = [*cmd.args.split(maxsplit=1), "", ""][:2]
    days = parse_int(first)
    example = f"例如：/延期 {number} 5 需协调供电部门"
    if days is None:
        return refused(f"延期天数须为正整数（工作日），{example}")
    if not reason.strip():
        return refused(f"请写明延期理由，{example}")
    return step(chat, who, cmd, lambda ctx, actor: D.request_extension(
        ctx, number, days, reason.strip(), actor=actor))  # fmt: skip


# -- the supervisors ---------------------------------------------------------------------


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
        return refused(f"核查不通过须写明意见，例如：/核查 {number} 不通过 {score} 缺验收材料")
    return step(chat, who, cmd, lambda ctx, actor: D.verify(
        ctx, number, passed=passed, score=score, actor=actor, note=note))  # fmt: skip


def close(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    found = _with_number(cmd, "/销号 RW-2026-0001 [意见]")
    if isinstance(found, Response):
        return found
    number, note = found.number or "", found.args.strip() or None
    return step(chat, who, found, lambda ctx, actor: D.close(ctx, number, actor=actor, note=note))


def remind(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    usage = "/催办 RW-2026-0001 催办意见"
    found = _with_number(cmd, usage)
    if isinstance(found, Response):
        return found
    number, note = found.number or "", found.args.strip()
    if not note:
        return refused(f"请写明催办意见，用法：{usage}")
    return step(chat, who, found, lambda ctx, actor: D.remind(ctx, number, note, actor=actor))


# -- everyone: the list ---------------------------------------------------------------------


def task_list(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    """``/事项 [红|黄|蓝|绿]``: the tasks this chat may see (a unit's chat: that unit's), the
    most urgent first, with colour and working days left."""
    wanted = cmd.args.strip().removesuffix("色") or None
    if wanted is not None and wanted not in ("红", "黄", "蓝", "绿"):
        return refused("用法：/事项 [红|黄|蓝|绿]")
    order = {"红": 0, "黄": 1, "蓝": 2, "绿": 3}
    with chat.ctx.session() as session:
        rows = task_rows(
            session, rules=chat.ctx.rules, policy=chat.ctx.policy.tasks, now=chat.ctx.now(),
            viewer=chat.viewer(who), colour=wanted,
        )  # fmt: skip
    rows = sorted(
        (r for r in rows if r.colour in order),
        key=lambda r: (order[r.colour], r.workdays_left if r.workdays_left is not None else 9999),
    )
    if not rows:
        return Response(Outcome.ANSWERED, [Reply("没有需要办理的督办事项")])
    shown = rows[:LIST_MAX]
    lines = [f"{r.number}【{r.colour}】{r.lead_unit_name} {r.clock} {r.title}" for r in shown]
    more = f"\n……另有 {len(rows) - len(shown)} 项" if len(rows) > len(shown) else ""
    return Response(Outcome.ANSWERED, [Reply("【督办事项】\n" + "\n".join(lines) + more)])


LIST_MAX = 30


# -- the desk: 周交办 ---------------------------------------------------------------------------


def weekly(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    """``/周交办`` + lines ``单位：事项（时限）``: hand them over; alone: last week's answers."""
    person = who.person
    assert person is not None
    text = cmd.args.strip()
    if not text:
        since = chat.ctx.now() - timedelta(days=7)
        lines = [line for _, line in D.weekly_answers(chat.ctx, since=since)]
        if not lines:
            return Response(Outcome.ANSWERED, [Reply("最近一周没有周交办事项。\n" + WEEKLY_USAGE)])
        return Response(Outcome.ANSWERED, [Reply("【周交办·一周一答卷】\n" + "\n".join(lines))])
    try:
        result = D.weekly_paste(chat.ctx, text, actor=Actor.of(person))
    except DubanError as exc:
        return refused(user_text(exc) + "\n" + WEEKLY_USAGE)
    return Response(Outcome.DONE, [Reply(result.text)])


WEEKLY_USAGE = (
    "用法：/周交办 后每行一项「单位：事项（时限）」，如：住建局：东湖路积水点改造（本周五前）"
)


# the task side of commands declared for tickets (``bots.registry`` joins them)
TASK_CALLBACKS = {"签收": acknowledge, "办结": finish, "延期": extend, "核查": verify}

COMMANDS = (
    ChatCommand("进展", ("progress", "jz"), "/进展 RW-编号 内容",
                "报送督办事项进展（完成节点写：节点1 内容）；/签收 /办结 /延期 也可写 RW- 编号",
                Section.UNIT, progress),
    ChatCommand("销号", ("close",), "/销号 RW-编号 [意见]",
                "督办事项核查通过后销号（督查员或牵头领导）", Section.SUPERVISOR, close),
    ChatCommand("催办", ("urge", "remind"), "/催办 RW-编号 意见",
                "催办督办事项（记入台账，发给牵头和配合单位）；/核查 也可写 RW- 编号",
                Section.SUPERVISOR, remind),
    ChatCommand("事项", ("tasks", "sx"), "/事项 [红|黄|蓝|绿]",
                "督办事项列表：颜色、剩余工作日（单位群只列本单位牵头或配合的）", Section.COMMON,
                task_list),
    ChatCommand("周交办", ("weekly",), "/周交办 [每行：单位：事项（时限）]",
                "周一会议事项逐行交办；不带内容则列出最近一周各事项的答卷", Section.INTAKE,
                weekly),
)  # fmt: skip
