"""Reading 留言板 exports: CSV, XLSX and JSONL, in UTF-8, UTF-8 with BOM or GB18030.

Readers yield ``IntakeItem`` rows lazily (a 100,000-row file is never held in memory).
A row that cannot be read becomes an item with ``reject_reason`` and its row number, so
one bad row never aborts the others. Row numbers are spreadsheet rows: the header is 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from intake.errors import BadFile
from intake.items import IntakeItem
from intake.paste import parse_instruction
from intake.timeparse import parse_timestamp
from ledger.models import SourceKind

# Headers seen in real exports, per field, in order of preference.
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("留言编号", "编号", "信件编号", "来信编号", "工单编号", "序号", "id", "ID"),
    "user": ("留言用户", "留言人", "用户", "来信人", "姓名", "反映人", "user"),
    "title": ("留言主题", "主题", "标题", "信件标题", "title"),
    "time": ("留言时间", "时间", "来信时间", "日期", "提交时间", "收件时间", "time"),
    "text": ("留言详情", "留言内容", "详情", "内容", "正文", "来信内容", "反映内容", "text"),
    "source": ("来源", "渠道类别", "类别", "source"),
    "contact": ("联系电话", "联系方式", "电话", "手机", "手机号", "contact", "phone"),
    "limit": ("办理时限", "时限", "限办天数"),
}


@dataclass(frozen=True)
class Columns:
    """Column names chosen by the user (``--title-col`` …); None means: recognise."""

    id: str | None = None
    user: str | None = None
    title: str | None = None
    time: str | None = None
    text: str | None = None
    source: str | None = None
    contact: str | None = None
    limit: str | None = None


@dataclass(frozen=True)
class ImportOptions:
    source_kind: SourceKind = SourceKind.ONLINE
    channel: str = "import"
    columns: Columns = Columns()
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    submitter: str | None = None


def read_file(path: Path, options: ImportOptions) -> Iterator[IntakeItem]:
    """Items from ``path`` by its extension (.csv/.txt, .xlsx, .jsonl/.ndjson)."""
    if not path.exists():
        raise BadFile(f"文件不存在: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _rows_to_items(_xlsx_rows(path), options, path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _jsonl_items(path, options)
    if suffix in (".csv", ".txt", ".tsv", ""):
        return _rows_to_items(_csv_rows(path), options, path)
    if suffix == ".xls":
        raise BadFile(f"{path.name}: 旧版 .xls 格式不支持，请另存为 .xlsx 或 .csv")
    raise BadFile(f"{path.name}: 不支持的文件类型 {suffix}（支持 csv、xlsx、jsonl）")


# -- encodings ----------------------------------------------------------------------------


def detect_encoding(path: Path, sample_bytes: int = 1 << 20) -> str:
    """'utf-8-sig' or 'gb18030'; a clear error for binary files."""
    with path.open("rb") as handle:
        head = handle.read(sample_bytes)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head[:4096] or head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF")):
        raise BadFile(f"{path.name}: 不是文本文件（可能是 xlsx/pdf/图片），请检查文件类型")
    trimmed = _trim_partial_utf8(head) if len(head) == sample_bytes else head
    try:
        trimmed.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as utf8_error:
        # Mostly valid UTF-8 with a few broken bytes: read it as UTF-8 and reject the rows
        # that hold them (GB18030 would "decode" UTF-8 Chinese into silent mojibake).
        non_ascii = sum(1 for byte in trimmed if byte >= 0x80)
        if _count_utf8_errors(trimmed) <= max(4, non_ascii // 100):
            return "utf-8-sig"
        try:
            trimmed.decode("gb18030")
            return "gb18030"
        except UnicodeDecodeError:
            raise BadFile(
                f"{path.name}: 无法识别文件编码（支持 UTF-8、UTF-8 BOM、GB18030）: {utf8_error}"
            ) from None


def _trim_partial_utf8(data: bytes) -> bytes:
    for cut in range(1, 4):
        try:
            data[:-cut].decode("utf-8")
            return data[:-cut]
        except UnicodeDecodeError:
            continue
    return data


def _count_utf8_errors(data: bytes) -> int:
    decoded = data.decode("utf-8", errors="surrogateescape")
    return sum(1 for ch in decoded if "\udc80" <= ch <= "\udcff")


# -- CSV -----------------------------------------------------------------------------------


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    encoding = detect_encoding(path)
    raw = path.open("rb")
    text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
    with text:
        sample = text.read(64 * 1024)
        text.seek(0)
        delimiter = _sniff_delimiter(sample)
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise BadFile(f"{path.name}: 文件是空的") from None
        except csv.Error as exc:
            raise BadFile(f"{path.name}: 第 1 行无法解析: {exc}") from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        yield 1, {"__header__": header}
        row_number = 1
        while True:
            row_number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield row_number, {"__error__": f"CSV 格式错误: {exc}"}
                continue
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header) and any(v.strip() for v in values[len(header):]):
                yield row_number, {"__error__": f"列数 {len(values)} 多于表头 {len(header)} 列"}
                continue
            yield row_number, dict(zip(header, values, strict=False))


def _sniff_delimiter(sample: str) -> str:
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


# -- XLSX -------------------------------------------------------------------------------------


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise BadFile(f"{path.name}: 不是有效的 xlsx 文件: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header: list[str] | None = None
        for row_number, values in enumerate(rows, start=1):
            if header is None:
                if not any(v not in (None, "") for v in values):
                    continue
                header = [str(v).strip() if v is not None else "" for v in values]
                yield row_number, {"__header__": header}
                continue
            if not any(v not in (None, "") for v in values):
                continue
            yield row_number, dict(zip(header, values, strict=False))
        if header is None:
            raise BadFile(f"{path.name}: 工作表是空的")
    finally:
        workbook.close()


# -- JSONL ------------------------------------------------------------------------------------


def _jsonl_items(path: Path, options: ImportOptions) -> Iterator[IntakeItem]:
    encoding = detect_encoding(path)
    mapping: dict[str, str | None] | None = None
    with path.open(encoding=encoding, errors="surrogateescape") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield IntakeItem(text="", row=line_number, channel=options.channel,
                                 reject_reason=f"JSON 格式错误: {exc.msg}（第 {exc.colno} 列）")
                continue
            if not isinstance(record, dict):
                yield IntakeItem(text="", row=line_number, channel=options.channel,
                                 reject_reason="每行须为一个 JSON 对象")
                continue
            if mapping is None:
                mapping = resolve_columns(list(record), options.columns, path)
            yield _item(line_number, record, mapping, options)


# -- rows -> items --------------------------------------------------------------------------------


def _rows_to_items(
    rows: Iterator[tuple[int, dict[str, Any]]], options: ImportOptions, path: Path
) -> Iterator[IntakeItem]:
    mapping: dict[str, str | None] | None = None
    for row_number, record in rows:
        if "__header__" in record:
            mapping = resolve_columns(record["__header__"], options.columns, path)
            continue
        if "__error__" in record:
            yield IntakeItem(text="", row=row_number, channel=options.channel,
                             reject_reason=record["__error__"])
            continue
        assert mapping is not None
        yield _item(row_number, record, mapping, options)


def resolve_columns(header: list[str], chosen: Columns, path: Path) -> dict[str, str | None]:
    """Field -> column name. A column the user named must exist; text is required."""
    present = [h for h in header if h]
    mapping: dict[str, str | None] = {}
    for name, candidates in DEFAULT_HEADERS.items():
        wanted = getattr(chosen, name)
        if wanted:
            if wanted not in present:
                raise BadFile(
                    f"{path.name}: 找不到列「{wanted}」（--{name}-col）；文件中的列: "
                    + "、".join(present)
                )
            mapping[name] = wanted
        else:
            mapping[name] = next((c for c in candidates if c in present), None)
    if mapping["text"] is None and mapping["title"] is None:
        raise BadFile(
            f"{path.name}: 找不到留言内容列（如 留言详情 / 内容），请用 --text-col 指定；"
            "文件中的列: " + "、".join(present)
        )
    return mapping


def _cell(record: dict[str, Any], column: str | None) -> Any:
    if column is None:
        return None
    value = record.get(column)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _item(
    row_number: int, record: dict[str, Any], mapping: dict[str, str | None],
    options: ImportOptions,
) -> IntakeItem:
    text = _cell(record, mapping["text"])
    title = _cell(record, mapping["title"])
    external_id = _cell(record, mapping["id"])
    item = IntakeItem(
        text=str(text) if text is not None else "",
        title=str(title) if title is not None else None,
        source_kind=options.source_kind,
        channel=options.channel,
        external_id=str(external_id) if external_id is not None else None,
        submitter=options.submitter,
        complainant_name=_str(_cell(record, mapping["user"])),
        complainant_contact=_str(_cell(record, mapping["contact"])),
        row=row_number,
    )
    source = _cell(record, mapping["source"])
    if source is not None:
        try:
            item.source_kind = SourceKind.parse(str(source))
        except ValueError:
            item.warnings.append(f"来源「{source}」无法识别，按{options.source_kind.label}登记")
    if item.source_kind is SourceKind.INSTRUCTION:
        item.has_time_limit, item.time_limit_days = parse_instruction(item.text)
        limit = _cell(record, mapping["limit"])
        if limit is not None:
            from intake.timeparse import chinese_number

            days = chinese_number(str(limit).replace("个工作日", "").replace("工作日", ""))
            if days:
                item.has_time_limit, item.time_limit_days = True, days
    raw_time = _cell(record, mapping["time"])
    if raw_time is not None:
        moment = parse_timestamp(raw_time, options.tz)
        if moment is None:
            item.warnings.append(f"时间「{raw_time}」无法识别，按导入时间登记")
        else:
            item.received_at = moment
    if item.external_id is None:
        item.external_id = _row_key(item, raw_time)
    return item


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _row_key(item: IntakeItem, raw_time: Any) -> str:
    """An id for rows without one, so re-importing the same file opens nothing new."""
    import hashlib

    body = "\x1f".join(str(x or "") for x in (raw_time, item.complainant_name, item.title,
                                               item.text))
    return "h:" + hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()[:32]
