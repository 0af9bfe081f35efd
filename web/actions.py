"""The workflow steps the web offers, each a call of ``desk.tickets`` (pages and API alike).

``offered`` says which steps a person may take on a ticket now (the same checks the step
itself makes: state, role, separation of duties); ``run`` checks that the person may see
the ticket (else it is answered as not found), parses the form's fields and calls the step
with the version the page showed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from desk import tickets as A
from desk.permissions import check_duties, visible_ticket
from duban.runtime import Runtime
from ledger import tickets as T
from ledger.errors import DubanError
from ledger.models import Ticket, TicketState
from ledger.states import TRIAGE_STATES
from web.context import PageNotFound, Who
from web.errors import BadForm


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    label: str  # the button
    checks: tuple[str, ...]  # ledger actions: offered when any of them is allowed
    fields: tuple[str, ...]  # form fields it reads


STEPS: dict[str, Step] = {
    s.key: s
    for s in (
        Step("assign", "交办", ("assign", "reassign"), ("unit", "note")),
        Step("acknowledge", "签收", ("acknowledge",), ()),
        Step("reply", "反馈", ("reply",), ("text",)),
        Step("request_extension", "申请延期", ("request_extension",), ("days", "reason")),
        Step("approve_extension", "批准延期", ("approve_extension",), ("days", "note")),
        Step("deny_extension", "驳回延期", ("deny_extension",), ("note",)),
        Step("return", "退回", ("return",), ("reason",)),
        Step("verify", "核查", ("verify_pass", "verify_fail"), ("passed", "score", "note")),
        Step("reopen", "续办", ("reopen",), ("reason",)),
        Step("escalate", "通报", ("escalate",), ("note",)),
        Step("archive", "归档", ("archive",), ("note",)),
        Step("comment", "备注", ("comment",), ("note",)),
    )
}


def offered(session: Session, ticket: Ticket, who: Who) -> list[str]:
    """The steps ``who`` may take on ``ticket`` now, in the order the page shows them."""
    actor = who.actor
    pending = T.pending_extension(session, ticket) is not None
    out = []
    for step in STEPS.values():
        if step.key in ("approve_extension", "deny_extension") and not pending:
            continue
        for action in step.checks:
            if action == "assign" and TicketState(ticket.state) not in TRIAGE_STATES:
                continue
            try:
                T.check_allowed(ticket, action, actor)
                check_duties(session, ticket, action, actor)
            except DubanError:
                continue
            out.append(step.key)
            break
    return out


def _text(fields: Mapping[str, Any], name: str, label: str, *, required: bool = True) -> str | None:
    value = fields.get(name)
    if isinstance(value, list):  # a choice and a list for one field: the last one given wins
        value = next((v for v in reversed(value) if isinstance(v, str) and v.strip()), None)
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        if required:
            raise BadForm(f"请填写「{label}」", f"field {name} is required")
        return None
    return text


def _int(fields: Mapping[str, Any], name: str, label: str, *, required: bool = True) -> int | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadForm(f"请填写「{label}」", f"field {name} is required")
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadForm(f"「{label}」须为整数（{value}）", f"field {name} is not an int") from None
    if not -(2**31) < number < 2**31:  # beyond the ledger's integers: was a 500
        raise BadForm(f"「{label}」超出范围（{value}）", f"field {name} out of range")
    return number


def expected_version(fields: Mapping[str, Any]) -> int:
    """The version the page showed: every step must carry it."""
    version = _int(fields, "version", "版本号")
    assert version is not None
    return version


Call = Callable[[], A.StepResult]


def run(
    rt: Runtime, who: Who, number: str, key: str, fields: Mapping[str, Any], version: int | None
) -> A.StepResult:
    """Take step ``key`` on ticket ``number`` for ``who`` with the page's ``fields``."""
    with rt.session() as session:
        if visible_ticket(session, who.viewer, number) is None:
            raise PageNotFound()
    if key not in STEPS:
        raise PageNotFound()
    ctx, actor = rt.routing, who.actor
    kw: dict[str, Any] = {"actor": actor, "expected_version": version}
    calls: dict[str, Call] = {
        "assign": lambda: A.assign(
            ctx,
            number,
            _text(fields, "unit", "交办单位") or "",
            note=_text(fields, "note", "说明", required=False),
            **kw,
        ),
        "acknowledge": lambda: A.acknowledge(ctx, number, **kw),
        "reply": lambda: A.reply(ctx, number, _text(fields, "text", "反馈内容") or "", **kw),
        "request_extension": lambda: A.request_extension(
            ctx,
            number,
            _int(fields, "days", "延期工作日") or 0,
            _text(fields, "reason", "延期理由") or "",
            **kw,
        ),
        "approve_extension": lambda: A.decide_extension(
            ctx,
            number,
            approve=True,
            days=_int(fields, "days", "批准天数", required=False),
            note=_text(fields, "note", "意见", required=False),
            **kw,
        ),
        "deny_extension": lambda: A.decide_extension(
            ctx, number, approve=False, note=_text(fields, "note", "意见", required=False), **kw
        ),
        "return": lambda: A.return_ticket(
            ctx, number, _text(fields, "reason", "退回理由") or "", **kw
        ),
        "verify": lambda: A.verify(
            ctx,
            number,
            passed=_passed(fields),
            score=_score(fields),
            note=_text(fields, "note", "核查意见", required=not _passed(fields)),
            **kw,
        ),
        "reopen": lambda: A.reopen(ctx, number, _text(fields, "reason", "续办理由") or "", **kw),
        "escalate": lambda: A.escalate(ctx, number, _text(fields, "note", "通报内容") or "", **kw),
        "archive": lambda: A.archive(
            ctx, number, note=_text(fields, "note", "说明", required=False), **kw
        ),
        "comment": lambda: A.comment(ctx, number, _text(fields, "note", "备注") or "", **kw),
    }
    return calls[key]()


def _passed(fields: Mapping[str, Any]) -> bool:
    value = str(fields.get("passed") or "").strip().lower()
    if value in ("1", "true", "pass", "通过", "yes"):
        return True
    if value in ("0", "false", "fail", "不通过", "no"):
        return False
    raise BadForm("请选择核查结果：通过或不通过", "field passed is required")


def _score(fields: Mapping[str, Any]) -> int:
    score = _int(fields, "score", "质量评分")
    assert score is not None
    if not 1 <= score <= 5:
        raise BadForm(f"质量评分须在 1 到 5 之间（{score}）", "score out of range")
    return score
