"""The 督查周报 and the 月讲评 as DOCX in the official layout (党政机关公文格式, after GB/T 9704).

A4 portrait with the standard margins; the office in red over the 文号 and a red rule; the
title in 小标宋 二号; the body in 仿宋_GB2312 三号 at a fixed 28-point line (22 lines a
page), 一级标题 in 黑体; tables of the unit figures; the office as 发文机关署名 over the
成文日期 (2026年11月23日). The full 22-column tables follow as 附件 on A4 landscape.
Fonts and texts come from ``policy.yaml`` (``office:``); a font missing on the reader's
machine is replaced by the next one named there (``w:altName`` in the font table).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

from reports.errors import RenderError
from reports.monthly import MonthlyReport
from reports.outputs import SHARED, atomic_path
from reports.tables import (
    CHANGE_COLUMNS,
    CONDENSED_COLUMNS,
    FIGURE_COLUMNS,
    NUMERIC_KINDS,
    OVERDUE_COLUMNS,
    OVERDUE_UNIT_COLUMNS,
    RANK_COLUMNS,
    TASK_COLUMNS,
    TREND_COLUMNS,
    Column,
    as_of_line,
    display_width,
    headline,
    overdue_list_line,
    overdue_summary,
    ranking_summary,
    scoring_rules,
    table_rows,
    task_lines,
)
from reports.weekly import WeeklyReport

Report = WeeklyReport | MonthlyReport

# Chinese type sizes in points.
ER_HAO, SAN_HAO, SI_HAO, WU_HAO, XIAO_WU = 22, 16, 14, 10.5, 9
LINE = 28  # fixed line pitch of the body: 22 lines in the 225 mm type area
RED = "C00000"
CN_NUMBERS = "一二三四五六七八九十"

# The overdue list and the ranking, narrowed to what fits the portrait page.
OVERDUE_DOC_FIELDS = (
    "number",
    "unit_label",
    "title",
    "due_date",
    "overdue_workdays",
    "state_label",
)
RANK_DOC_FIELDS = (
    "rank",
    "label",
    "due",
    "reply_rate",
    "on_time_rate",
    "time_score",
    "quality_score",
    "score",
    "flag",
)


def _pick(columns: Sequence[Column], fields: Sequence[str]) -> list[Column]:
    by_field = {c.field: c for c in columns}
    return [by_field[name] for name in fields]


class _Writer:
    """One document being written: the fonts and a few paragraph kinds."""

    def __init__(self, report: Report) -> None:
        from docx import Document

        self.report = report
        self.fonts: dict[str, list[str]] = report.masthead.fonts
        self.doc = Document()
        self._page(self.doc.sections[0], landscape=False)
        self._normal_style()

    # -- pieces ------------------------------------------------------------------------------

    def _page(self, section, *, landscape: bool) -> None:
        from docx.enum.section import WD_ORIENT
        from docx.shared import Mm

        short, long = Mm(210), Mm(297)
        section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = (long, short) if landscape else (short, long)
        if landscape:
            section.top_margin = section.bottom_margin = Mm(20)
            section.left_margin = section.right_margin = Mm(20)
        else:  # GB/T 9704: 天头 37 mm, 订口 28 mm, type area 156 x 225 mm
            section.top_margin, section.bottom_margin = Mm(37), Mm(35)
            section.left_margin, section.right_margin = Mm(28), Mm(26)
        section.footer_distance = Mm(20)
        self._page_number(section)

    def _page_number(self, section) -> None:
        """— 1 — at the foot of every page (a PAGE field)."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.oxml import parse_xml
        from docx.oxml.ns import nsdecls

        footer = section.footer
        footer.is_linked_to_previous = False
        paragraph = footer.paragraphs[0]
        paragraph.text = ""
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        self._run(paragraph, "— ", "body", SI_HAO)
        paragraph._p.append(  # a field is a child of the paragraph, its result a run in it
            parse_xml(
                f'<w:fldSimple {nsdecls("w")} w:instr="PAGE"><w:r><w:t>1</w:t></w:r></w:fldSimple>'
            )
        )
        self._run(paragraph, " —", "body", SI_HAO)

    def _normal_style(self) -> None:
        from docx.enum.text import WD_LINE_SPACING
        from docx.shared import Pt

        style = self.doc.styles["Normal"]
        self._set_font(style.font, style.element.get_or_add_rPr(), "body", SAN_HAO)
        style.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        style.paragraph_format.line_spacing = Pt(LINE)
        style.paragraph_format.space_before = style.paragraph_format.space_after = Pt(0)

    def _set_font(self, font, rpr, kind: str, size: float) -> None:
        from docx.oxml.ns import qn
        from docx.shared import Pt

        name = self.fonts[kind][0]
        font.name = name
        font.size = Pt(size)
        fonts = rpr.get_or_add_rFonts()
        for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
            fonts.set(qn(attr), name)

    def _run(self, paragraph, text: str, kind: str, size: float, *, color: str | None = None):
        from docx.shared import RGBColor

        run = paragraph.add_run(text)
        self._set_font(run.font, run._r.get_or_add_rPr(), kind, size)
        if color:
            run.font.color.rgb = RGBColor.from_string(color)
        return run

    def para(
        self,
        text: str = "",
        *,
        kind: str = "body",
        size: float = SAN_HAO,
        align: str = "justify",
        indent: bool = True,
        color: str | None = None,
        right_chars: float = 0,
    ):
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        paragraph = self.doc.add_paragraph()
        paragraph.alignment = {
            "justify": WD_ALIGN_PARAGRAPH.JUSTIFY,
            "center": WD_ALIGN_PARAGRAPH.CENTER,
            "right": WD_ALIGN_PARAGRAPH.RIGHT,
            "left": WD_ALIGN_PARAGRAPH.LEFT,
        }[align]
        if indent:
            paragraph.paragraph_format.first_line_indent = Pt(2 * size)
        if right_chars:
            paragraph.paragraph_format.right_indent = Pt(right_chars * size)
        if size > SAN_HAO:  # titles: the line grows with the type
            paragraph.paragraph_format.line_spacing = Pt(size * 1.5)
        if text:
            self._run(paragraph, text, kind, size, color=color)
        return paragraph

    def red_rule(self, paragraph) -> None:
        from docx.oxml import parse_xml
        from docx.oxml.ns import nsdecls

        border = (
            f'<w:pBdr {nsdecls("w")}><w:bottom w:val="single" w:sz="12" w:space="6"'
            f' w:color="{RED}"/></w:pBdr>'
        )
        ppr = paragraph._p.get_or_add_pPr()
        later = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:spacing", "w:ind")
        ppr.insert_element_before(parse_xml(border), *later, "w:jc", "w:rPr", "w:sectPr")

    def table(
        self,
        columns: Sequence[Column],
        items: Sequence[Any],
        *,
        first: str | None = None,
        total: Any = None,
        size: float = WU_HAO,
    ):
        """A table of figures: names left and never broken, numbers right, header bold."""
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING

        tz = ZoneInfo(self.report.timezone)
        rows = table_rows([*items, total] if total is not None else list(items), columns, tz)
        header = [first if (first and c.field == "label") else c.label for c in columns]
        table = self.doc.add_table(rows=1 + len(rows), cols=len(columns))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for index, column in enumerate(columns):
            numeric = column.kind in NUMERIC_KINDS
            texts = [header[index], *(row[index] for row in rows)]
            for row_no, text in enumerate(texts):
                cell = table.cell(row_no, index)
                paragraph = cell.paragraphs[0]
                paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
                paragraph.paragraph_format.first_line_indent = 0
                if row_no == 0:
                    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
                else:
                    paragraph.alignment = (
                        WD_ALIGN_PARAGRAPH.RIGHT if numeric else WD_ALIGN_PARAGRAPH.LEFT
                    )
                bold = row_no == 0 or (total is not None and row_no == len(texts) - 1)
                run = self._run(paragraph, text, "body", size)
                run.bold = bold
            if column.field in ("label", "unit_label"):
                self._no_wrap(table, index, max(display_width(t) for t in texts), size)
        self.doc.add_paragraph().paragraph_format.line_spacing = 1.0
        return table

    @staticmethod
    def _no_wrap(table, index: int, chars: float, size: float) -> None:
        """A name column as wide as its longest name, and told never to wrap."""
        from docx.oxml import parse_xml
        from docx.oxml.ns import nsdecls
        from docx.shared import Pt

        width = Pt((chars + 1) * size)
        for row in table.rows:
            cell = row.cells[index]
            cell.width = width
            cell._tc.get_or_add_tcPr().append(parse_xml(f"<w:noWrap {nsdecls('w')}/>"))

    def fallbacks(self) -> None:
        """Name each font's stand-in (the next in its list) in the font table."""
        for part in self.doc.part.package.parts:
            if str(part.partname) == "/word/fontTable.xml":
                break
        else:
            return
        entries = []
        for kind in ("title", "body", "heading", "subheading"):
            names = self.fonts[kind]
            alt = f"<w:altName w:val={quoteattr(names[1])}/>" if len(names) > 1 else ""
            family = "modern" if kind == "heading" else "roman"
            entries.append(
                f"<w:font w:name={quoteattr(names[0])}>{alt}"
                f'<w:charset w:val="86"/><w:family w:val="{family}"/></w:font>'
            )
        blob = part.blob.decode("utf-8")
        part._blob = blob.replace("</w:fonts>", "".join(entries) + "</w:fonts>").encode("utf-8")


def build_docx(report: Report):
    """The report as a python-docx ``Document``."""
    w = _Writer(report)
    m = report.masthead
    tz = ZoneInfo(report.timezone)
    weekly = isinstance(report, WeeklyReport)
    # 版头: the office in red, 期号, 文号, the red rule.
    w.para(m.office, kind="title", size=ER_HAO + 4, align="center", indent=False, color=RED)
    w.para(m.issue_label, align="center", indent=False)
    w.red_rule(w.para(m.doc_number, align="center", indent=False))
    w.para()
    # 标题
    w.para(m.title, kind="title", size=ER_HAO, align="center", indent=False)
    w.para(report.period.label, kind="title", size=ER_HAO, align="center", indent=False)
    w.para()
    if m.recipients:
        w.para(f"{m.recipients}：", align="left", indent=False)
    what = "督办件办理情况" if weekly else "各单位督办工作情况讲评"
    w.para(f"现将{report.period.label}{what}通报如下。{as_of_line(report, tz)}。")
    sections = _sections(report, tz)
    for number, (heading, body) in enumerate(sections):
        w.para(f"{CN_NUMBERS[number]}、{heading}", kind="heading")
        body(w)
    w.para()
    w.para("附件：分单位、分来源情况统计表（全部指标）")
    w.para()
    _signature(w, m.issuer, m.date_label)
    _annex(w, report)
    w.fallbacks()
    return w.doc


def _sections(report: Report, tz: ZoneInfo) -> list[tuple[str, Any]]:
    def lines(texts: Sequence[str]):
        return lambda w: [w.para(text) for text in texts]

    def figures(first: str, items, annex_no: int):
        def write(w: _Writer) -> None:
            w.table(CONDENSED_COLUMNS, items, first=first, total=report.total)
            w.para(f"注：超期为统计时点超期未反馈件数；全部指标见附件表{annex_no}。", size=SI_HAO)

        return write

    sections: list[tuple[str, Any]] = [("总体情况", lines(headline(report.total, tz)))]
    if isinstance(report, WeeklyReport):
        sections += [
            ("分单位情况", figures("单位", report.by_unit, 1)),
            ("分来源情况", figures("来源", report.by_source, 2)),
            (f"超期未反馈督办件（{report.overdue_total}件）", _overdue(report)),
            (
                f"退回与续办（{len(report.changes)}次）",
                _list(CHANGE_COLUMNS, report.changes),
            ),
            (f"近{len(report.trend)}周趋势", _list(TREND_COLUMNS, report.trend, size=XIAO_WU)),
        ]
        if report.tasks is not None:
            tasks = report.tasks
            listed = [*tasks.red, *tasks.yellow]

            def task_section(w: _Writer) -> None:
                for text in task_lines(tasks):
                    w.para(text)
                if listed:
                    _list(TASK_COLUMNS, listed)(w)

            sections.append(("督办事项", task_section))
    else:
        ranking_columns = _pick(RANK_COLUMNS, RANK_DOC_FIELDS)

        def ranking(w: _Writer) -> None:
            w.table(ranking_columns, report.ranking.entries)
            for text in ranking_summary(report):
                w.para(text)

        sections += [
            ("排名情况", ranking),
            ("分单位情况", figures("单位", report.by_unit, 1)),
            ("分来源情况", figures("来源", report.by_source, 2)),
            ("计分办法", lines(scoring_rules(report))),
        ]
    return sections


def _overdue(report: WeeklyReport):
    """By unit, then the longest-overdue tickets (and where the rest are)."""

    def write(w: _Writer) -> None:
        if not report.overdue:
            w.para("无。")
            return
        w.para(overdue_summary(report))
        w.table(OVERDUE_UNIT_COLUMNS, report.overdue_units)
        w.para(overdue_list_line(report))
        w.table(_pick(OVERDUE_COLUMNS, OVERDUE_DOC_FIELDS), report.overdue)

    return write


def _list(columns: Sequence[Column], items: Sequence[Any], *, size: float = WU_HAO):
    def write(w: _Writer) -> None:
        if items:
            w.table(columns, items, size=size)
        else:
            w.para("无。")

    return write


def _signature(w: _Writer, issuer: str, dated: str) -> None:
    """成文日期 four characters from the right; the 署名 centred over it."""
    date_chars = display_width(dated)
    issuer_chars = display_width(issuer)
    w.para(
        issuer,
        align="right",
        indent=False,
        right_chars=max(0.0, 4 + (date_chars - issuer_chars) / 2),
    )
    w.para(dated, align="right", indent=False, right_chars=4)


def _annex(w: _Writer, report: Report) -> None:
    from docx.enum.section import WD_SECTION

    w._page(w.doc.add_section(WD_SECTION.NEW_PAGE), landscape=True)
    w.para("附件", kind="heading", align="left", indent=False)
    w.para(
        "分单位、分来源情况统计表（全部指标）",
        kind="title",
        size=SI_HAO + 4,
        align="center",
        indent=False,
    )
    for number, (first, items) in enumerate(
        (("单位", report.by_unit), ("来源", report.by_source)), start=1
    ):
        w.para(
            f"表{number}　分{first}情况", kind="heading", size=SI_HAO, align="left", indent=False
        )
        w.table(FIGURE_COLUMNS, items, first=first, total=report.total, size=XIAO_WU)


def write_docx(report: Report, path: Path) -> Path:
    """Write the report as DOCX to ``path``."""
    path = Path(path)
    document = build_docx(report)
    try:
        with atomic_path(path, mode=SHARED) as temp:  # whole or not at all, 0640
            document.save(str(temp))
    except OSError as exc:
        raise RenderError(f"{path}: 无法写入 (cannot write): {exc}") from exc
    return path
