"""PNG charts (matplotlib, Agg) with Chinese text in a CJK font.

No pyplot: each chart is a ``Figure`` drawn on an Agg canvas, so nothing global changes
and nothing needs a display. A missing CJK font is an error, never a chart of empty boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reports.errors import FontMissing
from reports.outputs import SHARED, atomic_path
from reports.rounding import half_up

logger = logging.getLogger(__name__)

# Families tried in order; the first one matplotlib can find is used.
CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Droid Sans Fallback",
)
# File names to look for when the font is installed but matplotlib's cache predates it.
CJK_FILE_HINTS = (
    "wqy-microhei",
    "wqy-zenhei",
    "notosanscjk",
    "notosanssc",
    "sourcehansans",
    "droidsansfallback",
)
PROBE = "督查周报按期率"
INSTALL_HINT = (
    "没有找到中文字体，图表中的汉字会显示为方框 (no CJK font for the charts). "
    "请安装 / install one: apt install fonts-wqy-microhei (or fonts-noto-cjk), "
    "then run again (or `make fonts`)."
)
BLUE, ORANGE, GREY, RED, YELLOW = "#2f6db5", "#e08a1e", "#9aa5b1", "#c0392b", "#e3b505"


@dataclass(frozen=True, slots=True)
class CJKFont:
    name: str
    path: str


@lru_cache(maxsize=1)
def find_cjk_font() -> CJKFont:
    """The first CJK font matplotlib can use; :class:`FontMissing` names the apt package."""
    return locate_font(CJK_FAMILIES, CJK_FILE_HINTS)


def locate_font(families: Sequence[str], file_hints: Sequence[str]) -> CJKFont:
    """A font of one of ``families`` known to matplotlib, else an installed file whose name
    contains one of ``file_hints`` (added to matplotlib's list), covering :data:`PROBE`."""
    from matplotlib import font_manager

    entries = {entry.name: entry.fname for entry in font_manager.fontManager.ttflist}
    for family in families:
        if family in entries and _covers(entries[family]):
            return CJKFont(family, entries[family])
    for path in font_manager.findSystemFonts():
        flat = Path(path).name.lower().replace("-", "").replace("_", "")
        if any(hint.replace("-", "") in flat for hint in file_hints) and _covers(path):
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
            logger.info("CJK font %s loaded from %s", name, path)
            return CJKFont(name, path)
    raise FontMissing(INSTALL_HINT)


def _covers(path: str) -> bool:
    """True when the font file has glyphs for the Chinese the charts print."""
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(path).get_charmap()
    except (OSError, RuntimeError):
        return False
    return all(ord(char) in charmap for char in PROBE)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def _style(font: CJKFont) -> dict[str, object]:
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [font.name, "DejaVu Sans"],
        "axes.unicode_minus": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


def rates_by_unit(
    labels: Sequence[str],
    reply_rates: Sequence[float | None],
    on_time_rates: Sequence[float | None],
    path: Path,
    *,
    title: str,
) -> Path:
    """Grouped bars: 回复率 and 按期率 (percent) for each unit with tickets due."""
    import matplotlib

    font = find_cjk_font()
    with matplotlib.rc_context(_style(font)):
        figure = _figure(max(7.0, 0.75 * len(labels) + 2), 4.6)
        axes = figure.add_subplot()
        if not labels:
            axes.text(
                0.5,
                0.5,
                "本期无到期件",
                ha="center",
                va="center",
                fontsize=14,
                transform=axes.transAxes,
            )
            axes.set_axis_off()
        else:
            positions = range(len(labels))
            width = 0.38
            reply = [100 * (value or 0) for value in reply_rates]
            on_time = [100 * (value or 0) for value in on_time_rates]
            bars = axes.bar(
                [p - width / 2 for p in positions], reply, width, label="回复率", color=BLUE
            )
            bars2 = axes.bar(
                [p + width / 2 for p in positions], on_time, width, label="按期率", color=ORANGE
            )
            for group, values in ((bars, reply), (bars2, on_time)):
                axes.bar_label(group, [half_up(v, 0) for v in values], fontsize=7, padding=1)
            axes.set_xticks(list(positions), list(labels), rotation=35, ha="right", fontsize=9)
            axes.set_ylim(0, 125)
            axes.set_yticks(range(0, 101, 20))
            axes.set_ylabel("%")
            axes.legend(loc="upper left", ncols=2, frameon=False, fontsize=9)
            axes.grid(axis="y", alpha=0.3)
        axes.set_title(title, fontsize=12)
        figure.tight_layout()
        return _save(figure, path)


def weekly_trend(
    weeks: Sequence[str],
    received: Sequence[int],
    reply_rates: Sequence[float | None],
    on_time_rates: Sequence[float | None],
    path: Path,
    *,
    title: str,
) -> Path:
    """Lines for 回复率 and 按期率 by week (gaps where nothing fell due), bars for 收件."""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    font = find_cjk_font()
    with matplotlib.rc_context(_style(font)):
        figure = _figure(max(7.0, 0.7 * len(weeks) + 2), 4.4)
        counts = figure.add_subplot()
        positions = list(range(len(weeks)))
        counts.bar(positions, list(received), color=GREY, alpha=0.45, label="收件（件）")
        counts.set_ylabel("收件（件）")
        counts.yaxis.set_major_locator(MaxNLocator(integer=True))
        counts.set_ylim(0, max(1.0, counts.get_ylim()[1]))  # no negative counts when all are 0
        counts.set_xticks(positions, [week.split("-")[-1] for week in weeks], fontsize=9)
        counts.set_xlabel(f"ISO 周（{weeks[0]} 至 {weeks[-1]}）" if weeks else "ISO 周")
        rates = counts.twinx()
        rates.spines["right"].set_visible(True)
        for values, label, colour, marker in (
            (reply_rates, "回复率", BLUE, "o"),
            (on_time_rates, "按期率", ORANGE, "s"),
        ):
            series = [float("nan") if v is None else 100 * v for v in values]
            rates.plot(positions, series, marker=marker, color=colour, label=label, linewidth=2)
        rates.set_ylim(0, 105)
        rates.set_ylabel("%")
        handles = counts.get_legend_handles_labels()
        more = rates.get_legend_handles_labels()
        rates.legend(
            handles[0] + more[0],
            handles[1] + more[1],
            loc="lower left",
            ncols=3,
            frameon=False,
            fontsize=9,
        )
        counts.set_title(title, fontsize=12)
        figure.tight_layout()
        return _save(figure, path)


def scores_by_unit(
    labels: Sequence[str],
    scores: Sequence[float],
    flags: Sequence[str | None],
    path: Path,
    *,
    title: str,
) -> Path:
    """Horizontal bars of the 月讲评 score, best at the top, 红旗 / 黄旗 coloured."""
    import matplotlib

    font = find_cjk_font()
    with matplotlib.rc_context(_style(font)):
        figure = _figure(7.0, max(3.0, 0.42 * len(labels) + 1.4))
        axes = figure.add_subplot()
        if not labels:
            axes.text(
                0.5,
                0.5,
                "本月无参与排名的单位",
                ha="center",
                va="center",
                fontsize=14,
                transform=axes.transAxes,
            )
            axes.set_axis_off()
        else:
            colours = [
                RED if flag == "红旗" else YELLOW if flag == "黄旗" else BLUE for flag in flags
            ]
            positions = list(range(len(labels)))[::-1]
            bars = axes.barh(positions, list(scores), color=colours)
            axes.bar_label(bars, [half_up(s) for s in scores], fontsize=8, padding=2)
            axes.set_yticks(positions, list(labels), fontsize=9)
            axes.set_xlim(0, 110)
            axes.set_xlabel("综合得分（红色：红旗，黄色：黄旗）")
            axes.grid(axis="x", alpha=0.3)
        axes.set_title(title, fontsize=12)
        figure.tight_layout()
        return _save(figure, path)


def _save(figure, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path, mode=SHARED) as temp:
        figure.savefig(temp, format="png")
    return path
