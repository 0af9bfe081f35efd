"""The desk's verbs for 督办事项 (leaders' key tasks), as ``desk.tickets`` is for tickets.

Each function runs one transaction: the task is read under a lock; the caller's
``expected_version`` is checked; the state and role (``tasks.workflow``) and the
separation of duties are checked; the move and its one event are written with the outbox
rows (task cards) that tell the units or the supervisors; all commit together and the bots
are nudged after the commit. A refused move raises and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from desk.errors import DutyConflict, StaleVersion
from desk.task_queries import TaskRow, milestones_by_task, row_of
from ledger.directory import list_units
from ledger.errors import BadInput, PermissionDenied
from ledger.models import Audience, Notification, Task, Unit
from ledger.outbox import add_notification, add_notifications, notification_row
from ledger.tickets import Actor
from routing.context import RoutingContext
from tasks import workflow as W
from tasks.importer import ImportSummary, import_tasks

# Steps that judge the lead unit's work: never by a person of that unit.
JUDGING_ACTIONS = frozenset(
    {"verify_pass", "verify_fail", "approve_extension", "deny_extension", "close"}
)


@dataclass(frozen=True, slots=True)
class TaskStepResult:
    """What a step did: the task as it is now, and a sentence for the person who acted."""

    row: TaskRow
    text: str

    @property
    def number(self) -> str:
        return self.row.number

    @property
    def state(self) -> str:
        return self.row.state

    @property
    def version(self) -> int:
        return self.row.version


Step = Callable[[Session, Task, datetime], str]


def _row(
    ctx: RoutingContext,
    session: Session,
    task: Task,
    now: datetime,
    units: dict[int, Unit] | None = None,
) -> TaskRow:
    if units is None:
        units = {u.id: u for u in list_units(session) if u.id is not None}
    return row_of(
        task,
        W.milestones_of(session, task) if task.id is not None else [],
        units=units,
        rules=ctx.rules,
        policy=ctx.policy.tasks,
        now=now,
    )


def _run(
    ctx: RoutingContext,
    number: str,
    actor: Actor,
    step: Step,
    *,
    expected_version: int | None,
    action: str | None = None,
) -> TaskStepResult:
    now = ctx.now()
    with ctx.session() as session:
        task = W.get_task(session, number, for_update=True)
        check_version(task, expected_version)
        if action is not None:
            W.check_allowed(task, action, actor)
            check_duties(session, task, action, actor)
        text = step(session, task, now)
        row = _row(ctx, session, task, now)
    ctx.nudge()
    return TaskStepResult(row=row, text=text)


def check_version(task: Task, expected_version: int | None) -> None:
    if expected_version is not None and task.version != expected_version:
        raise StaleVersion(
            f"{task.number} 已有新的办理进展（当前状态「{W.TaskState(task.state).label}」），"
            "请刷新后再操作",
            f"stale version: expected {expected_version}, task is at {task.version}",
        )


def check_duties(session: Session, task: Task, action: str, actor: Actor) -> None:
    """Nobody approves, checks or closes the work of the unit they belong to."""
    person = actor.person
    if person is None or person.unit_id is None:
        return
    if action in JUDGING_ACTIONS and person.unit_id == task.lead_unit_id:
        unit = session.get(Unit, task.lead_unit_id)
        name = unit.short_name if unit is not None else "本单位"
        raise DutyConflict(
            f"{task.number} 由「{name}」牵头，您是该单位人员，不能{W.ACTION_LABELS[action]}"
            "本单位的事项（职责分离：须由其他督查人员办理）",
            f"{person.code} belongs to the lead unit whose work {action} judges",
        )


# -- outbox: task cards --------------------------------------------------------------------------


def card_text(row: TaskRow, heading: str, extra: str = "") -> str:
    """A task card: number, title, units, deadline with the working days left, colour."""
    support = f"　配合单位：{'、'.join(row.support_units)}" if row.support_units else ""
    leader = f"牵头领导：{row.leader}　" if row.leader else ""
    lines = [
        f"【督办事项·{heading}】{row.number}【{row.colour}】",
        f"任务：{row.title}",
        f"{leader}牵头单位：{row.lead_unit_name}{support}",
        f"完成时限：{row.deadline_text}　状态：{row.state_label}",
    ]
    if row.colour in ("红", "黄", "蓝"):
        lines.append("提示：" + "；".join(row.reasons))
    if extra:
        lines.append(extra)
    lines.append(
        f"操作：/签收 {row.number}　/进展 {row.number} 内容　/办结 {row.number} 内容　"
        f"/延期 {row.number} 天数 理由"
    )
    return "\n".join(lines)


def unit_actions(number: str) -> list[dict[str, str]]:
    return [
        {"label": "签收", "command": f"/签收 {number}"},
        {"label": "报进展", "command": f"/进展 {number} "},
        {"label": "办结", "command": f"/办结 {number} "},
    ]


def _to_units(
    session: Session,
    task: Task,
    *,
    kind: str,
    key: str,
    text: str,
    now: datetime,
    support: bool = False,
    sink: list[dict[str, Any]] | None = None,
) -> None:
    """Cards to the lead unit's chats (and the 配合单位's); into ``sink`` for a bulk insert."""
    units = [task.lead_unit_id, *(task.support_unit_ids if support else [])]
    for unit_id in units:
        values: dict[str, Any] = {
            "dedupe_key": f"task-{kind}:{task.id}:{key}:{unit_id}",
            "kind": f"task_{kind}",
            "audience": Audience.UNIT,
            "unit_id": unit_id,
            "text": text,
            "payload": {"task": task.number, "actions": unit_actions(task.number)},
            "now": now,
        }
        if sink is not None:
            sink.append(notification_row(**values))
        else:
            add_notification(session, **values)


def _to_supervisors(
    session: Session, task: Task, *, kind: str, key: str, text: str, now: datetime
) -> None:
    add_notification(
        session,
        dedupe_key=f"task-{kind}:{task.id}:{key}:supervisors",
        kind=f"task_{kind}",
        audience=Audience.SUPERVISORS,
        text=text,
        payload={"task": task.number},
        now=now,
    )


# -- the desk ------------------------------------------------------------------------------------


def create(
    ctx: RoutingContext, spec: W.TaskSpec, *, actor: Actor, assign_now: bool = True
) -> TaskStepResult:
    """立项 (and, by default, 交办 at once: the units get their cards)."""
    now = ctx.now()
    with ctx.session() as session:
        task = W.register(session, spec, rules=ctx.rules, now=now, actor=actor)
        if assign_now:
            _assign(ctx, session, task, actor, now, note=None)
        row = _row(ctx, session, task, now)
    ctx.nudge()
    verb = "已立项并交办" if assign_now else "已立项"
    return TaskStepResult(row=row, text=f"{row.number} {verb}：{row.title}（{row.deadline_text}）")


def _assign(
    ctx: RoutingContext,
    session: Session,
    task: Task,
    actor: Actor,
    now: datetime,
    note: str | None,
    *,
    units: dict[int, Unit] | None = None,
    sink: list[dict[str, Any]] | None = None,
) -> str:
    event = W.assign(session, task, actor=actor, now=now, rules=ctx.rules, note=note)
    row = _row(ctx, session, task, now, units)
    extra = f"工作要求：{task.requirements}" if task.requirements else ""
    _to_units(
        session,
        task,
        kind="assigned",
        key=str(event.id),
        text=card_text(row, "交办", extra),
        now=now,
        support=True,
        sink=sink,
    )
    return f"{task.number} 已交办「{row.lead_unit_name}」，完成时限 {row.deadline_text}"


def assign(
    ctx: RoutingContext,
    number: str,
    *,
    actor: Actor,
    note: str | None = None,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        return _assign(ctx, session, task, actor, now, note)

    return _run(ctx, number, actor, step, expected_version=expected_version)


# -- the units -------------------------------------------------------------------------------------


def acknowledge(
    ctx: RoutingContext, number: str, *, actor: Actor, expected_version: int | None = None
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        W.acknowledge(session, task, actor=actor, now=now)
        return f"{task.number} 已签收，完成时限 {_row(ctx, session, task, now).deadline_text}"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def progress(
    ctx: RoutingContext,
    number: str,
    text: str,
    *,
    actor: Actor,
    milestone: int | None = None,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        W.report(session, task, text, actor=actor, now=now, milestone=milestone)
        done = f"（节点{milestone}已完成）" if milestone is not None else ""
        return f"{task.number} 进展已报送{done}"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def finish(
    ctx: RoutingContext,
    number: str,
    text: str,
    *,
    actor: Actor,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        event = W.finish(session, task, text, actor=actor, now=now)
        unit = session.get(Unit, task.lead_unit_id)
        _to_supervisors(
            session,
            task,
            kind="finished",
            key=str(event.id),
            now=now,
            text=(
                f"【督办事项·办结待核查】{task.number}（{unit.short_name if unit else ''}）\n"
                f"任务：{task.title}\n{text.strip()}\n"
                f"核查：/核查 {task.number} 通过 评分1-5　或　/核查 {task.number} 不通过 评分 意见"
            ),
        )
        return f"{task.number} 办结报告已报送，等待督查室核查"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def request_extension(
    ctx: RoutingContext,
    number: str,
    days: int,
    reason: str,
    *,
    actor: Actor,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        extension = W.request_extension(
            session,
            task,
            days,
            reason,
            actor=actor,
            now=now,
            max_days=ctx.policy.tasks.max_extension_days,
        )
        _to_supervisors(
            session,
            task,
            kind="extension",
            key=str(extension.id),
            now=now,
            text=(
                f"【督办事项·延期申请】{task.number} 申请延期 {days} 个工作日\n"
                f"理由：{extension.reason}\n"
                f"现时限：{task.due_date.isoformat() if task.due_date else '长期'}\n"
                f"审批：/批准延期 {task.number}　或　/驳回延期 {task.number} 意见"
            ),
        )
        return f"{task.number} 延期申请（{days} 个工作日）已提交，等待督查室审批"

    return _run(ctx, number, actor, step, expected_version=expected_version)


# -- the supervisors (and the 牵头领导) ----------------------------------------------------------


def decide_extension(
    ctx: RoutingContext,
    number: str,
    *,
    approve: bool,
    actor: Actor,
    days: int | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        extension = W.decide_extension(
            session, task, approve=approve, actor=actor, now=now, rules=ctx.rules, days=days,
            note=note,
        )  # fmt: skip
        due = task.due_date.isoformat() if task.due_date else "长期"
        text = (
            f"【延期已批准】{task.number} 延期 {extension.granted_days} 个工作日，新时限 {due}"
            if approve
            else f"【延期未批准】{task.number} 仍按原时限 {due} 办理"
            + (f"\n意见：{note}" if note else "")
        )
        _to_units(
            session, task, kind="extension_decided", key=str(extension.id), text=text, now=now
        )
        return text

    action = "approve_extension" if approve else "deny_extension"
    return _run(ctx, number, actor, step, expected_version=expected_version, action=action)


def verify(
    ctx: RoutingContext,
    number: str,
    *,
    passed: bool,
    score: int,
    actor: Actor,
    note: str | None = None,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        event = W.verify(session, task, passed=passed, score=score, actor=actor, now=now, note=note)
        if passed:
            text = f"【核查通过】{task.number} 质量评分 {score} 分，待销号"
        else:
            text = (
                f"【续办】{task.number} 核查未通过（评分 {score}），请继续办理并重新报送办结\n"
                f"意见：{note}"
            )
        _to_units(session, task, kind="verified", key=str(event.id), text=text, now=now)
        return text

    action = "verify_pass" if passed else "verify_fail"
    return _run(ctx, number, actor, step, expected_version=expected_version, action=action)


def close(
    ctx: RoutingContext,
    number: str,
    *,
    actor: Actor,
    note: str | None = None,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        event = W.close(session, task, actor=actor, now=now, note=note)
        text = f"【销号】{task.number}「{task.title}」已销号"
        _to_units(session, task, kind="closed", key=str(event.id), text=text, now=now)
        return text

    return _run(ctx, number, actor, step, expected_version=expected_version, action="close")


def archive(
    ctx: RoutingContext,
    number: str,
    *,
    actor: Actor,
    note: str | None = None,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        W.archive(session, task, actor=actor, now=now, note=note)
        return f"{task.number} 已归档"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def remind(
    ctx: RoutingContext,
    number: str,
    note: str,
    *,
    actor: Actor,
    expected_version: int | None = None,
) -> TaskStepResult:
    """催办: a reminder with a note to the lead unit (and the 配合单位), logged."""

    def step(session: Session, task: Task, now: datetime) -> str:
        event = W.remind(session, task, note, actor=actor, now=now)
        row = _row(ctx, session, task, now)
        _to_units(
            session,
            task,
            kind="remind",
            key=str(event.id),
            text=card_text(row, "催办", f"催办意见：{event.note}"),
            now=now,
            support=True,
        )
        return f"{task.number} 已催办（第 {task.remind_count} 次）"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def escalate(
    ctx: RoutingContext,
    number: str,
    note: str,
    *,
    actor: Actor,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        event = W.escalate(session, task, note, actor=actor, now=now)
        row = _row(ctx, session, task, now)
        text = card_text(row, "通报", f"通报：{event.note}")
        _to_units(session, task, kind="escalated", key=str(event.id), text=text, now=now)
        _to_supervisors(session, task, kind="escalated", key=str(event.id), text=text, now=now)
        return f"{task.number} 已通报"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def comment(
    ctx: RoutingContext,
    number: str,
    note: str,
    *,
    actor: Actor,
    expected_version: int | None = None,
) -> TaskStepResult:
    def step(session: Session, task: Task, now: datetime) -> str:
        W.comment(session, task, note, actor=actor, now=now)
        return f"{task.number} 备注已记录"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def import_list(
    ctx: RoutingContext,
    path: Path,
    *,
    source: W.TaskSource,
    actor: Actor,
    year: int | None = None,
    assign_now: bool = True,
) -> ImportSummary:
    """``duban tasks import``: a list's tasks registered (and handed over) in one transaction;
    rows refused by number; a file imported again creates nothing new."""
    if actor.person is not None and not W.can_register(actor.person):
        raise PermissionDenied("只有录入员或督查人员可以导入督办事项", "desk staff only")
    now = ctx.now()
    with ctx.session() as session:
        units = {u.id: u for u in list_units(session) if u.id is not None}
        cards: list[dict[str, Any]] = []

        def hand_over(task: Task) -> None:
            if assign_now:
                _assign(ctx, session, task, actor, now, note=None, units=units, sink=cards)

        summary = import_tasks(
            session,
            path,
            source=source,
            rules=ctx.rules,
            limits=ctx.policy.intake,
            now=now,
            actor=actor,
            year=year,
            on_created=hand_over,
        )
        add_notifications(session, cards)  # one statement for the whole list
    ctx.nudge()
    return summary


def require_number(value: str | None) -> str:
    number = W.normalise_number(value or "")
    if number is None:
        raise BadInput(f"「{value}」不是督办事项编号，应为 RW-年份-序号", "bad task number")
    return number


def remind_by_colour(ctx: RoutingContext) -> dict[str, int]:
    """Reminders that follow the colours: on a working day, from ``tasks.remind_hour`` office
    time, one card a day to the lead unit of each 红 / 黄 / 蓝 task (never twice a day).

    Returns how many cards of each colour were written (a run later the same day: none).
    """
    now = ctx.now()
    local = now.astimezone(ctx.rules.tz)
    today = local.date()
    written = {"红": 0, "黄": 0, "蓝": 0}
    if not ctx.rules.calendar.is_workday(today) or local.hour < ctx.policy.tasks.remind_hour:
        return written
    heading = {"红": "超期提醒", "黄": "预警提醒", "蓝": "到期提醒"}
    with ctx.session() as session:
        units = {u.id: u for u in list_units(session) if u.id is not None}
        working = [s.value for s in W.WORKING_STATES]
        tasks = list(session.exec(select(Task).where(col(Task.state).in_(working))))
        stones = milestones_by_task(session, [t.id for t in tasks if t.id is not None])
        cards: list[dict[str, Any]] = []
        sent = set(
            session.exec(
                select(Notification.dedupe_key).where(
                    col(Notification.dedupe_key).like(f"task-reminder:%:{today.isoformat()}:%")
                )
            )
        )
        for task in tasks:
            if f"task-reminder:{task.id}:{today.isoformat()}:{task.lead_unit_id}" in sent:
                continue
            row = row_of(task, stones.get(task.id or 0, []), units=units, rules=ctx.rules,
                         policy=ctx.policy.tasks, now=now)  # fmt: skip
            if row.colour not in written:
                continue
            written[row.colour] += 1
            _to_units(session, task, kind="reminder", key=today.isoformat(),
                      text=card_text(row, heading[row.colour]), now=now, sink=cards)  # fmt: skip
        before = len(cards)
        add_notifications(session, cards)
    if before:
        ctx.nudge()
    return written


@dataclass(frozen=True, slots=True)
class WeeklyResult:
    created: tuple[TaskRow, ...]
    known: int
    rejected: tuple[tuple[int, str], ...]  # (line number, reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": [r.number for r in self.created],
            "known": self.known,
            "rejected_lines": [{"line": n, "reason": why} for n, why in self.rejected],
        }

    @property
    def text(self) -> str:
        lines = [
            f"周交办：交办 {len(self.created)} 项"
            + (f"，已有 {self.known} 项" if self.known else "")
        ]
        lines += [
            f"{r.number} {r.lead_unit_name}：{r.title}（{r.deadline_text}）" for r in self.created
        ]
        lines += [f"第 {n} 行未交办：{why}" for n, why in self.rejected]
        return "\n".join(lines)


def weekly_paste(
    ctx: RoutingContext, text: str, *, actor: Actor, meeting: str | None = None
) -> WeeklyResult:
    """周交办 in bulk: each line ``单位：事项（时限）`` registered and handed over at once."""
    from tasks.weekly import parse_weekly

    if actor.person is not None and not W.can_register(actor.person):
        raise PermissionDenied("只有录入员或督查人员可以交办周交办事项", "desk staff only")
    now = ctx.now()
    name = meeting or f"{ctx.rules.local_date(now).isoformat()} 周交办会"
    created: list[TaskRow] = []
    rejected: list[tuple[int, str]] = []
    known = 0
    with ctx.session() as session:
        units = {u.id: u for u in list_units(session) if u.id is not None}
        keys = set(session.exec(select(Task.import_key).where(col(Task.import_key).is_not(None))))
        cards: list[dict[str, Any]] = []
        for line in parse_weekly(session, text, rules=ctx.rules, now=now, meeting=name):
            if line.spec is None:
                rejected.append((line.number, line.reason or ""))
                continue
            if line.spec.import_key in keys:
                known += 1
                continue
            keys.add(line.spec.import_key)
            task = W.register(session, line.spec, rules=ctx.rules, now=now, actor=actor)
            _assign(ctx, session, task, actor, now, None, units=units, sink=cards)
            created.append(_row(ctx, session, task, now, units))
        if not created and not known and not rejected:
            raise BadInput("没有可交办的事项：每行写「单位：事项（时限）」", "empty weekly list")
        add_notifications(session, cards)
    ctx.nudge()
    return WeeklyResult(tuple(created), known, tuple(rejected))


def weekly_answers(ctx: RoutingContext, *, since: datetime) -> list[tuple[str, str]]:
    """一周一答卷: each 周交办 matter since ``since`` as (number, one line with its answer)."""
    from tasks.weekly import answers

    with ctx.session() as session:
        units = {u.id: u.short_name for u in list_units(session) if u.id is not None}
        found = answers(session, since=since, until=ctx.now())
    lines = []
    for a in found:
        reply = f"答：{a.answer}" if a.answer else "尚未答复"
        lines.append(
            (
                a.number,
                f"{a.number} {units.get(a.unit_id, '')}：{a.title}【{a.state_label}】{reply}",
            )
        )
    return lines
