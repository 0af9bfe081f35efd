"""The reports as Markdown, HTML, JSON, XLSX and chat text (the CSV of all tickets: export).

Every renderer reads the same report object, so the numbers are the same everywhere.
Times are shown in the office's zone; spreadsheets get real numbers, dates and percentages.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reports import charts
from reports.errors import RenderError
from reports.monthly import MonthlyReport
from reports.outputs import (
    SHARED,
    OutputGuard,
    atomic_path,
    check_all,
    looks_like_formula,
    write_text,
)
from reports.rounding import half_up
from reports.tables import (
    CHANGE_COLUMNS,
    CONDENSED_COLUMNS,
    FIGURE_COLUMNS,
    KEEP_WHOLE,
    NUMERIC_KINDS,
    OVERDUE_COLUMNS,
    OVERDUE_UNIT_COLUMNS,
    RANK_COLUMNS,
    TASK_COLUMNS,
    TREND_COLUMNS,
    Column,
    headline,
    overdue_list_line,
    overdue_summary,
    ranking_summary,
    scoring_rules,
    task_lines,
    text_of,
)
from reports.tables import as_of_line as _as_of_line
from reports.tables import display_width as _display_width
from reports.tables import table_rows as _rows
from reports.weekly import WeeklyReport

Report = WeeklyReport | MonthlyReport
FORMATS = ("md", "html", "json", "xlsx", "docx")
BUNDLE_FORMATS = ("md", "html", "json", "xlsx")  # what write_all writes by default
CHAT_LIMIT = 4000


def _unit_header(columns: Sequence[Column], first: str) -> list[str]:
    return [first if c.field == "label" else c.label for c in columns]


# -- JSON -----------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        value = (
            value.as_dict()
            if hasattr(value, "as_dict")
            else {name: getattr(value, name) for name in value.__dataclass_fields__}
        )
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def render_json(report: Report) -> str:
    data = to_jsonable(report)
    data["period"]["label"] = report.period.label
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


# -- Markdown -------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def _masthead_line(report: Report) -> str:
    m = report.masthead
    return f"{m.office}　{m.issue_label}　{m.doc_number}"


def render_markdown(report: Report, *, charts_rel: Sequence[str] = ()) -> str:
    tz = ZoneInfo(report.timezone)
    if isinstance(report, WeeklyReport):
        return "\n".join(_weekly_md(report, tz, charts_rel)) + "\n"
    return "\n".join(_monthly_md(report, tz, charts_rel)) + "\n"


def _weekly_md(report: WeeklyReport, tz: ZoneInfo, charts_rel: Sequence[str]) -> list[str]:
    lines = [
        f"# {report.masthead.title} {report.period.label}",
        "",
        _masthead_line(report),
        "",
        _as_of_line(report, tz),
        "",
        "## 一、总体情况",
        "",
    ]
    lines += [f"- {sentence}" for sentence in headline(report.total, tz)]
    lines += ["", "## 二、分单位情况", ""]
    lines += _md_table(
        _unit_header(FIGURE_COLUMNS, "单位"),
        _rows([*report.by_unit, report.total], FIGURE_COLUMNS, tz),
    )
    lines += ["", "## 三、分来源情况", ""]
    lines += _md_table(
        _unit_header(FIGURE_COLUMNS, "来源"),
        _rows([*report.by_source, report.total], FIGURE_COLUMNS, tz),
    )
    lines += ["", f"## 四、超期未反馈情况（{report.overdue_total} 件）", ""]
    if report.overdue:
        lines += [overdue_summary(report), ""]
        lines += _md_table(
            [c.label for c in OVERDUE_UNIT_COLUMNS],
            _rows(report.overdue_units, OVERDUE_UNIT_COLUMNS, tz),
        )
        lines += ["", overdue_list_line(report), ""]
        lines += _md_table(
            [c.label for c in OVERDUE_COLUMNS], _rows(report.overdue, OVERDUE_COLUMNS, tz)
        )
    else:
        lines.append("无。")
    lines += ["", f"## 五、退回与续办（{len(report.changes)} 次）", ""]
    if report.changes:
        lines += _md_table(
            [c.label for c in CHANGE_COLUMNS], _rows(report.changes, CHANGE_COLUMNS, tz)
        )
    else:
        lines.append("无。")
    lines += ["", f"## 六、近 {len(report.trend)} 周趋势", ""]
    lines += _md_table([c.label for c in TREND_COLUMNS], _rows(report.trend, TREND_COLUMNS, tz))
    if report.tasks is not None:
        lines += ["", "## 七、督办事项", ""]
        lines += [f"- {sentence}" for sentence in task_lines(report.tasks)]
        listed = [*report.tasks.red, *report.tasks.yellow]
        if listed:
            lines.append("")
            lines += _md_table([c.label for c in TASK_COLUMNS], _rows(listed, TASK_COLUMNS, tz))
    lines += _md_charts(charts_rel)
    return lines


def _monthly_md(report: MonthlyReport, tz: ZoneInfo, charts_rel: Sequence[str]) -> list[str]:
    ranking = report.ranking
    lines = [
        f"# {report.masthead.title} {report.period.label}",
        "",
        _masthead_line(report),
        "",
        _as_of_line(report, tz),
        "",
        "## 一、总体情况",
        "",
    ]
    lines += [f"- {sentence}" for sentence in headline(report.total, tz)]
    lines += ["", "## 二、排名", ""]
    lines += _md_table([c.label for c in RANK_COLUMNS], _rows(ranking.entries, RANK_COLUMNS, tz))
    lines += [""] + [f"- {line}" for line in ranking_summary(report)]
    lines += ["", "## 三、分单位情况", ""]
    lines += _md_table(
        _unit_header(FIGURE_COLUMNS, "单位"),
        _rows([*report.by_unit, report.total], FIGURE_COLUMNS, tz),
    )
    lines += ["", "## 四、分来源情况", ""]
    lines += _md_table(
        _unit_header(FIGURE_COLUMNS, "来源"),
        _rows([*report.by_source, report.total], FIGURE_COLUMNS, tz),
    )
    lines += ["", "## 五、计分办法", "", *[f"- {line}" for line in scoring_rules(report)]]
    lines += _md_charts(charts_rel)
    return lines


def _md_charts(charts_rel: Sequence[str]) -> list[str]:
    if not charts_rel:
        return []
    return ["", "## 图表", "", *[f"![{Path(p).stem}]({p})" for p in charts_rel]]


# -- HTML -----------------------------------------------------------------------------------

CSS = """body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;margin:2em;
color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}th{background:#eef2f7}
.t{text-align:left}.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.d{text-align:left;white-space:nowrap}.k{white-space:nowrap;word-break:keep-all}
th.n,th.d{text-align:center;white-space:normal}tr.total td{font-weight:bold}
img{max-width:100%;margin:1em 0}.note{color:#666;font-size:13px}
.masthead{color:#c00;text-align:center;border-bottom:2px solid #c00;padding-bottom:.4em}
.masthead .office{font-size:26px;font-weight:bold;letter-spacing:.1em}
.masthead .issue{color:#222;margin-top:.3em}.masthead .issue span{margin:0 1em}
h1{text-align:center;font-size:22px}.sign{text-align:right;margin:2em 2em 0 0;
line-height:1.8}.annex h2{font-size:16px}
@page{size:A4 portrait;margin:16mm 15mm 15mm}
@page wide{size:A4 landscape;margin:12mm 10mm}
.annex{page:wide;break-before:page}
@media print{body{margin:0;font-size:11pt}table{font-size:9.5pt;margin:.3em 0 1em}
th,td{padding:2px 4px}table.ranking{font-size:8.5pt}.annex table{font-size:7.5pt}
.annex th,.annex td{padding:2px 3px}
thead{display:table-header-group}tr,img,.sign{break-inside:avoid}h1,h2{break-after:avoid}
th{background:none}th,td{border-color:#666}.note{color:#333}}"""


def _cell_class(column: Column) -> str:
    if column.kind in NUMERIC_KINDS:
        return "n"
    if column.kind in ("date", "datetime"):
        return "d"
    return "t k" if column.field in KEEP_WHOLE else "t"


def _html_table(
    columns: Sequence[Column],
    items: Sequence[Any],
    tz: ZoneInfo,
    *,
    first: str | None = None,
    total: Any = None,
    kind: str | None = None,
) -> str:
    """A table whose cells say what they hold: text left, numbers right, names unbroken
    (the name column at least as wide as its longest name)."""
    classes = [_cell_class(c) for c in columns]
    rows = [*items, total] if total is not None else list(items)
    texts = _rows(rows, columns, tz)
    head = []
    for index, (column, cls) in enumerate(zip(columns, classes, strict=True)):
        label = first if (first and column.field == "label") else column.label
        style = ""
        if "k" in cls.split():
            widest = max([_display_width(r[index]) for r in texts] + [_display_width(label)])
            style = f' style="min-width:{widest + 0.5:.1f}em"'
        elif cls in ("n", "d"):  # a header wraps into lines of three, never one per line
            style = f' style="min-width:{min(_display_width(label), 3.0):.1f}em"'
        elif cls == "t":  # free text (a title, a reason) keeps room for a few words a line
            style = ' style="min-width:6em"'
        head.append(
            f'<th class="{cls}" data-field="{column.field}"{style}>{html.escape(label)}</th>'
        )
    body = []
    for number, row in enumerate(texts):
        marker = ' class="total"' if total is not None and number == len(texts) - 1 else ""
        cells = "".join(
            f'<td class="{cls}">{html.escape(text)}</td>'
            for cls, text in zip(classes, row, strict=True)
        )
        body.append(f"<tr{marker}>{cells}</tr>")
    attrs = f' class="{kind}"' if kind else ""
    return (
        f"<table{attrs}><thead><tr>{''.join(head)}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _html_list(lines: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in lines) + "</ul>"


def _masthead_html(report: Report) -> str:
    m = report.masthead
    return (
        f'<header class="masthead"><div class="office">{html.escape(m.office)}</div>'
        f'<div class="issue"><span>{html.escape(m.issue_label)}</span>'
        f"<span>{html.escape(m.doc_number)}</span></div></header>"
    )


def _figure_sections(report: Report, tz: ZoneInfo, numbers: Sequence[str]) -> list[str]:
    """分单位 and 分来源, condensed; the full tables are 附表1 and 附表2."""
    unit_no, source_no = numbers
    return [
        f"<h2>{unit_no}、分单位情况</h2>",
        _html_table(
            CONDENSED_COLUMNS, report.by_unit, tz, first="单位", total=report.total, kind="units"
        ),
        "<p class=note>超期：统计时点超期未反馈件数。各单位全部指标见附表1。</p>",
        f"<h2>{source_no}、分来源情况</h2>",
        _html_table(
            CONDENSED_COLUMNS,
            report.by_source,
            tz,
            first="来源",
            total=report.total,
            kind="sources",
        ),
        "<p class=note>各来源全部指标见附表2。</p>",
    ]


def _annex_html(report: Report, tz: ZoneInfo) -> str:
    return (
        '<section class="annex">'
        "<h2>附表1　分单位情况（全部指标）</h2>"
        + _html_table(
            FIGURE_COLUMNS,
            report.by_unit,
            tz,
            first="单位",
            total=report.total,
            kind="units-full",
        )
        + "<h2>附表2　分来源情况（全部指标）</h2>"
        + _html_table(
            FIGURE_COLUMNS,
            report.by_source,
            tz,
            first="来源",
            total=report.total,
            kind="sources-full",
        )
        + "</section>"
    )


def render_html(
    report: Report, *, charts_rel: Sequence[str] = (), charts_inline: Sequence[Path] = ()
) -> str:
    """A page fit to print: the office's masthead, the condensed tables on A4 portrait, the
    full 22-column tables as an annex on A4 landscape. Charts are linked by their path
    relative to the page (``charts_rel``) or, ``charts_inline``, embedded in it, so the
    file can be mailed on its own."""
    tz = ZoneInfo(report.timezone)
    m = report.masthead
    title = f"{m.title} {report.period.label}"
    parts = [
        _masthead_html(report),
        f"<h1>{html.escape(title)}</h1>",
        f"<p class=note>{html.escape(_as_of_line(report, tz))}</p>",
        "<h2>一、总体情况</h2>" + _html_list(headline(report.total, tz)),
    ]
    if isinstance(report, WeeklyReport):
        parts += _figure_sections(report, tz, ("二", "三"))
        parts.append(f"<h2>四、超期未反馈情况（{report.overdue_total} 件）</h2>")
        if report.overdue:
            parts += [
                f"<p>{html.escape(overdue_summary(report))}</p>",
                _html_table(OVERDUE_UNIT_COLUMNS, report.overdue_units, tz, kind="overdue-units"),
                f"<p>{html.escape(overdue_list_line(report))}</p>",
                _html_table(OVERDUE_COLUMNS, report.overdue, tz, kind="overdue"),
            ]
        else:
            parts.append("<p>无。</p>")
        parts += [
            f"<h2>五、退回与续办（{len(report.changes)} 次）</h2>",
            _html_table(CHANGE_COLUMNS, report.changes, tz),
            f"<h2>六、近 {len(report.trend)} 周趋势</h2>",
            _html_table(TREND_COLUMNS, report.trend, tz),
        ]
        if report.tasks is not None:
            parts += [
                "<h2>七、督办事项</h2>" + _html_list(task_lines(report.tasks)),
                _html_table(TASK_COLUMNS, [*report.tasks.red, *report.tasks.yellow], tz),
            ]
    else:
        parts += [
            "<h2>二、排名</h2>",
            _html_table(RANK_COLUMNS, report.ranking.entries, tz, kind="ranking"),
            _html_list(ranking_summary(report)),
        ]
        parts += _figure_sections(report, tz, ("三", "四"))
        parts += ["<h2>五、计分办法</h2>" + _html_list(scoring_rules(report))]
    parts += [f'<img src="{html.escape(p)}" alt="{html.escape(Path(p).stem)}">' for p in charts_rel]
    parts += [
        f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"'
        f' alt="{html.escape(p.stem)}">'
        for p in charts_inline
    ]
    parts += [
        f'<p class="sign">{html.escape(m.issuer)}<br>{html.escape(m.date_label)}</p>',
        _annex_html(report, tz),
    ]
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )


# -- XLSX -----------------------------------------------------------------------------------

XLSX_FORMATS = {
    "pct": "0.0%",
    "days": "0.0",
    "score": "0.0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "int": "0",
}


def _xlsx_value(value: Any, kind: str, tz: ZoneInfo) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return value.astimezone(tz).replace(tzinfo=None)  # spreadsheets have no zones
    if kind in ("pct", "days", "score"):
        return float(value)
    return value


def _keep_text(cell) -> None:
    """Text stays text: openpyxl stores a string starting with "=" as a formula, so a title
    like "=== 紧急 ===" would be a broken formula (and "=HYPERLINK(…)" a live one)."""
    if looks_like_formula(cell.value):
        cell.data_type = "s"


def _page_setup(sheet, report: Report) -> None:
    """Printed on A4 landscape, as wide as the page, the header row on every page, the
    office and the report in the page header."""
    from openpyxl.worksheet.properties import PageSetupProperties

    m = report.masthead
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as it takes
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    if sheet.title != "概览":
        sheet.print_title_rows = "1:1"
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    header = f"{m.office}　{m.title} {report.period.label}　{m.issue_label}"
    sheet.oddHeader.center.text = header.replace("&", "&&")
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"


def _sheet(
    book,
    title: str,
    columns: Sequence[Column],
    items: Sequence[Any],
    tz: ZoneInfo,
    *,
    first: str | None = None,
) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    header = [first if (first and c.field == "label") else c.label for c in columns]
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for item in items:
        sheet.append([_xlsx_value(getattr(item, c.field), c.kind, tz) for c in columns])
        for cell in sheet[sheet.max_row]:
            _keep_text(cell)
    for index, column in enumerate(columns, start=1):
        fmt = XLSX_FORMATS.get(column.kind)
        if fmt:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = fmt
        width = {"text": 14, "datetime": 17, "date": 11}.get(column.kind, 10)
        if column.field in ("title", "note"):
            width = 40
        sheet.column_dimensions[get_column_letter(index)].width = max(width, len(column.label) * 2)
    sheet.freeze_panes = "B2"


def write_xlsx(report: Report, path: Path) -> Path:
    """One workbook: overview, per unit, per source, lists; real types and formats."""
    from openpyxl import Workbook

    tz = ZoneInfo(report.timezone)
    book = Workbook()
    overview = book.active
    overview.title = "概览"
    weekly = isinstance(report, WeeklyReport)
    overview.append(["报表", report.masthead.title])
    overview.append(["期间", report.period.key])
    for label, day in (("起", report.period.first), ("止", report.period.last)):
        overview.append([label, day])
        overview.cell(overview.max_row, 2).number_format = "yyyy-mm-dd"
    overview.append(["统计截至", report.as_of.astimezone(tz).replace(tzinfo=None)])
    overview.cell(overview.max_row, 2).number_format = "yyyy-mm-dd hh:mm"
    overview.append(["时区", f"{report.masthead.time_label}（{report.timezone}）"])
    overview.append(["发文机关", report.masthead.issuer])
    overview.append(["期号", report.masthead.issue_label])
    overview.append(["文号", report.masthead.doc_number])
    for column in FIGURE_COLUMNS[1:]:
        overview.append(
            [column.label, _xlsx_value(getattr(report.total, column.field), column.kind, tz)]
        )
        fmt = XLSX_FORMATS.get(column.kind)
        if fmt:
            overview.cell(overview.max_row, 2).number_format = fmt
    if not weekly:  # flags and 问责提示, as the Markdown states them
        for line in ranking_summary(report):
            overview.append(["排名说明", line])
    overview.column_dimensions["A"].width = 18
    overview.column_dimensions["B"].width = 18
    if not weekly:
        _sheet(book, "排名", RANK_COLUMNS, report.ranking.entries, tz)
    _sheet(book, "分单位", FIGURE_COLUMNS, [*report.by_unit, report.total], tz, first="单位")
    _sheet(book, "分来源", FIGURE_COLUMNS, [*report.by_source, report.total], tz, first="来源")
    if isinstance(report, WeeklyReport):
        if report.overdue_unlisted > 0:
            overview.append(["超期清单", overdue_list_line(report)])
        _sheet(book, "超期分单位", OVERDUE_UNIT_COLUMNS, report.overdue_units, tz)
        _sheet(book, "超期清单", OVERDUE_COLUMNS, report.overdue, tz)
        if report.overdue_unlisted > 0:  # under the list, where it is printed
            listed = book["超期清单"]
            listed.append([])
            listed.append([overdue_list_line(report)])
            _keep_text(listed.cell(listed.max_row, 1))
        _sheet(book, "退回续办", CHANGE_COLUMNS, report.changes, tz)
        _sheet(book, "趋势", TREND_COLUMNS, report.trend, tz)
        tasks = report.tasks if isinstance(report, WeeklyReport) else None
        if tasks is not None:
            overview.append(["督办事项", task_lines(tasks)[0]])
            _sheet(book, "督办事项", TASK_COLUMNS, [*tasks.red, *tasks.yellow], tz)
    for sheet in book.worksheets:
        _page_setup(sheet, report)
    path = Path(path)
    with atomic_path(path, mode=SHARED) as temp:
        book.save(temp)
    return path


# -- chat -----------------------------------------------------------------------------------


def chat_text(report: Report, *, limit: int = CHAT_LIMIT) -> str:
    """A short plain-text version for chat, always under ``limit`` characters."""
    tz = ZoneInfo(report.timezone)
    weekly = isinstance(report, WeeklyReport)
    head = [
        f"【{'督查周报' if weekly else '月讲评'}】{report.period.label}",
        *headline(report.total, tz),
    ]
    items: list[str] = []
    unlisted = 0
    if isinstance(report, WeeklyReport):
        low = sorted(
            (
                f
                for f in report.by_unit
                if f.key is not None and f.on_time_rate is not None and f.on_time_rate < 1
            ),
            key=lambda f: (f.on_time_rate, -f.due, f.key),
        )[:3]
        if low:
            head.append(
                "按期率较低："
                + "，".join(
                    f"{f.label} {text_of(f.on_time_rate, 'pct', tz)}（到期{f.due}）" for f in low
                )
            )
        tasks = report.tasks if isinstance(report, WeeklyReport) else None
        if tasks is not None:
            head.append("督办事项：" + task_lines(tasks)[0])
        if report.overdue:
            by_unit = "、".join(f"{u.unit_label}{u.count}件" for u in report.overdue_units[:5])
            more_units = "等" if len(report.overdue_units) > 5 else ""
            head.append(
                f"超期未反馈共 {report.overdue_total} 件（{by_unit}{more_units}），超期最久的："
            )
            items = [
                f"{o.number} {o.unit_label} 超期{o.overdue_workdays}个工作日"
                for o in report.overdue
            ]
            unlisted = max(0, report.overdue_unlisted)
    else:
        head.extend(ranking_summary(report, brief=True))
        head.append("排名：")
        items = [
            f"{e.rank}. {e.label} {half_up(e.score or 0.0)}" + (f"【{e.flag}】" if e.flag else "")
            for e in report.ranking.ranked
        ]
    return _fit(head, items, limit, unlisted=unlisted)


def _fit(head: list[str], items: list[str], limit: int, *, unlisted: int = 0) -> str:
    """``head`` and as many ``items`` as fit, then how many more (``unlisted``: more still,
    beyond the items)."""
    text = "\n".join(head)
    for shown, item in enumerate(items):
        rest = len(items) - shown + unlisted
        tail = f"\n…另有 {rest} 项，见报表文件"
        if len(text) + 1 + len(item) + len(tail) >= limit and rest > 1:
            return text + tail
        text += "\n" + item
    if unlisted:
        text += f"\n…另有 {unlisted} 项，见报表文件"
    if len(text) >= limit:
        text = text[: limit - 2] + "…"
    return text


# -- files ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrittenReport:
    files: dict[str, Path] = field(default_factory=dict)  # format -> path
    charts: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": {k: str(v) for k, v in self.files.items()},
            "charts": [str(p) for p in self.charts],
        }


def chart_paths(report: Report, folder: Path, stem: str) -> list[Path]:
    """The files :func:`write_charts` writes, known before anything is drawn."""
    second = "trend" if isinstance(report, WeeklyReport) else "scores"
    return [Path(folder) / f"{stem}-{name}.png" for name in ("rates", second)]


def write_charts(report: Report, folder: Path, stem: str) -> list[Path]:
    """The report's PNG charts in ``folder``, named ``<stem>-<chart>.png``."""
    folder = Path(folder)
    units = [f for f in report.by_unit if f.due and f.key is not None]
    what = "周" if isinstance(report, WeeklyReport) else "月"
    paths = [
        charts.rates_by_unit(
            [f.label for f in units],
            [f.reply_rate for f in units],
            [f.on_time_rate for f in units],
            folder / f"{stem}-rates.png",
            title=f"本{what}到期件回复率与按期率（分单位） {report.period.label}",
        )
    ]
    if isinstance(report, WeeklyReport):
        trend = report.trend
        paths.append(
            charts.weekly_trend(
                [p.week for p in trend],
                [p.received for p in trend],
                [p.reply_rate for p in trend],
                [p.on_time_rate for p in trend],
                folder / f"{stem}-trend.png",
                title=f"近 {len(trend)} 周收件、回复率与按期率",
            )
        )
    else:
        ranked = report.ranking.ranked
        paths.append(
            charts.scores_by_unit(
                [e.label for e in ranked],
                [e.score or 0.0 for e in ranked],
                [e.flag for e in ranked],
                folder / f"{stem}-scores.png",
                title=f"月讲评综合得分 {report.period.label}",
            )
        )
    return paths


RENDERERS: dict[str, Callable[..., str]] = {"md": render_markdown, "html": render_html}


def write_report(
    report: Report,
    out: Path,
    fmt: str | None = None,
    *,
    charts_done: Sequence[Path] | None = None,
    guard: OutputGuard | None = None,
) -> WrittenReport:
    """Write ``report`` to ``out`` (format from ``fmt`` or the suffix) and its charts next
    to it (``<stem>-rates.png`` …), unless ``charts_done`` names charts already written
    in the same folder. ``guard`` checks every path first (existing files, the ledger);
    each file is written whole (a temporary file renamed into place), mode 0640."""
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".") or "md").lower()
    if fmt not in FORMATS:
        raise RenderError(f"--format: 不支持「{fmt}」，可选 {', '.join(FORMATS)}")
    if out.is_dir():  # before the charts, so a refused report leaves nothing behind
        raise RenderError(
            f"{out}: 是目录，请给出文件名，如 {out / f'report.{fmt}'} (a folder, not a file)"
        )
    planned = chart_paths(report, out.parent, out.stem) if charts_done is None else []
    check_all(guard, [out, *planned])
    try:
        chart_files = (
            list(charts_done)
            if charts_done is not None
            else write_charts(report, out.parent, out.stem)
        )
        rel = [p.name for p in chart_files]
        if fmt == "xlsx":
            write_xlsx(report, out)
        elif fmt == "docx":  # the official layout (党政机关公文格式)
            from reports.docx import write_docx

            write_docx(report, out)
        elif fmt == "json":
            write_text(out, render_json(report))
        elif fmt == "html":  # charts inside the page: it travels alone
            write_text(out, render_html(report, charts_inline=chart_files))
        else:
            write_text(out, RENDERERS[fmt](report, charts_rel=rel))
    except OSError as exc:
        raise RenderError(f"{out}: 无法写入 (cannot write): {exc}") from exc
    return WrittenReport(files={fmt: out}, charts=chart_files)


def write_all(
    report: Report,
    folder: Path,
    stem: str,
    formats: Sequence[str] = BUNDLE_FORMATS,
    *,
    guard: OutputGuard | None = None,
) -> WrittenReport:
    """Every format into ``folder`` (``<stem>.md`` …); the charts once, linked from all.
    ``guard`` checks every file before the first is written."""
    folder = Path(folder)
    check_all(
        guard,
        [folder / f"{stem}.{fmt}" for fmt in formats] + chart_paths(report, folder, stem),
    )
    written = write_report(report, folder / f"{stem}.{formats[0]}", formats[0])
    files = dict(written.files)
    for fmt in formats[1:]:
        files.update(
            write_report(report, folder / f"{stem}.{fmt}", fmt, charts_done=written.charts).files
        )
    return WrittenReport(files=files, charts=written.charts)
