"""督办通知单 and 一事一档 as DOCX, opened again with python-docx and checked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from docx import Document

from desk import task_queries as TQ
from desk import tasks as D
from desk.task_documents import doc_number, write_dossier, write_notice
from routing.context import RoutingContext
from tasks import workflow as W
from tests.tasks.conftest import actor, spec


def _text(path: Path) -> str:
    document = Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def _detail(ctx: RoutingContext, number: str) -> TQ.TaskDetail:
    with ctx.session() as session:
        task = W.get_task(session, number)
        return TQ.task_detail(
            session, task, rules=ctx.rules, policy=ctx.policy.tasks, now=ctx.now()
        )


def test_the_notice_in_the_official_layout(ctx: RoutingContext, tmp_path: Path) -> None:
    number = D.create(
        ctx,
        spec(ctx, milestones=(("完成设计", date(2026, 11, 30)),)),
        actor=actor(ctx, "luru1"),
    ).number
    path = write_notice(
        _detail(ctx, number), tmp_path / "notice.docx", office=ctx.policy.office, now=ctx.now(),
        tz=ctx.rules.tz,
    )  # fmt: skip
    text = _text(path)
    office = ctx.policy.office
    assert office.name in text and doc_number(office, number) == "滨督通〔2026〕1号" in text
    assert "督办通知单" in text and "滨河区住房和城乡建设局" not in text  # short names
    for expected in ("住建局：", "推进东湖路老旧小区改造", "王区长", "城管局", "2026-12-31",
                     "完成设计", "2026年11月16日", office.issuer):  # fmt: skip
        assert expected in text, expected
    document = Document(str(path))
    section = document.sections[0]
    size = (section.page_width, section.page_height, section.top_margin)
    assert [round(v.mm) for v in size] == [210, 297, 37]  # A4, 天头 37 mm
    first = document.paragraphs[0].runs[0]
    assert first.font.name == office.fonts.title[0] and str(first.font.color.rgb) == "C00000"
    body = document.styles["Normal"].font.name
    assert body == office.fonts.body[0]  # 仿宋, with its stand-ins in the font table


def test_the_dossier_holds_the_whole_file(ctx: RoutingContext, clock, tmp_path: Path) -> None:
    number = D.create(ctx, spec(ctx), actor=actor(ctx, "luru1")).number
    unit, supervisor = actor(ctx, "zjj-1"), actor(ctx, "ducha1")
    D.acknowledge(ctx, number, actor=unit)
    D.progress(ctx, number, "完成施工招标", actor=unit)
    D.request_extension(ctx, number, 5, "雨季停工", actor=unit)
    D.decide_extension(ctx, number, approve=True, days=3, actor=supervisor)
    D.finish(ctx, number, "改造完成并通过验收", actor=unit)
    D.verify(ctx, number, passed=True, score=4, actor=supervisor)
    D.close(ctx, number, actor=actor(ctx, "qld-1"), note="同意销号")
    path = write_dossier(
        _detail(ctx, number), tmp_path / "dossier.docx", office=ctx.policy.office,
        now=ctx.now(), tz=ctx.rules.tz,
    )  # fmt: skip
    text = _text(path)
    for expected in (
        "一事一档", number, "已销号", "完成施工招标", "改造完成并通过验收", "核查评分 4 分",
        "雨季停工", "2027-01-06", "签收", "批准延期", "核查通过", "销号", "同意销号",
        "王区长(qld-1)",
    ):  # fmt: skip
        assert expected in text, expected
