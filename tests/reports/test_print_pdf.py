"""The weekly page printed to PDF by headless Chromium: A4 portrait with the condensed unit
table, the annex on A4 landscape, every unit name on one line in a column wide enough for it.

Text positions are read back with ``pdftotext -bbox-layout`` (poppler-utils). Without
Chromium or poppler the test skips, and fails under ``CI=true``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from reports.render import render_html
from tests.helpers import unavailable
from tests.reports.print_helpers import monthly_report, weekly_report

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
A4 = (595.3, 841.9)  # points
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)
CONDENSED = ["单位", "收件", "到期", "回复率", "按期率", "办结率", "超期"]


@dataclass(frozen=True)
class Word:
    page: int
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    unavailable(f"no {names[0]} (apt install {'chromium' if 'chrom' in names[0] else names[0]})")
    raise AssertionError("unreachable")


def print_to_pdf(page: str, folder: Path) -> Path:
    chromium = _tool("chromium", "chromium-browser", "google-chrome")
    source, pdf = folder / "page.html", folder / "page.pdf"
    source.write_text(page, encoding="utf-8")
    done = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={folder / 'profile'}",
            f"--print-to-pdf={pdf}",
            source.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pdf.exists() and pdf.stat().st_size > 0, done.stderr[-2000:]
    return pdf


class _Words(HTMLParser):
    """``pdftotext -bbox-layout`` output: pages of words with their boxes."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[tuple[float, float]] = []
        self.words: list[Word] = []
        self._box: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "page":
            self.pages.append((float(values["width"]), float(values["height"])))
        elif tag == "word":
            self._box = values

    def handle_data(self, data: str) -> None:
        if self._box is not None:
            box = self._box
            self.words.append(
                Word(
                    len(self.pages),
                    data.strip(),
                    float(box["xmin"]),
                    float(box["ymin"]),
                    float(box["xmax"]),
                    float(box["ymax"]),
                )
            )
            self._box = None


def read_words(pdf: Path) -> _Words:
    pdftotext = _tool("pdftotext")
    out = subprocess.run(
        [pdftotext, "-bbox-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    parser = _Words()
    parser.feed(out)
    return parser


def _same_line(a: Word, b: Word) -> bool:
    return a.page == b.page and abs((a.y0 + a.y1) / 2 - (b.y0 + b.y1) / 2) < 2


def _header_line(words: list[Word], page: int) -> list[Word]:
    """The condensed table's header: 单位 followed on its line by 收件 … 超期."""
    for word in words:
        if word.page == page and word.text == "单位":
            line = sorted((w for w in words if _same_line(w, word)), key=lambda w: w.x0)
            if [w.text for w in line] == CONDENSED:
                return line
    raise AssertionError(f"no condensed header on page {page}")


def _portrait(size: tuple[float, float]) -> bool:
    return abs(size[0] - A4[0]) < 3 and abs(size[1] - A4[1]) < 3


def _landscape(size: tuple[float, float]) -> bool:
    return abs(size[0] - A4[1]) < 3 and abs(size[1] - A4[0]) < 3


@SQLITE
def test_unit_table_printed_with_names_on_one_line(engine: Engine, tmp_path: Path) -> None:
    report = weekly_report(engine)
    # A longer name than any sample short name, to see the column grow for it.
    long_name = "滨河区人力资源和社会保障局"
    by_unit = (replace(report.by_unit[0], label=long_name), *report.by_unit[1:])
    report = replace(report, by_unit=by_unit)
    parsed = read_words(print_to_pdf(render_html(report), tmp_path))
    words, pages = parsed.words, parsed.pages

    assert _portrait(pages[0]), pages  # the body on A4 portrait …
    annex_pages = [n for n, size in enumerate(pages, start=1) if _landscape(size)]
    assert annex_pages and annex_pages[-1] == len(pages), pages  # … the annex on landscape
    assert all(_portrait(size) for size in pages[: annex_pages[0] - 1]), pages

    header = _header_line(words, 1)
    names = [f.label for f in report.by_unit] + ["合计"]
    for name in names:
        # one word on one line, in the body's table and in the annex
        body = [w for w in words if w.text == name and w.page < annex_pages[0]]
        annex = [w for w in words if w.text == name and w.page in annex_pages]
        assert body and annex, (name, [w.text for w in words if w.text[:2] == name[:2]])
        for word in (body[0], annex[0]):
            row = [w for w in words if _same_line(w, word) and w.x0 > word.x1]
            assert row, (name, word)  # the figures are on the same line
    # The unit column is as wide as the longest name: the next column starts after it.
    longest = next(w for w in words if w.text == long_name and w.page == 1)
    assert longest.x0 >= header[0].x0 - 1
    assert header[1].x0 > longest.x1
    em = (header[0].x1 - header[0].x0) / 2  # 单位: two characters of the table's size
    assert longest.x1 - longest.x0 >= 0.8 * len(long_name) * em
    # All seven columns fit across the portrait page.
    assert header[-1].x1 < pages[0][0]


@SQLITE
def test_ranking_headers_are_not_one_character_a_line(engine: Engine, tmp_path: Path) -> None:
    report = monthly_report(engine)
    parsed = read_words(print_to_pdf(render_html(report), tmp_path))
    assert all(_portrait(size) for size in parsed.pages[:-1])
    first_page = {w.text for w in parsed.words if w.page == 1}
    assert {"名次", "到期件", "回复率", "按期率", "时效分", "质量分", "生态环境分局"} <= first_page
