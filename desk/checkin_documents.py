"""The 要情快讯 as files: HTML and DOCX in the official layout (the office in red, 期号,
title, body, 署名), with the posts' photos. Built from ``checkins.digest.DigestView``; it
lives above ``checkins`` and ``reports`` so neither imports the other's writers."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from docx.shared import Mm

from checkins.digest import DigestView
from ledger.policy import OfficePolicy
from reports.docx import ER_HAO, RED, SI_HAO, _signature, _Writer
from reports.masthead import chinese_date
from reports.outputs import SHARED, atomic_path, write_text


def render_html(digest: DigestView, *, office: OfficePolicy, tz: ZoneInfo) -> str:
    e = html.escape
    parts = [
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{e(digest.heading)}</title></head><body>",
        f'<header><p class="office">{e(office.name)}</p><h1>{e(digest.heading)}</h1></header>',
    ]
    for heading, items in digest.sections:
        parts.append(f"<section><h2>{e(heading)}</h2><ul>")
        for i in items:
            at = i.posted_at.astimezone(tz).strftime("%H:%M")
            photos = f"（照片{len(i.photos)}张）" if i.photos else ""
            late = "（迟晒）" if i.late else ""
            parts.append(
                f"<li><b>{e(i.window)}{late} {e(i.unit)} {e(i.who)}</b> {at}："
                f"{e(i.text)}{photos}</li>"
            )
        parts.append("</ul></section>")
    if not digest.sections:
        parts.append("<p>今日暂无可编发的晒工作内容。</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def build_docx(
    digest: DigestView, *, office: OfficePolicy, tz: ZoneInfo, photo_dir: Path, now: datetime
) -> Any:
    """The digest in the official layout (the office in red, 期号, title, body, 署名),
    with the posts' photos under them."""
    fonts = {k: list(v) for k, v in office.fonts.model_dump().items()}
    w = _Writer(_Doc(masthead=_Head(fonts=fonts), timezone=str(tz)))  # type: ignore[arg-type]
    w.para(office.name, kind="title", size=ER_HAO + 4, align="center", indent=False, color=RED)
    number = f"第{digest.issue}期" if digest.issue else "（草稿）"
    w.red_rule(w.para(number, align="center", indent=False))
    w.para()
    w.para(digest.title, kind="title", size=ER_HAO, align="center", indent=False)
    w.para()
    for heading, items in digest.sections:
        w.para(heading, kind="heading")
        for i in items:
            late = "（迟晒）" if i.late else ""
            w.para(f"{i.window}{late}　{i.unit}　{i.who}：{i.text}")
            for photo in i.photos:
                path = photo_dir / str(photo["path"])
                if path.exists():
                    w.doc.add_picture(str(path), width=Mm(120))
                    w.para(
                        f"（照片 {str(photo['sha256'])[:8]}）",
                        size=SI_HAO,
                        align="center",
                        indent=False,
                    )
    if not digest.sections:
        w.para("今日暂无可编发的晒工作内容。")
    w.para()
    _signature(w, office.issuer or office.name, chinese_date(now.astimezone(tz).date()))
    w.fallbacks()
    return w.doc


def write_files(
    digest: DigestView,
    out_dir: Path,
    *,
    office: OfficePolicy,
    tz: ZoneInfo,
    photo_dir: Path,
    now: datetime,
) -> tuple[Path, Path]:
    """The digest as DOCX and HTML under ``out_dir``; their paths."""
    stem = f"要情快讯-{digest.day.isoformat()}"
    html_path = write_text(out_dir / f"{stem}.html", render_html(digest, office=office, tz=tz))
    docx_path = out_dir / f"{stem}.docx"
    document = build_docx(digest, office=office, tz=tz, photo_dir=photo_dir, now=now)
    with atomic_path(docx_path, mode=SHARED) as temp:
        document.save(str(temp))
    return docx_path, html_path


@dataclass
class _Head:
    fonts: dict[str, list[str]]


@dataclass
class _Doc:
    """What ``reports.docx._Writer`` reads of a report: the fonts and the time zone."""

    masthead: _Head
    timezone: str
    extra: dict[str, Any] = field(default_factory=dict)
