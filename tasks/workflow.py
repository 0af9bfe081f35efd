"""The task state machine: 立项—交办—签收—进展—办结—核查—销号—归档, as a table.

Every function checks who may act and whether the task's state allows the move *before*
changing anything, then changes the task and appends one ``TaskEvent`` in the caller's
transaction. An illegal move raises ``IllegalTransition`` (or ``PermissionDenied`` /
``BadInput``) and leaves the session untouched.

    registered --assign--> assigned --acknowledge--> acknowledged --progress--> progressing
    assigned/acknowledged/progressing/reopened --finish--> finished     (办结 report)
    finished --verify_pass--> verified --close--> closed --archive--> archived
    finished --verify_fail--> reopened                                 (续办)
    a 配合单位's report, extension request / approve / deny, remind (催办), escalate (通报),
    comment: the state stays.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.errors import BadInput, IllegalTransition, NotFound, PermissionDenied
from ledger.models import (
    ExtensionStatus,
    Person,
    Role,
    Task,
    TaskEvent,
    TaskExtension,
    TaskMilestone,
    TaskReport,
    Unit,
)
from ledger.numbers import next_value
from ledger.tickets import Actor

logger = logging.getLogger(__name__)

PREFIX = "RW"
TASK_NUMBER = re.compile(r"^RW-(\d{4})-(\d{1,6})$", re.IGNORECASE)
TASK_IN_TEXT = re.compile(r"\bRW-\d{4}-\d{1,6}\b", re.IGNORECASE)
NUMBER_CHARS = str.maketrans("ＲＷｒｗ０１２３４５６７８９－—–‐", "RWrw0123456789----")


class TaskState(StrEnum):
    REGISTERED = "registered"  # 立项
    ASSIGNED = "assigned"  # 交办: the units are told
    ACKNOWLEDGED = "acknowledged"  # 签收
    PROGRESSING = "progressing"  # 进展 reported
    FINISHED = "finished"  # 办结 report in, waiting for 核查
    REOPENED = "reopened"  # 续办 after a failed 核查
    VERIFIED = "verified"  # 核查通过
    CLOSED = "closed"  # 销号
    ARCHIVED = "archived"  # 归档

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS = {
    TaskState.REGISTERED: "已立项",
    TaskState.ASSIGNED: "已交办",
    TaskState.ACKNOWLEDGED: "已签收",
    TaskState.PROGRESSING: "推进中",
    TaskState.FINISHED: "已报办结",
    TaskState.REOPENED: "续办中",
    TaskState.VERIFIED: "核查通过",
    TaskState.CLOSED: "已销号",
    TaskState.ARCHIVED: "已归档",
}


class TaskSource(StrEnum):
    """Where a task came from (来源)."""

    WEEKLY = "weekly"  # 周交办
    LIST = "list"  # 责任清单
    KEY = "key"  # 重点工作
    INSTRUCTION = "instruction"  # 领导批示
    MEETING = "meeting"  # 会议议定
    HIGHER = "higher"  # 上级交办

    @property
    def label(self) -> str:
        return SOURCE_LABELS[self]

    @classmethod
    def parse(cls, value: str) -> TaskSource:
        text = (value or "").strip()
        for kind, label in SOURCE_LABELS.items():
            if text in (kind.value, label):
                return kind
        for word, kind in SOURCE_WORDS:
            if word in text:
                return kind
        labels = " / ".join(SOURCE_LABELS.values())
        raise BadInput(f"来源「{value}」无法识别，应为 {labels}", f"unknown task source {value!r}")


SOURCE_LABELS = {
    TaskSource.WEEKLY: "周交办",
    TaskSource.LIST: "责任清单",
    TaskSource.KEY: "重点工作",
    TaskSource.INSTRUCTION: "领导批示",
    TaskSource.MEETING: "会议议定",
    TaskSource.HIGHER: "上级交办",
}
SOURCE_WORDS = (
    ("周交办", TaskSource.WEEKLY),
    ("清单", TaskSource.LIST),
    ("重点", TaskSource.KEY),
    ("批示", TaskSource.INSTRUCTION),
    ("会议", TaskSource.MEETING),
    ("常务会", TaskSource.MEETING),
    ("上级", TaskSource.HIGHER),
    ("市委", TaskSource.HIGHER),
    ("市政府", TaskSource.HIGHER),
)

S = TaskState
WORKING_STATES = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.PROGRESSING, S.REOPENED})
DONE_STATES = frozenset({S.FINISHED, S.VERIFIED})  # 已办结
CLOSED_STATES = frozenset({S.CLOSED, S.ARCHIVED})  # 已销号

# action -> (states it may start from, state it leads to; None keeps the state)
TRANSITIONS: dict[str, tuple[frozenset[TaskState], TaskState | None]] = {
    "assign": (frozenset({S.REGISTERED}), S.ASSIGNED),
    "acknowledge": (frozenset({S.ASSIGNED}), S.ACKNOWLEDGED),
    "progress": (WORKING_STATES, S.PROGRESSING),
    "support_progress": (WORKING_STATES, None),
    "finish": (WORKING_STATES, S.FINISHED),
    "verify_pass": (frozenset({S.FINISHED}), S.VERIFIED),
    "verify_fail": (frozenset({S.FINISHED}), S.REOPENED),
    "close": (frozenset({S.VERIFIED}), S.CLOSED),
    "archive": (frozenset({S.CLOSED}), S.ARCHIVED),
    "request_extension": (WORKING_STATES, None),
    "approve_extension": (WORKING_STATES | {S.FINISHED}, None),
    "deny_extension": (WORKING_STATES | {S.FINISHED}, None),
    "remind": (WORKING_STATES, None),
    "escalate": (WORKING_STATES | {S.FINISHED}, None),
    "comment": (frozenset(S), None),
}

ACTION_LABELS = {
    "register": "立项",
    "assign": "交办",
    "acknowledge": "签收",
    "progress": "报送进展",
    "support_progress": "报送配合进展",
    "finish": "报送办结",
    "verify_pass": "核查通过",
    "verify_fail": "核查不通过(续办)",
    "close": "销号",
    "archive": "归档",
    "request_extension": "申请延期",
    "approve_extension": "批准延期",
    "deny_extension": "驳回延期",
    "remind": "催办",
    "escalate": "通报",
    "comment": "备注",
}

LEAD_UNIT_ACTIONS = frozenset({"acknowledge", "progress", "finish", "request_extension"})
SUPPORT_ACTIONS = frozenset({"support_progress"})
SUPERVISOR_ACTIONS = frozenset(
    {
        "verify_pass",
        "verify_fail",
        "approve_extension",
        "deny_extension",
        "remind",
        "escalate",
        "archive",
    }
)
DESK_ACTIONS = frozenset({"assign", "comment"})  # intake staff or supervisors


def number_of(year: int, value: int) -> str:
    return f"{PREFIX}-{year}-{value:04d}"


def normalise_number(text: str) -> str | None:
    """``rw-2026-1`` (or full-width) -> ``RW-2026-0001``; None if it is not a task number."""
    match = TASK_NUMBER.match((text or "").strip().translate(NUMBER_CHARS))
    if match is None:
        return None
    return number_of(int(match.group(1)), int(match.group(2)))


def leading_number(text: str) -> tuple[str, str] | None:
    """(number, rest) when ``text`` starts with a task number, else None."""
    words = (text or "").strip().split(maxsplit=1)
    number = normalise_number(words[0]) if words else None
    return (number, words[1].strip() if len(words) > 1 else "") if number else None


def check_allowed(task: Task, action: str, actor: Actor) -> None:
    """Raise unless ``actor`` may do ``action`` to ``task`` in its current state."""
    allowed_from, _ = TRANSITIONS[action]
    state = TaskState(task.state)
    if state not in allowed_from:
        raise IllegalTransition(
            f"{task.number}：当前状态为「{state.label}」，不能{ACTION_LABELS[action]}",
            f"cannot {action} a task in state {state.value}",
        )
    _check_permission(task, action, actor)


def _check_permission(task: Task, action: str, actor: Actor) -> None:
    person = actor.person
    if person is None or person.has_role(Role.ADMIN):
        return
    label = ACTION_LABELS[action]
    if not person.active:
        raise PermissionDenied(f"{person.name} 的账号已停用", "person is inactive")
    if action in LEAD_UNIT_ACTIONS:
        if person.unit_id != task.lead_unit_id:
            whose = "牵头或配合" if action == "progress" else "牵头"
            raise PermissionDenied(
                f"{task.number} 不是您所在单位{whose}的事项，无权{label}",
                f"only the lead unit may {action}",
            )
        if not person.has_role(Role.MEMBER, Role.LEADER):
            raise PermissionDenied(f"{person.name} 不是单位经办人，无权{label}", "not a member")
    elif action in SUPPORT_ACTIONS:
        if person.unit_id is None or person.unit_id not in task.support_unit_ids:
            raise PermissionDenied(
                f"{task.number} 不是您所在单位牵头或配合的事项，无权{label}",
                f"only lead or supporting units may {action}",
            )
        if not person.has_role(Role.MEMBER, Role.LEADER):
            raise PermissionDenied(f"{person.name} 不是单位经办人，无权{label}", "not a member")
    elif action in SUPERVISOR_ACTIONS:
        if not person.has_role(Role.SUPERVISOR):
            raise PermissionDenied(f"只有督查人员可以{label}", f"only supervisors may {action}")
    elif action == "close":
        is_leader = task.leader_id is not None and person.id == task.leader_id
        if not (person.has_role(Role.SUPERVISOR) or is_leader):
            raise PermissionDenied(
                f"只有督查人员或该事项的牵头领导可以销号 {task.number}",
                "only supervisors or the task's leader may close it",
            )
    elif action in DESK_ACTIONS and not person.has_role(Role.INTAKE, Role.SUPERVISOR):
        raise PermissionDenied(
            f"只有录入员或督查人员可以{label}", f"only intake staff or supervisors may {action}"
        )


def _apply(
    session: Session,
    task: Task,
    action: str,
    actor: Actor,
    now: datetime,
    *,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> TaskEvent:
    """Move ``task`` along ``action`` (already checked) and append its event."""
    _, target = TRANSITIONS[action]
    before = task.state
    if target is not None:
        task.state = target.value
    task.version += 1
    session.add(task)
    event = TaskEvent(
        task_id=_id(task),
        action=action,
        from_state=before,
        to_state=task.state,
        actor_id=actor.person_id,
        actor=actor.label,
        unit_id=actor.person.unit_id if actor.person is not None else None,
        note=note,
        data=data or {},
        at=now,
    )
    session.add(event)
    session.flush()
    logger.info("task %s: %s %s -> %s by %s", task.number, action, before, task.state, actor.label)
    return event


def _id(row: Task | Unit) -> int:
    """The id of a stored row (flushed before it is referred to)."""
    assert row.id is not None
    return row.id


def _require_text(value: str | None, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise BadInput(f"{field}不能为空", f"{field} is required")
    return text


# -- 立项 ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MilestoneSpec:
    title: str
    due_date: date


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a new task is made of (from ``duban tasks add``, an imported row, 周交办)."""

    title: str
    lead_unit: Unit
    source: TaskSource
    due_date: date | None = None
    limit_days: int | None = None  # N working days from 交办
    ongoing: bool = False  # 长期
    report_monthly: bool = False
    report_every_days: int | None = None
    requirements: str | None = None
    source_ref: str | None = None
    leader: Person | None = None
    leader_name: str | None = None
    support_units: tuple[Unit, ...] = ()
    milestones: tuple[MilestoneSpec, ...] = ()
    import_key: str | None = None


def can_register(person: Person) -> bool:
    return person.has_role(Role.INTAKE, Role.SUPERVISOR, Role.ADMIN)


def register(
    session: Session, spec: TaskSpec, *, rules: DeadlineRules, now: datetime, actor: Actor
) -> Task:
    """立项: a numbered task with its deadline (or 长期) and milestones; one event."""
    title = _require_text(spec.title, "任务名称")
    deadlines = sum(
        x for x in (spec.due_date is not None, spec.limit_days is not None, spec.ongoing)
    )
    if deadlines != 1:
        raise BadInput(
            "完成时限须为一个日期、N 个工作日或「长期」三者之一",
            "exactly one of due_date, limit_days, ongoing",
        )
    if spec.limit_days is not None and not 1 <= spec.limit_days <= 365:
        raise BadInput(
            f"工作日数须在 1 到 365 之间（{spec.limit_days}）", "limit_days out of range"
        )
    if not spec.lead_unit.active:
        raise BadInput(f"单位「{spec.lead_unit.short_name}」已停用", "lead unit inactive")
    if spec.leader is not None and not spec.leader.has_role(Role.DISTRICT_LEADER):
        raise BadInput(
            f"{spec.leader.name} 不是区领导（角色 district_leader），不能任牵头领导",
            "leader lacks the district_leader role",
        )
    if actor.person is not None and not can_register(actor.person):
        raise PermissionDenied("只有录入员或督查人员可以立项", "only desk staff may register")
    support = [u.id for u in spec.support_units if u.id is not None and u.id != spec.lead_unit.id]
    task = Task(
        number=number_of(
            rules.local_date(now).year, next_value(session, f"task-{rules.local_date(now).year}")
        ),
        title=title,
        requirements=(spec.requirements or "").strip() or None,
        source_kind=spec.source.value,
        source_ref=spec.source_ref,
        leader_id=spec.leader.id if spec.leader is not None else None,
        leader_name=spec.leader.name if spec.leader is not None else spec.leader_name,
        lead_unit_id=_id(spec.lead_unit),
        support_unit_ids=list(dict.fromkeys(support)),
        state=S.REGISTERED.value,
        ongoing=spec.ongoing,
        limit_days=spec.limit_days,
        due_date=spec.due_date,
        due_at=rules.end_of_day(spec.due_date) if spec.due_date is not None else None,
        original_due_date=spec.due_date,
        report_every_days=spec.report_every_days,
        report_monthly=spec.report_monthly or spec.ongoing,
        created_at=now,
        import_key=spec.import_key,
    )
    session.add(task)
    session.flush()
    for seq, milestone in enumerate(spec.milestones, start=1):
        session.add(
            TaskMilestone(
                task_id=_id(task),
                seq=seq,
                title=milestone.title[:255],
                due_date=milestone.due_date,
                due_at=rules.end_of_day(milestone.due_date),
            )
        )
    session.add(
        TaskEvent(
            task_id=_id(task),
            action="register",
            from_state=None,
            to_state=task.state,
            actor_id=actor.person_id,
            actor=actor.label,
            data={
                "due_date": spec.due_date.isoformat() if spec.due_date else None,
                "limit_days": spec.limit_days,
                "ongoing": spec.ongoing,
                "lead_unit": spec.lead_unit.code,
                "milestones": len(spec.milestones),
            },
            at=now,
        )
    )
    session.flush()
    return task


# -- the desk ---------------------------------------------------------------------------------


def assign(
    session: Session,
    task: Task,
    *,
    actor: Actor,
    now: datetime,
    rules: DeadlineRules,
    note: str | None = None,
) -> TaskEvent:
    """交办: the clock of an "N working days" deadline starts here."""
    check_allowed(task, "assign", actor)
    task.assigned_at = now
    if task.limit_days is not None and task.due_date is None:
        deadline = rules.count(now, task.limit_days)
        task.due_date, task.due_at = deadline.due_date, deadline.due_at
        task.original_due_date = deadline.due_date
    return _apply(
        session,
        task,
        "assign",
        actor,
        now,
        note=note,
        data={"due_date": task.due_date.isoformat() if task.due_date else None},
    )


# -- the units ---------------------------------------------------------------------------------


def acknowledge(session: Session, task: Task, *, actor: Actor, now: datetime) -> TaskEvent:
    """签收."""
    check_allowed(task, "acknowledge", actor)
    task.acknowledged_at = now
    return _apply(session, task, "acknowledge", actor, now)


def report(
    session: Session,
    task: Task,
    text: str,
    *,
    actor: Actor,
    now: datetime,
    milestone: int | None = None,
) -> TaskEvent:
    """进展: the lead unit's (moves the task on) or a 配合单位's (the state stays).

    ``milestone`` marks that 节点 done. Reporting implies receipt.
    """
    person = actor.person
    supporting = (
        person is not None
        and person.unit_id != task.lead_unit_id
        and person.unit_id in task.support_unit_ids
        and not person.has_role(Role.ADMIN)
    )
    action = "support_progress" if supporting else "progress"
    check_allowed(task, action, actor)
    body = _require_text(text, "进展内容")
    stone = _milestone(session, task, milestone) if milestone is not None else None
    if stone is not None:
        stone.done_at = stone.done_at or now
        session.add(stone)
    if not supporting and task.acknowledged_at is None:
        task.acknowledged_at = now
    task.last_report_at = now
    session.add(
        TaskReport(
            task_id=_id(task),
            unit_id=person.unit_id if person is not None else task.lead_unit_id,
            author_id=actor.person_id,
            kind="progress",
            text=body,
            milestone_seq=milestone,
            created_at=now,
            round=task.reopen_count + 1,
        )
    )
    return _apply(session, task, action, actor, now, note=body, data={"milestone": milestone})


def _milestone(session: Session, task: Task, seq: int) -> TaskMilestone:
    stone = session.exec(
        select(TaskMilestone).where(TaskMilestone.task_id == task.id, TaskMilestone.seq == seq)
    ).first()
    if stone is None:
        raise BadInput(f"{task.number} 没有第 {seq} 个节点", f"no milestone {seq}")
    return stone


def finish(session: Session, task: Task, text: str, *, actor: Actor, now: datetime) -> TaskEvent:
    """办结 report: the lead unit says the task is done; a supervisor checks it."""
    check_allowed(task, "finish", actor)
    body = _require_text(text, "办结情况")
    if task.acknowledged_at is None:
        task.acknowledged_at = now
    task.finished_at = now
    task.last_report_at = now
    session.add(
        TaskReport(
            task_id=_id(task),
            unit_id=task.lead_unit_id,
            author_id=actor.person_id,
            kind="finish",
            text=body,
            created_at=now,
            round=task.reopen_count + 1,
        )
    )
    on_time = task.due_at is None or now <= task.due_at
    return _apply(session, task, "finish", actor, now, note=body, data={"on_time": on_time})


def request_extension(
    session: Session,
    task: Task,
    days: int,
    reason: str,
    *,
    actor: Actor,
    now: datetime,
    max_days: int,
) -> TaskExtension:
    """申请延期: working days and a reason; one pending request at a time."""
    check_allowed(task, "request_extension", actor)
    body = _require_text(reason, "延期理由")
    if task.due_date is None:
        raise BadInput(f"{task.number} 为长期事项，没有完成时限，无需延期", "ongoing task")
    if not 1 <= days <= max_days:
        raise BadInput(f"延期天数须在 1 到 {max_days} 个工作日之间（{days}）", "days out of range")
    if pending_extension(session, task) is not None:
        raise IllegalTransition(f"{task.number} 已有待审批的延期申请", "extension pending")
    extension = TaskExtension(
        task_id=_id(task), days=days, reason=body, requested_by_id=actor.person_id, requested_at=now
    )
    session.add(extension)
    session.flush()
    _apply(
        session,
        task,
        "request_extension",
        actor,
        now,
        note=body,
        data={"days": days, "extension_id": extension.id},
    )
    return extension


def pending_extension(session: Session, task: Task) -> TaskExtension | None:
    return session.exec(
        select(TaskExtension)
        .where(TaskExtension.task_id == task.id)
        .where(TaskExtension.status == ExtensionStatus.REQUESTED.value)
    ).first()


# -- the supervisors ------------------------------------------------------------------------------


def decide_extension(
    session: Session,
    task: Task,
    *,
    approve: bool,
    actor: Actor,
    now: datetime,
    rules: DeadlineRules,
    days: int | None = None,
    note: str | None = None,
) -> TaskExtension:
    """批准 / 驳回延期: approval moves the deadline by the granted working days."""
    action = "approve_extension" if approve else "deny_extension"
    check_allowed(task, action, actor)
    extension = pending_extension(session, task)
    if extension is None:
        raise IllegalTransition(f"{task.number} 没有待审批的延期申请", "no pending extension")
    data: dict[str, Any] = {"extension_id": extension.id}
    if approve:
        granted = extension.days if days is None else days
        if not 1 <= granted <= extension.days:
            raise BadInput(
                f"批准天数须在 1 到申请的 {extension.days} 个工作日之间（{granted}）",
                "granted days out of range",
            )
        assert task.due_date is not None
        moved = rules.extend(task.due_date, granted)
        extension.status = ExtensionStatus.APPROVED.value
        extension.granted_days = granted
        extension.old_due_date = task.due_date
        extension.new_due_date = moved.due_date
        task.due_date, task.due_at = moved.due_date, moved.due_at
        task.extension_days += granted
        data.update(days=granted, old_due=extension.old_due_date.isoformat())
        data["new_due"] = moved.due_date.isoformat()
    else:
        extension.status = ExtensionStatus.DENIED.value
    extension.decided_by_id = actor.person_id
    extension.decided_at = now
    extension.decision_note = note
    session.add(extension)
    _apply(session, task, action, actor, now, note=note, data=data)
    return extension


def verify(
    session: Session,
    task: Task,
    *,
    passed: bool,
    score: int,
    actor: Actor,
    now: datetime,
    note: str | None = None,
) -> TaskEvent:
    """核查: pass with a 1–5 quality score, or 续办 with a reason."""
    action = "verify_pass" if passed else "verify_fail"
    check_allowed(task, action, actor)
    if not 1 <= score <= 5:
        raise BadInput(f"质量评分须为 1 到 5（{score}）", f"score={score}")
    if not passed:
        _require_text(note, "续办理由")
    task.quality_score = score
    for part in session.exec(
        select(TaskReport)
        .where(TaskReport.task_id == task.id)
        .where(TaskReport.round == task.reopen_count + 1)
        .where(TaskReport.kind == "finish")
    ):
        part.quality = score
        session.add(part)
    if passed:
        task.verified_at = now
    else:
        task.reopen_count += 1
        task.finished_at = None
    return _apply(session, task, action, actor, now, note=note, data={"score": score})


def close(
    session: Session, task: Task, *, actor: Actor, now: datetime, note: str | None = None
) -> TaskEvent:
    """销号: by a supervisor or the task's 牵头领导."""
    check_allowed(task, "close", actor)
    task.closed_at = now
    return _apply(session, task, "close", actor, now, note=note)


def archive(
    session: Session, task: Task, *, actor: Actor, now: datetime, note: str | None = None
) -> TaskEvent:
    """归档 (一事一档 complete)."""
    check_allowed(task, "archive", actor)
    task.archived_at = now
    return _apply(session, task, "archive", actor, now, note=note)


def remind(session: Session, task: Task, note: str, *, actor: Actor, now: datetime) -> TaskEvent:
    """催办: a reminder with a note, logged; the state stays."""
    check_allowed(task, "remind", actor)
    body = _require_text(note, "催办内容")
    task.remind_count += 1
    return _apply(session, task, "remind", actor, now, note=body)


def escalate(session: Session, task: Task, note: str, *, actor: Actor, now: datetime) -> TaskEvent:
    """通报: raise the task to the supervisors and the units' leadership."""
    check_allowed(task, "escalate", actor)
    body = _require_text(note, "通报内容")
    task.escalated_at = now
    return _apply(session, task, "escalate", actor, now, note=body)


def comment(session: Session, task: Task, note: str, *, actor: Actor, now: datetime) -> TaskEvent:
    check_allowed(task, "comment", actor)
    return _apply(session, task, "comment", actor, now, note=_require_text(note, "备注"))


# -- lookups -----------------------------------------------------------------------------------


def get_task(session: Session, number: str, *, for_update: bool = False) -> Task:
    """A task by number (``RW-2026-0001``, case and padding forgiven)."""
    key = (number or "").strip()
    if not key:
        raise BadInput("督办事项编号不能为空，如 RW-2026-0001", "task number is required")
    normal = normalise_number(key)
    if normal is None:
        raise BadInput(f"「{key}」不是督办事项编号，应为 RW-年份-序号", f"bad task number {key!r}")
    query = select(Task).where(Task.number == normal)
    if for_update:
        query = query.with_for_update()
    task = session.exec(query).first()
    if task is None:
        raise NotFound(f"没有编号为 {normal} 的督办事项", f"no task {normal}")
    return task


def events_of(session: Session, task: Task) -> list[TaskEvent]:
    return list(
        session.exec(
            select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(col(TaskEvent.id))
        )
    )


def reports_of(session: Session, task: Task) -> list[TaskReport]:
    return list(
        session.exec(
            select(TaskReport).where(TaskReport.task_id == task.id).order_by(col(TaskReport.id))
        )
    )


def milestones_of(session: Session, task: Task) -> list[TaskMilestone]:
    return list(
        session.exec(
            select(TaskMilestone)
            .where(TaskMilestone.task_id == task.id)
            .order_by(col(TaskMilestone.seq))
        )
    )


def extensions_of(session: Session, task: Task) -> list[TaskExtension]:
    return list(
        session.exec(
            select(TaskExtension)
            .where(TaskExtension.task_id == task.id)
            .order_by(col(TaskExtension.id))
        )
    )
