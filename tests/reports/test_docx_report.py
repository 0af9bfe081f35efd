"""The weekly report and the 月讲评 as DOCX in the official layout, read back with python-docx."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Length, Pt
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from duban.cli import app
from reports.docx import write_docx
from reports.render import write_report
from tests.reports.print_helpers import monthly_report, weekly_report

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
CONDENSED = ["单位", "收件", "到期", "回复率", "按期率", "办结率", "超期"]


def _east_asian(paragraph) -> set[str]:
    return {run._r.rPr.rFonts.get(qn("w:eastAsia")) for run in paragraph.runs}


def _sizes(paragraph) -> set[float]:
    return {run.font.size.pt for run in paragraph.runs}


def _mm(*lengths: Length | None) -> tuple[int, ...]:
    return tuple(round(length.mm) for length in lengths if length is not None)


def _cells(table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


@SQLITE
def test_weekly_docx_in_the_official_layout(engine: Engine, tmp_path: Path) -> None:
    path = write_docx(weekly_report(engine), tmp_path / "zhoubao.docx")
    doc = Document(str(path))
    texts = [p.text for p in doc.paragraphs]
    by_text = {p.text: p for p in doc.paragraphs if p.text}

    # 版头 and 文号
    assert texts[0] == "江州市滨河区人民政府督查室"
    assert "第47期" in texts and "滨督周〔2026〕47号" in texts
    number = by_text["滨督周〔2026〕47号"]
    assert number.alignment == WD_ALIGN_PARAGRAPH.CENTER
    rule = [child.tag for child in number._p.pPr]  # the red rule under it, in schema order
    assert rule == [qn("w:pBdr"), qn("w:jc")]
    # 标题: 小标宋 二号, centred
    title = by_text["督查周报"]
    assert texts.index("督查周报") > texts.index("滨督周〔2026〕47号")
    assert _east_asian(title) == {"方正小标宋简体"} and _sizes(title) == {22.0}
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert "2026年第47周（11.16–11.22）" in texts
    # 主送 and 正文: 仿宋_GB2312 三号, first line indented two characters
    assert "区政府各部门，各街道办事处：" in texts
    body = next(p for p in doc.paragraphs if p.text.startswith("到期 4 件"))
    assert "按期率 75.0%" in body.text
    assert _east_asian(body) == {"仿宋_GB2312"} and _sizes(body) == {16.0}
    assert body.paragraph_format.first_line_indent == Pt(32)
    assert any("（北京时间）" in t for t in texts) and not any("Asia/Shanghai" in t for t in texts)
    heading = by_text["一、总体情况"]
    assert _east_asian(heading) == {"黑体"}
    assert [t for t in texts if t[:2] in ("二、", "三、", "四、", "五、", "六、")] == [
        "二、分单位情况",
        "三、分来源情况",
        "四、超期未反馈督办件（3件）",
        "五、退回与续办（2次）",
        "六、近8周趋势",
    ]
    # 发文机关署名 over the 成文日期, the date four characters from the right
    dated = by_text["2026年11月23日"]
    signed = doc.paragraphs[texts.index("2026年11月23日") - 1]
    assert signed.text == "江州市滨河区人民政府督查室"
    assert dated.alignment == signed.alignment == WD_ALIGN_PARAGRAPH.RIGHT
    assert dated.paragraph_format.right_indent == Pt(64)

    # the unit table: condensed, the names whole and left, numbers right
    units = _cells(doc.tables[0])
    assert units[0] == CONDENSED
    assert units[1] == ["住建局", "2", "3", "100.0%", "100.0%", "33.3%", "2"]
    assert units[-1][0] == "合计" and units[-1][1:3] == ["4", "4"]
    first_row = doc.tables[0].rows[1].cells
    assert first_row[0].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.LEFT
    assert first_row[1].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.RIGHT
    assert first_row[0]._tc.tcPr.find(qn("w:noWrap")) is not None
    # the overdue tickets: by unit, then the longest-overdue
    assert _cells(doc.tables[2]) == [
        ["责任单位", "超期件数", "最长超期工作日"], ["住建局", "2", "10"], ["城管局", "1", "3"],
    ]  # fmt: skip
    assert "截至统计时点，超期未反馈共 3 件，涉及 2 个责任单位。分单位情况如下：" in texts
    overdue = _cells(doc.tables[3])
    assert overdue[0] == ["编号", "责任单位", "标题", "时限", "超期工作日", "状态"]
    assert overdue[1][1] == "住建局" and overdue[1][4] == "10"

    # A4 portrait with the GB/T 9704 margins; the annex on A4 landscape with all 22 columns
    body_section, annex = doc.sections
    assert _mm(body_section.page_width, body_section.page_height) == (210, 297)
    assert _mm(body_section.top_margin, body_section.left_margin) == (37, 28)
    assert annex.orientation == WD_ORIENT.LANDSCAPE
    assert _mm(annex.page_width, annex.page_height) == (297, 210)
    full = _cells(doc.tables[-2])
    assert len(full[0]) == 22 and full[0][0] == "单位" and full[1][0] == "住建局"
    assert _cells(doc.tables[-1])[0][0] == "来源"
    assert "附件：分单位、分来源情况统计表（全部指标）" in texts
    # page numbers: a PAGE field, a child of the footer's paragraph (not of a run)
    footer = body_section.footer.paragraphs[0]
    assert footer._p.find(qn("w:fldSimple")).get(qn("w:instr")) == "PAGE"
    assert footer.text.startswith("— ") and footer.text.endswith(" —")


@SQLITE
def test_fonts_fall_back_as_policy_yaml_lists_them(engine: Engine, tmp_path: Path) -> None:
    path = write_docx(weekly_report(engine), tmp_path / "w.docx")
    doc = Document(str(path))
    table = next(p for p in doc.part.package.parts if str(p.partname) == "/word/fontTable.xml")
    xml = table.blob.decode("utf-8")
    assert '<w:font w:name="方正小标宋简体"><w:altName w:val="华文中宋"/>' in xml
    assert '<w:font w:name="仿宋_GB2312"><w:altName w:val="仿宋"/>' in xml


@SQLITE
def test_monthly_docx_has_the_ranking(engine: Engine, tmp_path: Path) -> None:
    path = write_report(monthly_report(engine), tmp_path / "yuejiangping.docx").files["docx"]
    doc = Document(str(path))
    texts = [p.text for p in doc.paragraphs]
    assert "督查工作月讲评" in texts and "滨督评〔2026〕11号" in texts
    assert "二、排名情况" in texts and any(t.startswith("红旗：") for t in texts)
    ranking = _cells(doc.tables[0])
    assert ranking[0][:3] == ["名次", "单位", "到期件"]
    signed = texts.index("2026年11月23日") - 1
    assert texts[signed] == "江州市滨河区人民政府督查室"


def test_cli_writes_the_docx(ledger, tmp_path: Path) -> None:
    out = tmp_path / "zhoubao.docx"
    result = CliRunner().invoke(
        app,
        [
            *("report", "weekly", "--week", "2026-W47", "--as-of", "2026-11-23T09:00"),
            *("--out", str(out), "--json"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["files"] == {"docx": str(out)}
    texts = [p.text for p in Document(str(out)).paragraphs]
    assert texts[0] == "江州市滨河区人民政府督查室"  # the office of data/policy.yaml
    assert "滨督周〔2026〕47号" in texts
    # Without --out the file goes to the reports folder, named by its format.
    result = CliRunner().invoke(
        app, ["report", "monthly", "--month", "2026-11", "--format", "docx", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    written = Path(json.loads(result.stdout)["files"]["docx"])
    assert written.name == "monthly-2026-11.docx" and written.exists()
