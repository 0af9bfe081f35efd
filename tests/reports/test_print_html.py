"""The HTML fit to print: masthead, 北京时间, the condensed unit table, the annex, alignment,
the print stylesheet; the XLSX page setup."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from reports.render import CONDENSED_COLUMNS, FIGURE_COLUMNS, render_html, render_markdown
from tests.reports.print_helpers import monthly_report, tables_of, weekly_report

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
CONDENSED = ["单位", "收件", "到期", "回复率", "按期率", "办结率", "超期"]


@SQLITE
def test_weekly_page_has_the_office_masthead_and_beijing_time(engine: Engine) -> None:
    report = weekly_report(engine)
    page = render_html(report)
    assert "江州市滨河区人民政府督查室" in page
    assert "第47期" in page and "滨督周〔2026〕47号" in page
    assert "（北京时间）" in page and "Asia/Shanghai" not in page
    assert '<p class="sign">江州市滨河区人民政府督查室<br>2026年11月23日</p>' in page
    md = render_markdown(report)
    assert "（北京时间）" in md and "Asia/Shanghai" not in md
    assert "江州市滨河区人民政府督查室　第47期　滨督周〔2026〕47号" in md


@SQLITE
def test_condensed_unit_table_with_the_full_table_as_annex(engine: Engine) -> None:
    report = weekly_report(engine)
    tables = {t.kind: t for t in tables_of(render_html(report)) if t.kind}
    units = tables["units"]
    assert units.labels == CONDENSED == [c.label for c in CONDENSED_COLUMNS]
    names = [row[0].text for row in units.rows]
    assert names == [f.label for f in report.by_unit] + ["合计"]
    zjj = dict(zip(units.labels, (c.text for c in units.rows[0]), strict=True))
    assert zjj == {
        "单位": "住建局",
        "收件": "2",
        "到期": "3",
        "回复率": "100.0%",
        "按期率": "100.0%",
        "办结率": "33.3%",
        "超期": "2",
    }
    assert tables["sources"].labels[0] == "来源"
    full = tables["units-full"]
    assert len(full.labels) == len(FIGURE_COLUMNS) == 22
    assert [row[0].text for row in full.rows] == names
    assert tables["sources-full"].labels[0] == "来源"
    page = render_html(report)
    assert page.index("<h2>附表1") > page.index('class="sign"')  # the annex follows the body


@SQLITE
def test_text_left_numbers_right_names_never_broken(engine: Engine) -> None:
    page = render_html(weekly_report(engine))
    for table in tables_of(page):
        for row in table.rows:
            for head, cell in zip(table.header, row, strict=True):
                assert cell.classes == head.classes  # a column's cells align as its header
    units = next(t for t in tables_of(page) if t.kind == "units")
    first, *numbers = units.header
    assert {"t", "k"} <= first.classes  # left, kept whole
    assert "min-width:6.5em" in first.attrs["style"]  # 生态环境分局, six characters
    assert all(head.classes == {"n"} for head in numbers)
    overdue = next(t for t in tables_of(page) if "标题" in t.labels)
    classes = {h.text: h.classes for h in overdue.header}
    assert classes["标题"] == {"t"} and classes["责任单位"] == {"t", "k"}
    assert classes["超期工作日"] == {"n"} and classes["收件时间"] == {"d"}
    css = page[page.index("<style>") : page.index("</style>")]
    assert ".t{text-align:left}" in css and "text-align:right;white-space:nowrap" in css
    assert ".k{white-space:nowrap;word-break:keep-all}" in css


@SQLITE
def test_print_stylesheet_a4_with_a_landscape_annex(engine: Engine) -> None:
    page = render_html(weekly_report(engine))
    css = page[page.index("<style>") : page.index("</style>")]
    assert "@page{size:A4 portrait" in css
    assert "@page wide{size:A4 landscape" in css and ".annex{page:wide" in css
    assert "thead{display:table-header-group}" in css  # the header on every printed page
    assert '<section class="annex">' in page


@SQLITE
def test_monthly_page_is_fit_to_print_too(engine: Engine) -> None:
    report = monthly_report(engine)
    page = render_html(report)
    assert "督查工作月讲评 2026年11月" in page and "滨督评〔2026〕11号" in page
    kinds = [t.kind for t in tables_of(page)]
    assert kinds == ["ranking", "units", "sources", "units-full", "sources-full"]


@SQLITE
def test_xlsx_is_set_up_for_a4_landscape(engine: Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from reports.render import write_xlsx

    book = load_workbook(write_xlsx(weekly_report(engine), tmp_path / "w.xlsx"))
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert (setup.orientation, str(setup.paperSize)) == ("landscape", "9"), sheet.title
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        if sheet.title != "概览":
            assert sheet.print_title_rows == "$1:$1", sheet.title  # repeated header row
        assert "江州市滨河区人民政府督查室" in sheet.oddHeader.center.text
        assert "第47期" in sheet.oddHeader.center.text
    overview = {a.value: b.value for a, b in book["概览"].iter_rows(max_col=2)}
    assert overview["时区"] == "北京时间（Asia/Shanghai）"
    assert (overview["期号"], overview["文号"]) == ("第47期", "滨督周〔2026〕47号")
