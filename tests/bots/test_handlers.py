"""The chat handlers on the real ledger (SQLite and PostgreSQL), through the memory adapter."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlmodel import func, select

from bots.handlers import Handlers, ReportRequest
from bots.messages import Outcome
from ledger.directory import find_unit, get_person
from ledger.errors import DubanError
from ledger.models import Complainant, Event, Reply, Ticket, TicketState
from routing.context import RoutingContext
from tests.bots.conftest import Desk, bind_all
from tests.helpers import make_ticket


def open_ticket(ctx: RoutingContext, text: str = "东湖路路灯不亮，晚上很黑") -> str:
    with ctx.session() as session:
        return make_ticket(session, ctx.rules, text=text, now=ctx.now()).number


def assigned(desk: Desk, unit: str = "住建局") -> str:
    """A ticket the intake desk has assigned (the card delivered to the unit's chat)."""
    number = open_ticket(desk.ctx)
    assert desk.say("intake", "luru1", f"/分办 {number} {unit}") == Outcome.DONE
    desk.deliver()
    return number


def test_story_from_the_desk_to_a_verified_reply(desk: Desk) -> None:
    number = open_ticket(desk.ctx)
    assert desk.say("intake", "luru1", f"/分办 {number} 住建局") == Outcome.DONE
    assert "已交办「住建局」" in desk.last("intake")
    assert desk.deliver() == 1

    card = desk.adapter.last("zjj")
    assert card.text.startswith(f"【交办】{number}") and "东湖路路灯不亮" in card.text
    assert [a.label for a in card.actions] == ["签收", "回复", "申请延期", "退回"]

    # replying to the card names the ticket
    assert desk.say("zjj", "zjj-1", "/签收", reply_to=card.message_id) == Outcome.DONE
    assert f"{number} 已签收" in desk.last("zjj")
    assert desk.say("zjj", "zjj-1", f"/回复 {number} 已更换路灯，恢复照明") == Outcome.DONE
    assert desk.deliver() == 1
    check = desk.adapter.last("sup")
    assert check.text.startswith(f"【反馈待核查】{number}") and "已更换路灯" in check.text

    # the supervisor presses the button on the card in the supervisors' chat
    assert desk.press("sup", "ducha1", check, "核查通过(5分)") == Outcome.DONE
    assert desk.deliver() == 1
    assert desk.last("zjj").startswith(f"【核查通过】{number}")

    assert desk.ticket(number).state == TicketState.VERIFIED
    assert desk.events(number) == [
        ("register", "system:test"),
        ("assign", "王晓燕(luru1)"),
        ("acknowledge", "刘洋(zjj-1)"),
        ("reply", "刘洋(zjj-1)"),
        ("verify_pass", "陈立新(ducha1)"),
    ]


def test_another_unit_and_a_stranger_are_refused_and_nothing_changes(desk: Desk) -> None:
    number = assigned(desk)
    before = desk.ticket(number)
    events_before = desk.events(number)

    # a member of another unit, in their own chat and (somehow) in the unit's chat
    for chat in ("cgj", "zjj"):
        for text in (
            f"/签收 {number}",
            f"/回复 {number} 不是我们的",
            f"/退回 {number} 不归我们",
            f"/延期 {number} 5 忙",
            f"/详情 {number}",
        ):
            assert desk.say(chat, "cgj-1", text) == Outcome.REFUSED
            reply = desk.last(chat)
            assert "没有找到该督办件，或您无权" in reply
            assert "已交办" not in reply and "东湖路" not in reply  # nothing leaks

    # a stranger in the unit's chat: one polite refusal, then silence
    posted = len(desk.texts("zjj"))
    assert desk.say("zjj", "u-stranger", f"/签收 {number}") == Outcome.REFUSED
    assert "尚未在督办系统登记" in desk.last("zjj") and "/绑定" in desk.last("zjj")
    assert desk.say("zjj", "u-stranger", f"/回复 {number} 我来回复") == Outcome.REFUSED
    assert desk.say("zjj", "u-stranger", f"/详情 {number}") == Outcome.REFUSED
    assert len(desk.texts("zjj")) == posted + 1

    after = desk.ticket(number)
    assert (after.state, after.version, after.unit_id) == (
        before.state,
        before.version,
        before.unit_id,
    )
    assert desk.events(number) == events_before
    with desk.ctx.session() as session:
        assert session.exec(select(func.count()).select_from(Reply)).one() == 0
    assert desk.deliver() == 0  # and nobody was notified of anything


def test_unknown_chat_is_refused_once_an_hour(desk: Desk, clock) -> None:
    assert desk.say("nowhere", "zjj-1", "/待办") == Outcome.REFUSED
    first = desk.last("nowhere")
    assert "本群尚未绑定" in first and "duban bind --platform memory --chat nowhere" in first
    for text in ("/待办", "hello", "/签收 DB-2026-000001"):
        assert desk.say("nowhere", "u-stranger", text) == Outcome.REFUSED
    assert len(desk.texts("nowhere")) == 1
    clock.advance(hours=1, minutes=1)
    assert desk.say("nowhere", "u-stranger", "hello") == Outcome.REFUSED
    assert len(desk.texts("nowhere")) == 2
    # /帮助 always answers, with the chat id an administrator needs
    assert desk.say("nowhere", "u-stranger", "/help") == Outcome.ANSWERED
    assert "--chat nowhere" in desk.last("nowhere")


def test_chatter_in_a_unit_chat_is_ignored(desk: Desk) -> None:
    assert desk.say("zjj", "zjj-1", "大家下午好") == Outcome.IGNORED
    assert desk.say("zjj", "u-stranger", "大家下午好") == Outcome.IGNORED
    assert desk.texts("zjj") == []


def test_a_reply_in_several_messages_then_finish(desk: Desk) -> None:
    number = assigned(desk)
    card = desk.adapter.last("zjj")
    assert desk.press("zjj", "zjj-1", card, "回复") == Outcome.ANSWERED
    assert "可分多条发送" in desk.last("zjj")
    assert desk.say("zjj", "zjj-1", "一、已到现场查看。") == Outcome.ANSWERED
    assert desk.say("zjj", "zjj-1", "二、已更换灯具。") == Outcome.ANSWERED
    assert "第 2 段" in desk.last("zjj")
    # someone else talking meanwhile does not join the draft
    assert desk.say("zjj", "zjj-ld", "辛苦了") == Outcome.IGNORED
    assert desk.say("zjj", "zjj-1", "/办结") == Outcome.DONE
    with desk.ctx.session() as session:
        texts = session.exec(select(Reply.text)).all()
    assert texts == ["一、已到现场查看。\n二、已更换灯具。"]
    assert desk.ticket(number).state == TicketState.REPLIED
    assert desk.say("zjj", "zjj-1", f"/办结 {number}") == Outcome.ANSWERED
    assert "已反馈，等待督查室核查" in desk.last("zjj")


def test_finish_with_text_is_the_final_reply(desk: Desk) -> None:
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/done {number} 已办结，路灯恢复") == Outcome.DONE
    assert desk.ticket(number).state == TicketState.REPLIED


def test_extension_asked_by_button_and_approved(desk: Desk) -> None:
    number = assigned(desk)
    card = desk.adapter.last("zjj")
    assert desk.press("zjj", "zjj-1", card, "申请延期") == Outcome.ANSWERED
    assert "延期天数 理由" in desk.last("zjj")
    assert desk.say("zjj", "zjj-1", f"/延期 {number} 几天 需协调") == Outcome.REFUSED
    assert "延期天数须为正整数" in desk.last("zjj")
    # the draft is still open: the next message completes the command
    assert desk.say("zjj", "zjj-1", "三天 需协调供电部门") == Outcome.DONE
    desk.deliver()
    request = desk.adapter.last("sup")
    assert request.text.startswith(f"【延期申请】{number}")
    due = desk.ticket(number).due_date
    assert desk.say("sup", "ducha1", f"/approve {number} 2 同意") == Outcome.DONE
    desk.deliver()
    assert desk.last("zjj").startswith(f"【延期已批准】{number} 延期 2 个工作日")
    assert desk.ticket(number).due_date > due


def test_ledger_errors_become_polite_chinese(desk: Desk) -> None:
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/签收 {number}") == Outcome.DONE
    assert desk.say("zjj", "zjj-1", f"/签收 {number}") == Outcome.REFUSED
    assert desk.last("zjj") == f"{number}: 当前状态为「已签收」，不能签收"
    assert desk.say("zjj", "zjj-1", f"/核查 {number} 通过 5") == Outcome.REFUSED
    assert "用法" not in desk.last("zjj") and "Traceback" not in desk.last("zjj")
    assert desk.say("sup", "ducha1", f"/核查 {number} 通过 9") == Outcome.REFUSED
    assert desk.say("sup", "ducha1", f"/核查 {number} 很好") == Outcome.REFUSED
    assert desk.last("sup").startswith("用法：/核查")
    assert desk.say("zjj", "zjj-1", "/签收") == Outcome.REFUSED
    assert "请写明督办件编号" in desk.last("zjj")


def test_detail_shows_masked_text_in_the_unit_chat(desk: Desk) -> None:
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/详情 {number}") == Outcome.ANSWERED
    detail = desk.last("zjj")
    assert detail.startswith(f"【详情】{number}") and "住建局" in detail
    assert desk.say("sup", "ducha1", f"/详情 {number}") == Outcome.ANSWERED
    # a supervisor in a unit's chat cannot pull another unit's ticket into it
    assert desk.say("cgj", "ducha1", f"/详情 {number}") == Outcome.REFUSED


def test_todo_lists(desk: Desk) -> None:
    number = assigned(desk)
    open_ticket(desk.ctx, "滨江花园小区垃圾无人清运")
    assert desk.say("zjj", "zjj-1", "/待办") == Outcome.ANSWERED
    assert number in desk.last("zjj") and "共 1 件" in desk.last("zjj")
    assert desk.say("intake", "luru1", "/todo") == Outcome.ANSWERED
    assert "【待分办】共 1 件" in desk.last("intake")


def test_return_goes_back_to_the_desk(desk: Desk) -> None:
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/退回 {number} 路灯归城管局管理") == Outcome.DONE
    desk.deliver()
    assert number in desk.last("intake") and "退回" in desk.last("intake")
    assert desk.ticket(number).state == TicketState.RETURNED


def test_the_same_message_twice_is_handled_once(desk: Desk) -> None:
    number = assigned(desk)
    kw = {"message_id": "m-42"}
    assert desk.say("zjj", "zjj-1", f"/回复 {number} 已处理", **kw) == Outcome.DONE
    assert desk.say("zjj", "zjj-1", f"/回复 {number} 已处理", **kw) == Outcome.DUPLICATE
    with desk.ctx.session() as session:
        assert session.exec(select(func.count()).select_from(Reply)).one() == 1
        assert (
            session.exec(
                select(func.count()).select_from(Event).where(Event.action == "reply")
            ).one()
            == 1
        )


def test_report_hook(ctx: RoutingContext, tmp_path) -> None:
    from tests.bots.conftest import bind_all

    asked: list[ReportRequest] = []

    def report(_ctx: RoutingContext, request: ReportRequest):
        asked.append(request)
        return SimpleNamespace(text=f"【督查周报】{request.period or '上周'}", images=[])

    bind_all(ctx, "memory")
    desk = Desk(ctx, handlers=Handlers(ctx, report=report, report_dir=tmp_path))
    assert desk.say("sup", "ducha1", "/报表 本周") == Outcome.ANSWERED
    assert desk.last("sup") == "【督查周报】本周"
    assert desk.say("zjj", "zjj-1", "/report") == Outcome.REFUSED  # not into a unit's chat
    assert "督查周报由督查室发布" in desk.last("zjj")
    assert [(r.period, r.unit, r.person, r.out_dir) for r in asked] == [
        ("本周", None, "ducha1", tmp_path)
    ]


def test_the_weekly_report_from_the_reports_package(ctx: RoutingContext, tmp_path) -> None:
    from tests.bots.conftest import bind_all

    bind_all(ctx, "memory")
    desk = Desk(ctx, handlers=Handlers(ctx, report_dir=tmp_path))
    assert desk.say("sup", "ducha1", "/报表 上周") == Outcome.ANSWERED
    posted = desk.adapter.in_chat("sup")
    assert posted[0].text and "Traceback" not in posted[0].text
    images = [p for p in posted if p.images]
    assert images and all(
        p.images[0].exists() and p.images[0].is_relative_to(tmp_path) for p in images
    )
    assert desk.say("sup", "ducha1", "/报表 下个月") == Outcome.REFUSED
    assert desk.last("sup").startswith("未能生成报表：「下个月」不是周")


def test_report_without_the_reports_package(desk: Desk) -> None:
    def missing(_ctx, _request):
        return None

    desk.hub.handlers.report = missing
    assert desk.say("sup", "ducha1", "/报表") == Outcome.ANSWERED
    assert "报表功能尚未启用" in desk.last("sup")


def test_whoami_and_help(desk: Desk) -> None:
    assert desk.say("zjj", "zjj-1", "/身份") == Outcome.ANSWERED
    assert "刘洋（zjj-1） 住建局 经办人" in desk.last("zjj")
    assert desk.say("sup", "ducha1", "/帮助") == Outcome.ANSWERED
    assert "/核查" in desk.last("sup")


def test_a_mistyped_command_is_answered_and_never_filed(desk: Desk) -> None:
    number = open_ticket(desk.ctx)
    assert desk.say("intake", "luru1", f"/fenban {number} 住建局") == Outcome.REFUSED
    assert desk.last("intake") == "没有「/fenban」这个命令，发送 /帮助 查看可用命令"
    assert desk.say("zjj", "zjj-1", f"/qianshou {number}") == Outcome.REFUSED
    assert "/帮助" in desk.last("zjj")
    with desk.ctx.session() as session:  # no ticket opened for the typo
        assert session.exec(select(func.count()).select_from(Ticket)).one() == 1
    # the space left out after the name, a full-width number: understood
    assert desk.say("intake", "luru1", f"/分办{number} 住建局") == Outcome.DONE
    assert desk.say("zjj", "zjj-1", "/签收 " + number.replace("-", "－")) == Outcome.DONE
    assert desk.say("zjj", "zjj-1", "/回复 DB-2026-0000001 已修复") == Outcome.REFUSED
    assert "编号「DB-2026-0000001」格式不对" in desk.last("zjj")
    assert desk.ticket(number).state == TicketState.ACKNOWLEDGED


def test_a_new_command_ends_a_command_waiting_for_its_text(desk: Desk) -> None:
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/退回 {number}") == Outcome.ANSWERED
    assert desk.say("zjj", "zjj-1", f"/详情 {number}") == Outcome.ANSWERED
    assert desk.last("zjj") == f"（未完成的「/退回 {number}」已取消）"
    # the next chatter is chatter, not the reason of a 退回 given up
    assert desk.say("zjj", "zjj-1", "好的，我先看看") == Outcome.IGNORED
    assert desk.ticket(number).state == TicketState.ASSIGNED
    # the same command given in full ends its prompt too: a note is written once
    assert desk.say("zjj", "zjj-1", f"/备注 {number}") == Outcome.ANSWERED
    assert desk.say("zjj", "zjj-1", f"/备注 {number} 已联系供电公司") == Outcome.DONE
    assert desk.say("zjj", "zjj-1", "收到") == Outcome.IGNORED
    assert [a for a, _ in desk.events(number)].count("comment") == 1


def test_approval_grants_at_most_the_days_asked(desk: Desk) -> None:
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/延期 {number} 5 需协调供电公司") == Outcome.DONE
    due = desk.ticket(number).due_date
    assert desk.say("sup", "ducha1", f"/批准延期 {number} 10") == Outcome.REFUSED
    assert "批准天数不能多于申请天数" in desk.last("sup")
    assert desk.ticket(number).due_date == due
    assert desk.say("zjj", "zjj-1", f"/批准延期 {number} 10") == Outcome.REFUSED
    assert "只有督查人员" in desk.last("zjj")  # who may, before how many
    # a full-width space between the days and the note
    assert desk.say("sup", "ducha1", f"/批准延期 {number} ３　同意三天") == Outcome.DONE
    assert "延期 3 个工作日" in desk.last("sup")


def test_the_same_reply_sent_twice_is_recorded_once(desk: Desk) -> None:
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/办结 {number} 已更换灯具") == Outcome.DONE
    assert desk.say("zjj", "zjj-1", f"/办结 {number} 已更换灯具") == Outcome.DONE
    assert "无需重复发送" in desk.last("zjj")
    assert desk.say("zjj", "zjj-1", f"/回复 {number} 补充：费用由财政承担") == Outcome.DONE
    with desk.ctx.session() as session:
        assert session.exec(select(Reply.text).order_by(Reply.id)).all() == [
            "已更换灯具",
            "补充：费用由财政承担",
        ]
    assert desk.deliver() == 2  # the supervisors got each part once


def test_missing_reason_or_opinion_says_what_to_write(desk: Desk) -> None:
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/延期 {number} 3") == Outcome.REFUSED
    assert desk.last("zjj") == f"请写明延期理由，例如：/延期 {number} 3 需协调供电部门检修"
    assert desk.say("zjj", "zjj-1", f"/延期 {number} -3 需协调") == Outcome.REFUSED
    assert "须为正整数" in desk.last("zjj")
    assert desk.say("zjj", "zjj-1", f"/回复 {number} 已修复") == Outcome.DONE
    assert desk.say("sup", "ducha1", f"/核查 {number} 不合格 2") == Outcome.REFUSED
    assert desk.last("sup").startswith("核查不通过须写明意见")
    assert desk.ticket(number).state == TicketState.REPLIED


def test_a_supervisor_of_the_unit_may_not_judge_its_work_from_chat(desk: Desk) -> None:
    """Separation of duties holds in chat because it lives in the desk below it."""
    with desk.ctx.session() as session:
        ducha = get_person(session, "ducha1")
        ducha.unit_id, ducha.roles = find_unit(session, "zjj").id, ["supervisor", "member"]
        session.add(ducha)
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/延期 {number} 3 需协调供电公司") == Outcome.DONE
    events = desk.events(number)
    assert desk.say("sup", "ducha1", f"/批准延期 {number}") == Outcome.REFUSED
    assert "职责分离" in desk.last("sup") and "(" not in desk.last("sup")  # no English gloss
    assert desk.events(number) == events
    assert desk.say("sup", "admin", f"/批准延期 {number}") == Outcome.DONE


def test_staff_see_the_complainant_in_detail_and_the_view_is_logged(desk: Desk) -> None:
    number = assigned(desk)
    with desk.ctx.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        session.add(Complainant(message_id=ticket.message_id, name="张三", contact="13812345678"))
    assert desk.say("zjj", "zjj-1", f"/详情 {number}") == Outcome.ANSWERED
    assert "13812345678" not in desk.last("zjj") and "张三" not in desk.last("zjj")
    assert desk.say("sup", "ducha1", f"/详情 {number}") == Outcome.ANSWERED
    assert "来信人：张三" in desk.last("sup") and "13812345678" in desk.last("sup")
    assert desk.events(number)[-1] == ("view_complainant", "陈立新(ducha1)")
    assert desk.ticket(number).state == TicketState.ASSIGNED


def test_help_is_built_from_the_declared_commands(desk: Desk) -> None:
    from bots.registry import all_commands

    assert desk.say("zjj", "zjj-1", "/帮助") == Outcome.ANSWERED
    unit_help = desk.last("zjj")
    assert "/签收 编号" in unit_help and "/核查" not in unit_help  # a member's commands only
    assert desk.say("sup", "ducha1", "/help") == Outcome.ANSWERED
    for command in all_commands():
        if command.section.value in ("supervisor", "intake", "common"):
            assert command.usage in desk.last("sup")


def test_a_login_link_to_the_web_desk_only_in_a_private_chat(ctx: RoutingContext) -> None:
    from web.auth import use_login_link

    desk = Desk(ctx, handlers=Handlers(ctx, web_url="https://duban.example.gov.cn/"))
    bind_all(ctx, "memory")
    assert desk.say("zjj", "zjj-1", "/登录") == Outcome.REFUSED
    assert "私聊" in desk.last("zjj") and "login/link" not in desk.last("zjj")
    assert desk.say("dm-zjj-1", "zjj-1", "/登录", private=True) == Outcome.ANSWERED
    text = desk.last("dm-zjj-1")
    assert "https://duban.example.gov.cn/login/link/" in text and "10 分钟" in text
    secret = text.rsplit("/", 1)[-1].strip()
    with ctx.session() as session:
        assert use_login_link(session, secret, now=ctx.now()).code == "zjj-1"
    with ctx.session() as session, pytest.raises(DubanError):
        use_login_link(session, secret, now=ctx.now())  # once only

    unset = Desk(ctx, handlers=Handlers(ctx))
    assert unset.say("dm-zjj-1", "zjj-1", "/login", private=True) == Outcome.REFUSED
    assert "DUBAN_WEB_URL" in unset.last("dm-zjj-1")
