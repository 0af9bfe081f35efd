"""From items to tickets on SQLite and PostgreSQL: import, duplicates, rules, triage, masking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from duban.runtime import Runtime
from duban.settings import REPO_ROOT
from intake.items import IntakeItem
from intake.readers import ImportOptions, read_file
from ledger import tickets as T
from ledger.models import (
    Complainant,
    Event,
    Message,
    MessageStatus,
    Notification,
    SourceKind,
    Ticket,
)
from ledger.views import ticket_detail
from routing.pipeline import file_items, route_messages
from tests.helpers import Clock, local

INBOX = REPO_ROOT / "data" / "inbox.csv"


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    runtime.clock = Clock(local(2026, 11, 20, 17))
    return runtime


def _tickets(rt: Runtime) -> list[Ticket]:
    with rt.session() as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)))


def test_importing_the_inbox_twice_opens_nothing_new(rt: Runtime) -> None:
    summary = file_items(rt.routing, read_file(INBOX, ImportOptions(tz=rt.tz)))
    assert summary.received == 40
    assert summary.rejected == 1
    assert summary.to_dict()["rejected_rows"] == [
        {"row": 30, "reason": summary.to_dict()["rejected_rows"][0]["reason"]}
    ]
    assert "为空" in summary.to_dict()["rejected_rows"][0]["reason"]
    assert summary.duplicates == 4
    assert summary.opened + summary.triage == 35
    first = _tickets(rt)
    assert len(first) == 35
    again = file_items(rt.routing, read_file(INBOX, ImportOptions(tz=rt.tz)))
    assert (again.known, again.rejected, again.opened, again.triage, again.duplicates) == (
        39,
        1,
        0,
        0,
        0,
    )
    assert len(_tickets(rt)) == 35


def test_duplicates_join_the_first_ticket(rt: Runtime) -> None:
    file_items(rt.routing, read_file(INBOX, ImportOptions(tz=rt.tz)))
    with rt.session() as session:
        by_id = {m.external_id: m for m in session.exec(select(Message))}
        tickets = {t.message_id: t for t in session.exec(select(Ticket))}
        for repost, original in [
            ("01015", "01003"),
            ("01027", "01009"),
            ("01021", "01005"),
            ("01033", "01012"),
        ]:
            message = by_id[f"BH2026-{repost}"]
            assert message.duplicate_of_id == by_id[f"BH2026-{original}"].id, repost
            assert message.id not in tickets
            assert message.status == MessageStatus.ROUTED.value
            assert tickets[message.duplicate_of_id].duplicate_count == 1
        # The same crossing, different complaints: two tickets.
        lights, signals = by_id["BH2026-01013"], by_id["BH2026-01022"]
        assert lights.duplicate_of_id is None and signals.duplicate_of_id is None
        assert lights.id in tickets and signals.id in tickets
        events = session.exec(select(Event).where(Event.action == "link_duplicate")).all()
        assert len(events) == 4


def test_pasted_repost_with_another_greeting_is_a_duplicate(rt: Runtime) -> None:
    body = "滨江花园东门外的垃圾桶已经一个星期没人清运了，味道很大，苍蝇到处飞，请尽快处理。"
    first = file_items(rt.routing, [IntakeItem(text="领导您好！" + body + "谢谢！")])
    second = file_items(rt.routing, [IntakeItem(text="您好，再反映一次：" + body)])
    assert first.outcomes[0].status in ("opened", "triage")
    assert second.outcomes[0].status == "duplicate"
    assert second.outcomes[0].duplicate_of == first.outcomes[0].ticket


def test_a_repost_after_the_matter_was_archived_is_a_new_ticket(rt: Runtime) -> None:
    text = "东湖路与学府路路口的井盖缺失，晚上很危险，已经有人差点掉进去了。"
    first = file_items(rt.routing, [IntakeItem(text=text)]).outcomes[0]
    admin = T.Actor.system("test")
    now = rt.now()
    with rt.session() as session:
        from ledger.directory import find_unit

        ticket = T.get_ticket(session, first.ticket)
        if ticket.state == "registered":
            T.assign(
                session, ticket, find_unit(session, "cgj"), actor=admin, now=now, routed_by="triage"
            )
        T.reply(session, ticket, "已补装井盖", actor=admin, now=now)
        T.verify(session, ticket, passed=True, score=5, actor=admin, now=now)
        T.archive(session, ticket, actor=admin, now=now)
    rt.clock.advance(days=10)
    again = file_items(rt.routing, [IntakeItem(text=text)]).outcomes[0]
    assert again.status in ("opened", "triage")
    assert again.ticket != first.ticket


def test_instruction_naming_a_unit_is_routed_by_rule(rt: Runtime) -> None:
    text = "请区城管局牵头，区住建局配合，对东湖路夜间渣土车抛洒问题限5个工作日内整改并反馈。"
    item = IntakeItem(
        text=text, source_kind=SourceKind.INSTRUCTION, has_time_limit=True, time_limit_days=5
    )
    outcome = file_items(rt.routing, [item]).outcomes[0]
    assert (outcome.status, outcome.unit) == ("opened", "cgj")
    with rt.session() as session:
        ticket = T.get_ticket(session, outcome.ticket)
        assert ticket.routed_by == "rule:批示件点名牵头单位"
        assert ticket.limit_days == 5
        assert ticket.due_date == rt.calendar.add_workdays(rt.rules.local_date(rt.now()), 5).due
        card = session.exec(select(Notification).where(Notification.kind == "assigned")).one()
        assert card.audience == "unit" and card.text.startswith("【交办】" + ticket.number)


@pytest.mark.parametrize("days", [0, -3, 366, 99999999])
def test_an_impossible_time_limit_is_refused_before_anything_is_stored(
    rt: Runtime, days: int
) -> None:
    """Stored first and failing at routing, it would wait forever without a ticket."""
    item = IntakeItem(
        text=f"请区住建局限{days}个工作日内解决金色家园积水问题。",
        source_kind=SourceKind.INSTRUCTION,
        has_time_limit=True,
        time_limit_days=days,
    )
    ok = IntakeItem(
        text="请区城管局限3个工作日内清理东湖路渣土。",
        source_kind=SourceKind.INSTRUCTION,
        has_time_limit=True,
        time_limit_days=3,
    )
    summary = file_items(rt.routing, [item, ok])
    bad, good = summary.outcomes
    assert bad.status == "rejected" and f"限办时限 {days} 个工作日不合理" in bad.reason
    assert good.status == "opened"
    with rt.session() as session:
        assert len(session.exec(select(Message)).all()) == 1


def test_without_a_model_everything_else_waits_in_triage(rt: Runtime) -> None:
    outcome = file_items(
        rt.routing, [IntakeItem(text="金色家园7栋电梯又坏了，物业不管。")]
    ).outcomes[0]
    assert outcome.status == "triage"
    with rt.session() as session:
        notice = session.exec(select(Notification).where(Notification.kind == "triage")).one()
        assert notice.audience == "intake" and outcome.ticket in notice.text


def test_units_never_see_the_complainants_personal_data(rt: Runtime) -> None:
    item = IntakeItem(
        text="我是张建华，家住书香苑3栋，电话13800001234，身份证990101198801011234。"
        "请区住建局牵头处理楼顶漏水。",
        source_kind=SourceKind.INSTRUCTION,
        complainant_name="张建华",
        complainant_contact="13800001234",
    )
    outcome = file_items(rt.routing, [item]).outcomes[0]
    assert outcome.unit == "zjj"
    with rt.session() as session:
        card = session.exec(select(Notification).where(Notification.kind == "assigned")).one()
        ticket = T.get_ticket(session, outcome.ticket)
        unit_view = ticket_detail(session, ticket, rules=rt.rules, now=rt.now(), for_unit=True)
        staff_view = ticket_detail(session, ticket, rules=rt.rules, now=rt.now(), for_unit=False)
        complainant = session.exec(select(Complainant)).one()
    for secret in ("张建华", "13800001234", "990101198801011234"):
        assert secret not in card.text
        assert secret not in str(unit_view)
    assert "13800001234" in staff_view["message"]["text"]
    assert (complainant.name, complainant.contact) == ("张建华", "13800001234")


def test_masking_can_be_turned_off(rt: Runtime) -> None:
    rt.policy.intake.redact_for_units = False
    outcome = file_items(
        rt.routing, [IntakeItem(text="电话13800001234，请交警大队处理违停")]
    ).outcomes[0]
    with rt.session() as session:
        message = session.get(Message, outcome.message_id)
        assert message.unit_text is None


def test_rejected_items_name_their_reason_and_nothing_else_is_lost(rt: Runtime) -> None:
    items = [
        IntakeItem(text="", row=2),
        IntakeItem(text="字" * 20_001, row=3),
        IntakeItem(text="\x00\x01binary\x02", row=4),
        IntakeItem(text="东湖路路灯不亮", row=5),
    ]
    summary = file_items(rt.routing, items)
    reasons = {o.row: o.reason for o in summary.outcomes if o.status == "rejected"}
    assert set(reasons) == {2, 3, 4}
    assert "为空" in reasons[2] and "过长" in reasons[3] and "二进制" in reasons[4]
    assert summary.received == 4 and summary.rejected == 3


def test_routing_a_message_twice_makes_one_ticket(rt: Runtime) -> None:
    outcome = file_items(rt.routing, [IntakeItem(text="解放路夜市噪音扰民到凌晨")]).outcomes[0]
    again = route_messages(rt.routing, [outcome.message_id])
    assert again[0].ticket == outcome.ticket
    assert len(_tickets(rt)) == 1


def test_old_repost_outside_the_window_is_new(rt: Runtime) -> None:
    text = "青山村到镇上的公交车一天只有两班，老人看病很不方便，希望增加班次。"
    first = file_items(rt.routing, [IntakeItem(text=text)]).outcomes[0]
    rt.clock.advance(days=rt.policy.routing.duplicate_window_days + 1)
    late = IntakeItem(text=text, received_at=rt.now() - timedelta(hours=1))
    again = file_items(rt.routing, [late]).outcomes[0]
    assert again.status != "duplicate" and again.ticket != first.ticket


def test_same_words_about_different_places_are_two_tickets(rt: Runtime) -> None:
    first = file_items(
        rt.routing, [IntakeItem(text="柳岸路3号楼又有人从楼上扔东西，差点砸到小孩，有人管吗")]
    )
    second = file_items(
        rt.routing, [IntakeItem(text="江州路3号楼又有人从楼上扔东西，差点砸到小孩，有人管吗")]
    )
    again = file_items(
        rt.routing, [IntakeItem(text="柳岸路3号楼又有人从楼上扔东西，差点砸到小孩，有人管吗？？")]
    )
    assert second.outcomes[0].status != "duplicate"
    assert second.outcomes[0].ticket != first.outcomes[0].ticket
    assert again.outcomes[0].duplicate_of == first.outcomes[0].ticket


@pytest.mark.parametrize("chunk", [500, 3])
def test_the_parallel_path_gives_the_same_result(
    rt: Runtime, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small chunks put reposts and their originals in different chunks, looked up while
    the chunk before is still being stored."""
    import routing.pipeline

    monkeypatch.setattr(routing.pipeline, "CHUNK", chunk)
    items = list(read_file(INBOX, ImportOptions(tz=rt.tz)))
    summary = file_items(rt.routing, items, keep_outcomes=True, parallel=True)
    assert (summary.received, summary.rejected, summary.duplicates) == (40, 1, 4)
    assert summary.opened + summary.triage == 35
    assert len(_tickets(rt)) == 35
    again = file_items(rt.routing, items, keep_outcomes=False, parallel=True)
    assert (again.known, again.rejected) == (39, 1)


def test_cells_longer_than_their_column_do_not_fail_the_chunk(rt: Runtime) -> None:
    """PostgreSQL enforces column sizes: one long id or user name used to fail them all."""
    long_id = "Q" * 300
    items = [
        IntakeItem(
            text="东湖路井盖丢失，晚上很危险",
            external_id=long_id,
            complainant_name="网友" * 100,
            channel="import",
        ),
        IntakeItem(text="学府路路灯不亮三天了", external_id="Q-2", channel="import"),
    ]
    first = file_items(rt.routing, items)
    assert (first.rejected, first.received) == (0, 2)
    assert "留言用户超过 128 个字符" in first.outcomes[0].warnings[0]
    again = file_items(
        rt.routing,
        [IntakeItem(text="东湖路井盖丢失，晚上很危险", external_id=long_id, channel="import")],
    )
    assert again.known == 1  # the long id is still recognised
    with rt.session() as session:
        stored = session.exec(select(Message.external_id).order_by(Message.id)).all()
        names = session.exec(select(Complainant.name)).all()
    assert stored[0].startswith("sha256:") and stored[1] == "Q-2"
    assert [len(n) for n in names] == [128]
