"""The intake desk chat: pasting and forwarding file messages through routing.pipeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

import routing.training
from bots import render
from bots.messages import Outcome
from classifier.predict import Predictor
from classifier.registry import Registry
from classifier.segment import Segmenter
from classifier.train import train, user_dictionary
from duban.runtime import Runtime
from intake import outcome as intake_outcome
from ledger.models import Message, Notification, Ticket, TicketState
from routing.pipeline import ItemOutcome
from routing.training import promote_version
from tests.bots.conftest import Desk
from tests.classifier.conftest import small_sample
from tests.conftest import DATA_DIR
from tests.helpers import local

INSTRUCTION = "批示件：请住建局牵头，限5个工作日内办结东湖新城小区积水问题"


def numbers_in(text: str) -> list[str]:
    import re

    return re.findall(r"DB-\d{4}-\d{6}", text)


def test_paste_to_verified_story(desk: Desk) -> None:
    """Paste in the intake chat -> card in the unit chat -> ack, reply -> verified."""
    assert desk.say("intake", "luru1", INSTRUCTION) == Outcome.DONE
    answer = desk.last("intake")
    assert answer.startswith("【已立项】") and "住建局" in answer and "办理时限：" in answer
    number = numbers_in(answer)[0]
    assert desk.deliver() == 1
    card = desk.adapter.last("zjj")
    assert card.text.startswith(f"【交办】{number}") and "来源：批示件" in card.text
    assert "剩 5 个工作日" in card.text

    assert desk.press("zjj", "zjj-1", card, "签收") == Outcome.DONE
    assert (
        desk.say("zjj", "zjj-1", "/回复 已组织排水，积水已清除", reply_to=card.message_id)
        == Outcome.DONE
    )
    desk.deliver()
    assert desk.say("sup", "ducha1", f"/核查 {number} 通过 4 处置及时") == Outcome.DONE
    assert desk.ticket(number).state == TicketState.VERIFIED
    actions = desk.events(number)
    assert [a for a, _ in actions] == ["register", "assign", "acknowledge", "reply", "verify_pass"]
    assert actions[2:] == [
        ("acknowledge", "刘洋(zjj-1)"),
        ("reply", "刘洋(zjj-1)"),
        ("verify_pass", "陈立新(ducha1)"),
    ]


def test_low_confidence_goes_to_triage_and_is_assigned_from_the_chat(desk: Desk) -> None:
    assert desk.say("intake", "luru1", "滨江花园小区垃圾无人清运，臭气熏天") == Outcome.DONE
    answer = desk.last("intake")
    assert answer.startswith("【待分办】") and "/分办" in answer
    number = numbers_in(answer)[0]
    desk.deliver()
    # the pipeline's own triage notice is not repeated where the bot has just answered
    assert len(desk.texts("intake")) == 1
    with desk.ctx.session() as session:
        assert session.exec(
            select(Notification.status).where(Notification.kind == "triage")
        ).all() == ["sent"]
    assert desk.say("intake", "luru1", f"/分办 {number} 城管") == Outcome.DONE
    desk.deliver()
    assert desk.adapter.last("cgj").text.startswith(f"【交办】{number}")


def test_triage_answer_offers_the_top_three_units() -> None:
    outcome = ItemOutcome(
        row=None,
        status="triage",
        ticket="DB-2026-000007",
        confidence=0.41,
        suggestions=[
            {"unit": "zjj", "unit_name": "住建局", "confidence": 0.41},
            {"unit": "cgj", "unit_name": "城管局", "confidence": 0.30},
            {"unit": "swj", "unit_name": "水务局", "confidence": 0.12},
            {"unit": "jtj", "unit_name": "交通运输局", "confidence": 0.05},
        ],
        due_date="2026-12-07",
    )
    text, actions = render.outcome_text(outcome)
    assert "（置信度 41%）" in text and "1. 住建局（41%）" in text and "3. 水务局" in text
    assert [a.command for a in actions] == [
        "/分办 DB-2026-000007 zjj",
        "/分办 DB-2026-000007 cgj",
        "/分办 DB-2026-000007 swj",
    ]


def test_one_triage_text_for_the_desks_notice_and_the_chats_answer() -> None:
    """The 待分办 notice routing writes and the answer to a paste offer the same buttons."""
    suggestions = [
        {"unit": "zjj", "unit_name": "住建局", "confidence": 0.41},
        {"unit": "cgj", "unit_name": "城管局", "confidence": 0.30},
    ]
    outcome = ItemOutcome(row=2, status="triage", ticket="DB-2026-000007", suggestions=suggestions)
    answer, answer_buttons = intake_outcome.outcome_text(outcome)
    notice, notice_buttons = intake_outcome.triage_text(
        "DB-2026-000007", suggestions, reason="置信度不足，请人工分办", content="东湖路积水"
    )
    assert (
        answer_buttons
        == notice_buttons
        == [
            {"label": "1. 住建局", "command": "/分办 DB-2026-000007 zjj"},
            {"label": "2. 城管局", "command": "/分办 DB-2026-000007 cgj"},
        ]
    )
    assert answer.startswith("【待分办】第2条：DB-2026-000007")
    assert (
        notice.startswith("【待分办】DB-2026-000007：置信度不足") and "内容：东湖路积水" in notice
    )
    for text in (answer, notice):
        assert "1. 住建局（41%）" in text and "分办：/分办 DB-2026-000007 单位名称" in text


def test_several_messages_in_one_paste(desk: Desk) -> None:
    text = "公司拖欠工资三个月了，老板不见人\n---\n东湖路路灯不亮\n\n解放路井盖丢失"
    assert desk.say("intake", "luru1", text) == Outcome.DONE
    texts = desk.texts("intake")
    assert texts[0].startswith("【登记结果】共 3 条")
    assert len(texts) == 4 and texts[1].startswith("【已立项】第1条") and "人社局" in texts[1]
    with desk.ctx.session() as session:
        ids = session.exec(select(Message.external_id).order_by(Message.id)).all()
    assert [i.rsplit("#", 1)[1] for i in ids] == ["1", "2", "3"]


def test_each_pasted_piece_may_name_its_own_source(desk: Desk) -> None:
    text = (
        "批示件：请区住建局限3个工作日内解决金色家园电梯停运问题\n\n"
        "批示件：请区城管局牵头清理东湖路渣土\n---\n"
        "来电记录：滨江花园业主来电，楼下烧烤摊油烟大\n\n"
        "来电话说学府路路灯不亮"
    )
    assert desk.say("intake", "luru1", text) == Outcome.DONE
    with desk.ctx.session() as session:
        rows = session.exec(
            select(Message.source_kind, Message.text, Message.time_limit_days).order_by(Message.id)
        ).all()
    assert [(kind, text[:4], days) for kind, text, days in rows] == [
        ("instruction", "请区住建", 3),
        ("instruction", "请区城管", None),
        ("other", "滨江花园", None),
        ("instruction", "来电话说", None),
    ]


def test_a_redelivered_message_is_filed_once_and_a_repost_is_a_duplicate(desk: Desk) -> None:
    text = "东湖路路灯不亮，晚上很黑，请尽快修复"
    assert desk.say("intake", "luru1", text, message_id="77") == Outcome.DONE
    number = numbers_in(desk.last("intake"))[0]
    assert desk.say("intake", "luru1", text, message_id="77") == Outcome.DUPLICATE
    assert desk.say("intake", "luru1", text, message_id="78") == Outcome.DONE
    assert desk.last("intake") == f"【重复件】已并入 {number}"
    with desk.ctx.session() as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 2


def test_forwarded_message_keeps_its_original_time(desk: Desk) -> None:
    sent = local(2026, 11, 13, 21, 30)
    assert (
        desk.say(
            "intake",
            "luru1",
            "小区门口占道经营严重\n\n晚上更严重",
            forwarded_from="张先生",
            forwarded_at=sent,
        )
        == Outcome.DONE
    )
    assert len(desk.texts("intake")) == 1  # a forwarded message is one item, never split
    with desk.ctx.session() as session:
        message = session.exec(select(Message)).one()
    assert message.received_at == sent and message.channel == "memory"
    assert message.received_at < desk.ctx.now() - timedelta(days=2)


def test_only_intake_staff_file(desk: Desk) -> None:
    assert desk.say("intake", "zjj-1", "东湖路路灯不亮") == Outcome.REFUSED
    assert "只有录入员" in desk.last("intake")
    assert desk.say("intake", "u-stranger", "东湖路路灯不亮") == Outcome.REFUSED
    with desk.ctx.session() as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 0


def test_a_paste_without_words_is_not_filed(desk: Desk) -> None:
    """👍 in the intake chat opens no ticket, and 😀 is no duplicate of *_[]."""
    for text in ("👍", "😀😀😀", "*_[]<>&", "---\n\n---"):
        assert desk.say("intake", "luru1", text) == Outcome.DONE
        assert desk.last("intake").startswith("【未登记】内容为空")
    assert desk.say("intake", "luru1", "东湖路路灯不亮\n---\n👍") == Outcome.DONE
    assert len(desk.texts("intake")) == 5  # one answer: one item filed
    with desk.ctx.session() as session:
        assert session.exec(select(Message.text)).all() == ["东湖路路灯不亮"]


def test_filing_loads_and_checks_the_promoted_model_once_per_version(
    desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot's process keeps the promoted model between messages: filing one message
    never hashes or unpickles the model again (a per-message load made each one ~5x
    slower), and a version promoted meanwhile is checked and loaded at the next message."""
    registry = Registry(runtime.settings.models_path)
    segmenter = Segmenter("rjieba", user_dictionary(DATA_DIR))
    first, second = (
        registry.save(train(s.texts, s.labels, segmenter=segmenter, seed=seed)).name
        for seed, s in ((0, small_sample(per_unit=8)), (1, small_sample(per_unit=8, skip=8)))
    )
    with desk.ctx.session() as session:
        promote_version(session, registry, first, by="admin", now=desk.ctx.now())

    loads: list[str] = []
    hashes: list[str] = []
    real_load, real_hash = Predictor.load.__func__, routing.training.sha256_file

    def load(cls: type[Predictor], path: Path, **kwargs: object) -> Predictor:
        loads.append(Path(path).name)
        return real_load(cls, path, **kwargs)

    def sha256_file(path: Path) -> str:
        hashes.append(Path(path).parent.name)
        return real_hash(path)

    monkeypatch.setattr(Predictor, "load", classmethod(load))
    monkeypatch.setattr(routing.training, "sha256_file", sha256_file)

    def file(texts: list[str]) -> list[str | None]:
        for text in texts:
            assert desk.say("intake", "luru1", text) == Outcome.DONE
        with desk.ctx.session() as session:
            return list(session.exec(select(Ticket.classifier_version).order_by(Ticket.id)))

    texts = ["东湖路路灯不亮", "滨江花园小区垃圾无人清运", "学校门口早高峰拥堵", "小区地下室渗水"]
    assert file(texts) == [first] * 4
    assert (loads, hashes) == ([first], [first])  # checked before unpickling, once

    with desk.ctx.session() as session:  # promoted elsewhere: this process is not told
        promote_version(session, registry, second, by="admin", now=desk.ctx.now())
    loads.clear()
    hashes.clear()
    assert file(["西湖路井盖缺失", "南门菜市场噪音扰民"])[-2:] == [second, second]
    assert (loads, hashes) == ([second], [second])
