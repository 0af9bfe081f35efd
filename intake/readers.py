"""Reading 留言板 exports: CSV, XLSX and JSONL, in UTF-8, UTF-8 with BOM or GB18030.

Readers yield ``IntakeItem`` rows lazily (a 100,000-row file is never held in memory;
only a .json file holding one array is read whole).
A row that cannot be read becomes an item with ``reject_reason`` and its row number, so
one bad row never aborts the others. Row numbers are spreadsheet rows: the header is 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
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
        return _xlsx_items(path, options)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _jsonl_items(path, options)
    if suffix in (".csv", ".txt", ".tsv", ""):
        return _rows_to_items(_csv_rows(path), options, path, strict_width=True)
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
        try:  # the sample may end inside a character
            codecs.getincrementaldecoder("gb18030")().decode(head, final=len(head) < sample_bytes)
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


@dataclass(frozen=True)
class _Unreadable:
    """A row the reader could not split into cells, and why (Simplified Chinese)."""

    reason: str


Row = tuple[int, list[Any] | _Unreadable]  # spreadsheet row number, cells (or why not)
FIELD_LIMIT = 1 << 26  # a cell far over the message limit is read whole, then refused
UNCLOSED_QUOTE = "引号未闭合：从本行起到文件末尾都被读成了一个单元格，请检查本行的引号"


def _csv_rows(path: Path) -> Iterator[Row]:
    encoding = detect_encoding(path)
    # The default (128 KiB) would stop inside a long cell and read its rest as rows.
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    raw = path.open("rb")
    text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
    with text:
        sample = text.read(64 * 1024)
        text.seek(0)
        ended = False

        def lines() -> Iterator[str]:
            nonlocal ended
            yield from text
            ended = True

        reader = csv.reader(lines(), delimiter=_sniff_delimiter(sample))
        row_number = 0
        while True:
            row_number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield row_number, _Unreadable(f"CSV 格式错误: {exc}")
                continue
            if ended:  # the reader ran out of lines inside a quoted cell
                yield row_number, _Unreadable(UNCLOSED_QUOTE)
                return
            yield row_number, values


def _sniff_delimiter(sample: str) -> str:
    """The delimiter of the first line that has one (a title line may stand above)."""
    for line in sample.split("\n")[:10]:
        counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
        best = max(counts, key=counts.get)
        if counts[best]:
            return best
    return ","


# -- XLSX -------------------------------------------------------------------------------------


def _xlsx_items(path: Path, options: ImportOptions) -> Iterator[IntakeItem]:
    """Every sheet with a header that names the message column; other sheets (notes,
    summaries, empty ones) are passed over. Only when none has one is the file refused."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise BadFile(
            f"{path.name}: 不是有效的 xlsx 文件（已损坏、加密或改了扩展名）: {exc}"
        ) from None
    try:
        sheets = workbook.worksheets
        refused: BadFile | None = None
        read_any = False
        for sheet in sheets:
            label = f"工作表「{sheet.title}」：" if len(sheets) > 1 else ""
            rows = enumerate(sheet.iter_rows(values_only=True), start=1)
            try:
                for item in _rows_to_items(rows, options, path, strict_width=False):
                    if label and item.reject_reason:
                        item.reject_reason = label + item.reject_reason
                    item.warnings = [label + warning for warning in item.warnings]
                    yield item
                read_any = True
            except BadFile as exc:  # raised before the sheet's first item
                refused = refused or exc
        if not read_any:
            raise refused or BadFile(f"{path.name}: 工作表是空的")
    finally:
        workbook.close()


# -- JSONL ------------------------------------------------------------------------------------


def _jsonl_items(path: Path, options: ImportOptions) -> Iterator[IntakeItem]:
    """One JSON object a line; a .json file holding one array of objects is read too.
    Columns are recognised per object: an export may leave out empty fields."""
    mappings: dict[frozenset[str], dict[str, str | None] | BadFile] = {}
    for row_number, record in _json_records(path):
        if isinstance(record, _Unreadable):
            yield IntakeItem(
                text="", row=row_number, channel=options.channel, reject_reason=record.reason
            )
            continue
        record = {str(key).strip(): value for key, value in record.items()}
        keys = frozenset(record)
        if keys not in mappings:
            if len(mappings) > 256:
                mappings.clear()
            try:
                mappings[keys] = resolve_columns(
                    list(record), options.columns, path, present_label="本行的字段"
                )
            except BadFile as exc:
                mappings[keys] = exc
        mapping = mappings[keys]
        if isinstance(mapping, BadFile):
            yield IntakeItem(
                text="", row=row_number, channel=options.channel, reject_reason=str(mapping)
            )
            continue
        yield _item(row_number, record, mapping, options)


def _json_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | _Unreadable]]:
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, errors="surrogateescape") as handle:
        if path.suffix.lower() == ".json" and handle.read(4096).lstrip().startswith("["):
            handle.seek(0)  # one array, read whole
            try:
                records = json.load(handle)
            except json.JSONDecodeError as exc:
                raise BadFile(
                    f"{path.name}: JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）: {exc.msg}"
                ) from None
            if not records:
                raise BadFile(f"{path.name}: 文件是空的")
            for number, record in enumerate(records, start=1):
                yield (
                    number,
                    (record if isinstance(record, dict) else _Unreadable("每条须为一个 JSON 对象")),
                )
            return
        handle.seek(0)
        empty = True
        for line_number, line in enumerate(handle, start=1):
            line = line.lstrip("\ufeff")  # files joined together keep their BOMs
            if not line.strip():
                continue
            empty = False
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield line_number, _Unreadable(f"JSON 格式错误: {exc.msg}（第 {exc.colno} 列）")
                continue
            yield (
                line_number,
                (record if isinstance(record, dict) else _Unreadable("每行须为一个 JSON 对象")),
            )
        if empty:
            raise BadFile(f"{path.name}: 文件是空的")


# -- rows -> items --------------------------------------------------------------------------------


HEADER_SCAN = 20  # rows looked at for the header: a title or a note may stand above it


def _rows_to_items(
    rows: Iterator[Row], options: ImportOptions, path: Path, *, strict_width: bool
) -> Iterator[IntakeItem]:
    """Items from a sheet's rows. The header is the first row that names the message
    column; a header further down (exports joined together) is read as a header, with its
    own columns. ``strict_width``: a row wider than the header is refused (CSV)."""
    header: list[str] | None = None
    mapping: dict[str, str | None] = {}
    refused: tuple[int, BadFile] | None = None  # the widest row that was not a header
    scanned = 0
    for row_number, cells in rows:
        if isinstance(cells, _Unreadable):
            yield IntakeItem(
                text="", row=row_number, channel=options.channel, reject_reason=cells.reason
            )
            continue
        names = [_name(cell) for cell in cells]
        if not any(names):
            continue
        if header is None:
            try:
                mapping, header = resolve_columns(names, options.columns, path), names
            except BadFile as exc:
                width = sum(1 for name in names if name)
                if refused is None or width > refused[0]:
                    refused = (width, exc)
                scanned += 1
                if scanned >= HEADER_SCAN:
                    raise refused[1] from None
            continue
        if again := _header_again(names, mapping, options, path):
            mapping, header = again, names
            continue
        if strict_width and len(cells) > len(header) and any(names[len(header) :]):
            yield IntakeItem(
                text="",
                row=row_number,
                channel=options.channel,
                reject_reason=f"列数 {len(cells)} 多于表头 {len(header)} 列",
            )
            continue
        yield _item(row_number, dict(zip(header, cells, strict=False)), mapping, options)
    if header is None:
        raise refused[1] if refused else BadFile(f"{path.name}: 文件是空的")


def _name(cell: Any) -> str:
    return "" if cell is None else str(cell).strip().lstrip("\ufeff").strip()


def _header_again(
    names: list[str], mapping: dict[str, str | None], options: ImportOptions, path: Path
) -> dict[str, str | None] | None:
    """The mapping of a row that is a header (it names two of the columns in use), or None."""
    used = {column for column in mapping.values() if column}
    if len(used.intersection(names)) < min(2, len(used)):
        return None
    try:
        return resolve_columns(names, options.columns, path)
    except BadFile:
        return None  # it names some columns but not the message's: a row after all


def resolve_columns(
    header: list[str], chosen: Columns, path: Path, *, present_label: str = "文件中的列"
) -> dict[str, str | None]:
    """Field -> column name. A column the user named must exist; text is required."""
    present = [h for h in header if h]
    mapping: dict[str, str | None] = {}
    for name, candidates in DEFAULT_HEADERS.items():
        wanted = getattr(chosen, name)
        if wanted:
            if wanted not in present:
                raise BadFile(
                    f"{path.name}: 找不到列「{wanted}」（--{name}-col）；{present_label}: "
                    + "、".join(present)
                )
            mapping[name] = wanted
        else:
            mapping[name] = next((c for c in candidates if c in present), None)
    if mapping["text"] is None and mapping["title"] is None:
        raise BadFile(
            f"{path.name}: 找不到留言内容列（如 留言详情 / 内容），请用 --text-col 指定；"
            f"{present_label}: " + "、".join(present)
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
    row_number: int,
    record: dict[str, Any],
    mapping: dict[str, str | None],
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
        external_id=_str(external_id),
        submitter=options.submitter,
        complainant_name=_str(_cell(record, mapping["user"])),
        complainant_contact=_str(_cell(record, mapping["contact"])),
        row=row_number,
    )
    if isinstance(text, dict | list) or isinstance(title, dict | list):
        item.reject_reason = "留言内容不是文字（是 JSON 对象或数组）"
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
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps every number as a float: 188006.0 is 188006
    return None if value is None else str(value)


def _row_key(item: IntakeItem, raw_time: Any) -> str:
    """An id for rows without one, so re-importing the same file opens nothing new."""
    import hashlib

    body = "\x1f".join(
        str(x or "") for x in (raw_time, item.complainant_name, item.title, item.text)
    )
    return "h:" + hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()[:32]
