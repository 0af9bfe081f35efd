"""Reading 留言板 exports: CSV, XLSX and JSONL, in UTF-8, UTF-8 with BOM or GB18030.

Readers yield ``IntakeItem`` rows lazily (a 100,000-row file is never held in memory;
only a .json file holding one array is read whole).
A row that cannot be read becomes an item with ``reject_reason`` and its row number, so
one bad row never aborts the others. Row numbers are spreadsheet rows: the header is 1.

Hostile files are read within the limits of ``policy.intake`` (rows, cell size, columns,
JSON nesting, an XLSX's unzipped size, runs of empty rows), checked while streaming, so
memory stays bounded whatever a file holds. Text files are decoded line by line: a file
that mixes UTF-8 and GB18030 rows is read row by row, and a NUL byte is dropped from its
row with a warning.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import warnings
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from intake.clean import is_junk
from intake.errors import BadFile, DuplicateColumn, JunkFile
from intake.items import TITLE_AS_TEXT_CHARS, IntakeItem
from intake.paste import parse_instruction
from intake.timeparse import excel_serial_text, parse_timestamp
from ledger.models import SourceKind
from ledger.policy import IntakePolicy

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
    limits: IntakePolicy = field(default_factory=IntakePolicy)  # policy.intake


def read_file(path: Path, options: ImportOptions) -> Iterator[IntakeItem]:
    """Items from ``path`` by its extension (.csv/.txt, .xlsx, .jsonl/.ndjson)."""
    if not path.exists():
        raise BadFile(f"文件不存在: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        items = _xlsx_items(path, options)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        items = _jsonl_items(path, options)
    elif suffix in (".csv", ".txt", ".tsv", ""):
        items = _rows_to_items(_csv_rows(path, options.limits), options, path, strict_width=True)
    elif suffix == ".xls":
        raise BadFile(f"{path.name}: 旧版 .xls 格式不支持，请另存为 .xlsx 或 .csv")
    else:
        raise BadFile(f"{path.name}: 不支持的文件类型 {suffix}（支持 csv、xlsx、jsonl）")
    return _at_most(items, options.limits.max_rows, options.channel)


def _at_most(items: Iterator[IntakeItem], limit: int, channel: str) -> Iterator[IntakeItem]:
    """The first ``limit`` items; past them one refused item says where reading stopped."""
    for count, item in enumerate(items):
        if count >= limit:
            yield IntakeItem(
                text="",
                row=item.row,
                sheet=item.sheet,
                channel=channel,
                reject_reason=f"文件超过 {limit} 行的上限（intake.max_rows），"
                "本行及以后各行未读取，请分拆文件后导入其余部分",
            )
            return
        yield item


# -- junk -------------------------------------------------------------------------------------


@dataclass
class JunkScreen:
    """How many rows of a file hold no message (no Chinese text, random characters)."""

    rows: int = 0
    junk: int = 0
    examples: list[str] = field(default_factory=list)  # where the first junk rows are

    @property
    def share(self) -> float:
        return self.junk / self.rows if self.rows else 0.0

    def stops(self, limits: IntakePolicy) -> bool:
        return self.rows >= limits.junk_min_rows and self.share >= limits.junk_share

    def summary(self, name: str, limits: IntakePolicy) -> str:
        return (
            f"{name}: 共 {self.rows} 行，其中 {self.junk} 行（{self.share:.0%}）不像留言"
            f"（没有中文，或多为生僻字、乱码符号），达到上限 {limits.junk_share:.0%}"
            f"（intake.junk_share），整个文件未登记。如 {'、'.join(self.examples)}。"
            "请检查文件是否导出正确；确认要导入请加 --force"
        )


def screen_junk(path: Path, options: ImportOptions) -> JunkScreen:
    """Read the whole file once (nothing is stored) and count its junk rows; raise
    ``JunkFile`` with a summary when they reach ``intake.junk_share``."""
    screen = JunkScreen()
    for item in read_file(path, options):
        content = f"{item.title or ''}\n{item.text or ''}"
        if item.reject_reason and not content.strip():
            continue  # refused by the reader (bad JSON, too long): reported by row anyway
        screen.rows += 1
        if content.strip() and is_junk(content):
            screen.junk += 1
            if len(screen.examples) < 5:
                screen.examples.append(_where(item))
    if screen.stops(options.limits):
        raise JunkFile(screen.summary(path.name, options.limits))
    return screen


def _where(item: IntakeItem) -> str:
    sheet = f"工作表 {item.sheet} " if item.sheet else ""
    return f"{sheet}第 {item.row} 行"


# -- encodings ----------------------------------------------------------------------------

_BINARY_MAGIC = (
    b"PK\x03\x04",  # zip: xlsx, docx
    b"\xd0\xcf\x11\xe0",  # OLE: xls, doc
    b"%PDF",
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
    b"\x1f\x8b",  # gzip
    b"Rar!",
    b"7z\xbc\xaf",
)
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f]")
GB18030_UNDER_BOM = "文件开头有 UTF-8 标记（BOM），但内容是 GB18030 编码，已按 GB18030 读取"


def detect_encoding(path: Path, sample_bytes: int = 1 << 20) -> str:
    """'utf-8-sig', 'gb18030' or 'utf-16': the encoding most lines of the file are in
    (each line is still decoded on its own); a clear error for binary files."""
    return _sniff(path, sample_bytes)[0]


def _sniff(path: Path, sample_bytes: int = 1 << 20) -> tuple[str, bool]:
    """(encoding, whether a UTF-8 BOM stands over GB18030 content)."""
    with path.open("rb") as handle:
        head = handle.read(sample_bytes)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", False
    sample = head[:4096]
    if head.startswith(_BINARY_MAGIC) or len(_CONTROL.findall(sample)) > max(8, len(sample) // 10):
        raise BadFile(f"{path.name}: 不是文本文件（可能是 xlsx/pdf/图片），请检查文件类型")
    bom = head.startswith(codecs.BOM_UTF8)
    body = head[len(codecs.BOM_UTF8) :] if bom else head
    if _mostly_gb18030(body, complete=len(head) < sample_bytes):
        return "gb18030", bom
    return "utf-8-sig", False


def _mostly_gb18030(sample: bytes, *, complete: bool) -> bool:
    """Whether more of the sample's non-ASCII lines are GB18030 than UTF-8."""
    lines = sample.split(b"\n")
    last_partial = not complete
    utf8 = gb = 0
    for number, line in enumerate(lines):
        if line.isascii():
            continue
        final = not (last_partial and number == len(lines) - 1)
        if _decodes(line, "utf-8", final=final):
            utf8 += 1
        elif _decodes(line, "gb18030", final=final):
            gb += 1
    return gb > utf8


def _decodes(data: bytes, encoding: str, *, final: bool = True) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def decode_line(data: bytes, primary: str) -> tuple[str, list[str]]:
    """One line of a text file as text, and notes on how it was read. A line not in the
    file's ``primary`` encoding is tried in the other one (GB18030 for a UTF-8 file);
    bytes that fit neither stay as surrogates, for which the row is refused by number.
    NUL bytes are dropped, with a note."""
    notes: list[str] = []
    if b"\x00" in data:
        nul = data.count(0)
        notes.append(f"本行含 {nul} 个空字符（NUL），已删除")
        data = data.replace(b"\x00", b"")
    if data.isascii():
        return data.decode("ascii"), notes
    if primary == "gb18030":
        utf8 = _try(data, "utf-8")
        if utf8 is not None and _cjk_share(utf8) >= 0.5:
            notes.append("本行按 UTF-8 编码读取（文件其余各行为 GB18030）")
            return utf8, notes
        text = _try(data, "gb18030")
        return (text if text is not None else data.decode("gb18030", "surrogateescape")), notes
    text = _try(data, "utf-8")
    if text is not None:
        return text, notes
    loose = data.decode("utf-8", "surrogateescape")
    broken = sum(1 for ch in loose if "\udc80" <= ch <= "\udcff")
    if broken > sum(1 for ch in loose if ord(ch) >= 0x80) - broken:  # not damaged UTF-8
        text = _try(data, "gb18030")
        if text is not None:
            notes.append("本行按 GB18030 编码读取（文件其余各行为 UTF-8）")
            return text, notes
    return loose, notes


def _try(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _cjk_share(text: str) -> float:
    wide = sum(1 for ch in text if ord(ch) >= 0x80)
    return len(_CJK.findall(text)) / wide if wide else 0.0


@dataclass
class _Line:
    """A physical line: its text (cut at the cap when it is longer), the '"' it holds in
    all, whether it was over the cap, and notes on its decoding."""

    text: str
    quotes: int
    overlong: bool
    notes: list[str]


def _lines(handle: IO[bytes], primary: str, cap: int, *, cr_only: bool) -> Iterator[_Line]:
    """The file's physical lines, each decoded on its own; a line longer than ``cap``
    bytes is cut and the rest of it read past (its quotes counted), never held whole."""
    first = True
    pieces = _cr_pieces(handle, cap) if cr_only else iter(lambda: handle.readline(cap), b"")
    for data in pieces:
        overlong = len(data) == cap and not data.endswith((b"\n", b"\r"))
        quotes = data.count(b'"')
        while overlong and (more := next(pieces, b"")):
            quotes += more.count(b'"')
            if more.endswith((b"\n", b"\r")):
                break
        if first and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        first = False
        text, notes = decode_line(data, primary)
        yield _Line(text, quotes, overlong, notes)


def _cr_pieces(handle: IO[bytes], cap: int) -> Iterator[bytes]:
    """Lines of a file that ends them with a bare CR (Excel's "CSV (Macintosh)"), each at
    most ``cap`` bytes."""
    pending = b""
    while block := handle.read(1 << 16):
        data, start = pending + block, 0
        while (end := data.find(b"\r", start)) >= 0:
            yield data[start : end + 1]
            start = end + 1
        pending = data[start:]
        while len(pending) >= cap:
            yield pending[:cap]
            pending = pending[cap:]
    if pending:
        yield pending


def _open_lines(path: Path, limits: IntakePolicy) -> tuple[Iterator[_Line], list[str], IO[bytes]]:
    """(lines, notes for the first item, the open handle to close)."""
    encoding, bom_over_gb = _sniff(path)
    cap = 4 * limits.max_cell_chars + 1024  # bytes: a character is at most 4
    if encoding == "utf-16":  # rare; no per-line guessing for it
        text = io.TextIOWrapper(
            path.open("rb"), encoding="utf-16", errors="surrogateescape", newline=""
        )
        wrapped = (_Line(line, line.count('"'), False, []) for line in text)
        return wrapped, [], text  # type: ignore[return-value]
    handle = path.open("rb")
    head = handle.read(64 * 1024)
    handle.seek(0)
    cr_only = b"\r" in head and b"\n" not in head
    primary = "gb18030" if encoding == "gb18030" else "utf-8"
    lines = _lines(handle, primary, cap, cr_only=cr_only)
    return lines, [GB18030_UNDER_BOM] if bom_over_gb else [], handle


# -- CSV -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unreadable:
    """A row the reader could not split into cells, and why (Simplified Chinese)."""

    reason: str


@dataclass
class Row:
    """A spreadsheet row: its number, its cells (or why not), notes on reading it."""

    number: int
    cells: list[Any] | _Unreadable
    notes: list[str] = field(default_factory=list)


UNCLOSED_QUOTE = "引号未闭合：从本行起到文件末尾都被读成了一个单元格，请检查本行的引号"


class _Records:
    """Feeds ``csv.reader`` line by line and keeps what a record needs to be resynchronised
    after an error: the quotes seen since it began (an odd count: inside a quoted cell)."""

    def __init__(self, lines: Iterator[_Line]) -> None:
        self._lines = lines
        self.quotes = 0
        self.notes: list[str] = []
        self.overlong = False
        self.ended = False
        self.skip_open = False  # after an error: pass the rest of an open quoted cell

    def done(self) -> None:
        """The record was taken; its open quote, if any, is still to be passed."""
        self.notes, self.overlong = [], False
        if not self.skip_open:
            self.quotes = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            if self.skip_open:
                self.quotes += line.quotes
                if self.quotes % 2 == 0:
                    self.skip_open = False
                    self.quotes = 0
                continue
            at_start = self.quotes == 0 and not self.notes
            self.quotes += line.quotes
            self.notes.extend(line.notes)
            if line.overlong:
                self.overlong = True
                if at_start:  # the whole record stands in as an empty line
                    self.skip_open = self.quotes % 2 == 1
                    yield "\n"
                    continue
            yield line.text
        self.ended = True


def _csv_rows(path: Path, limits: IntakePolicy) -> Iterator[Row]:
    previous = csv.field_size_limit(limits.max_cell_chars)  # the module's, not the reader's
    try:
        yield from _csv_records(path, limits)
    finally:
        csv.field_size_limit(previous)


def _csv_records(path: Path, limits: IntakePolicy) -> Iterator[Row]:
    lines, first_notes, handle = _open_lines(path, limits)
    too_long = f"本行超过单元格 {limits.max_cell_chars} 字的上限（intake.max_cell_chars），未读取"
    with handle:
        head: list[_Line] = []
        for line in lines:  # the first lines tell the delimiter
            head.append(line)
            if sum(len(h.text) for h in head) > 64 * 1024 or len(head) >= 10:
                break
        delimiter = _sniff_delimiter("".join(h.text for h in head))
        records = _Records(_chain(head, lines))
        reader = csv.reader(records, delimiter=delimiter)
        row_number = 0
        while True:
            row_number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = too_long if "field limit" in str(exc) else f"CSV 格式错误: {exc}"
                yield Row(row_number, _Unreadable(reason), first_notes + records.notes)
                first_notes = []
                records.skip_open = records.quotes % 2 == 1  # inside a quoted cell: pass it
                records.done()
                continue
            notes = first_notes + records.notes
            first_notes = []
            if records.overlong:
                yield Row(row_number, _Unreadable(too_long), notes)
            elif records.ended and records.quotes % 2:  # ran out of lines inside a quote
                yield Row(row_number, _Unreadable(UNCLOSED_QUOTE), notes)
                return
            elif len(values) > limits.max_columns:
                yield Row(row_number, _Unreadable(_too_wide(len(values), limits)), notes)
            else:
                yield Row(row_number, values, notes)
            records.done()


def _chain(head: list[_Line], rest: Iterator[_Line]) -> Iterator[_Line]:
    yield from head
    yield from rest


def _too_wide(width: int, limits: IntakePolicy) -> str:
    return f"本行有 {width} 列，超过 {limits.max_columns} 列的上限（intake.max_columns）"


def _sniff_delimiter(sample: str) -> str:
    """The delimiter of the first line that has one (a title line may stand above)."""
    for line in sample.split("\n")[:10]:
        counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
        best = max(counts, key=counts.get)
        if counts[best]:
            return best
    return ","


# -- XLSX -------------------------------------------------------------------------------------

MB = 1 << 20
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _CELL, _SI, _T, _RPH, _V, _F = (
    _MAIN + tag for tag in ("row", "c", "si", "t", "rPh", "v", "f")
)
_BULK_PARTS = re.compile(r"xl/(worksheets/[^/]+|sharedStrings)\.xml", re.IGNORECASE)


def _xlsx_items(path: Path, options: ImportOptions) -> Iterator[IntakeItem]:
    """Every sheet with a header that names the message column; other sheets (notes,
    summaries, empty ones) are passed over. Only when none has one is the file refused.

    Bounded whatever the file holds: the zip's declared sizes are checked before anything
    is unzipped (``zipfile`` never gives more than a member declares), the bytes actually
    unzipped are counted while the shared strings and each sheet stream, and a sheet's
    rows are parsed one at a time and let go, a run of empty rows ending the sheet."""
    limits = options.limits
    _check_unzipped_size(path, limits)
    budget = _Budget(limits.max_unzipped_mb * MB)
    book = _open_workbook(path, budget, limits)
    try:
        refused: BadFile | None = None
        read_any = False
        for title, part in book.sheets:
            rows = _sheet_rows(book, part, limits, budget)
            try:
                for item in _rows_to_items(rows, options, path, strict_width=False):
                    item.sheet = title
                    label = f"{_where(item)}："  # the row number alone is ambiguous
                    if item.reject_reason:
                        item.reject_reason = label + item.reject_reason
                    item.warnings = [label + warning for warning in item.warnings]
                    yield item
                read_any = True
            except DuplicateColumn:
                raise  # a sheet of messages that cannot be read right: never passed over
            except BadFile as exc:  # raised before the sheet's first item
                refused = refused or exc
        if not read_any:
            raise refused or BadFile(f"{path.name}: 工作表是空的")
    finally:
        book.archive.close()


def _not_xlsx(path: Path, exc: BaseException) -> BadFile:
    return BadFile(f"{path.name}: 不是有效的 xlsx 文件（已损坏、加密或改了扩展名）: {exc}")


def _check_unzipped_size(path: Path, limits: IntakePolicy) -> None:
    """Refuse a workbook whose sheets and strings declare more than ``max_unzipped_mb``
    unzipped, or another XML part (styles, workbook) more than ``max_xlsx_part_mb``."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _not_xlsx(path, exc) from None
    bulk = sum(m.file_size for m in members if _BULK_PARTS.fullmatch(m.filename))
    if bulk > limits.max_unzipped_mb * MB:
        raise BadFile(
            f"{path.name}: 工作表解压后共 {bulk / MB:.0f} MB，超过 {limits.max_unzipped_mb} MB"
            "的上限（intake.max_unzipped_mb），疑似“压缩炸弹”，未读取；"
            "如确是正常导出，请分拆文件或另存为 CSV"
        )
    for member in members:
        parsed = member.filename.lower().endswith((".xml", ".rels"))
        bulk_part = _BULK_PARTS.fullmatch(member.filename)
        if parsed and not bulk_part and member.file_size > limits.max_xlsx_part_mb * MB:
            raise BadFile(
                f"{path.name}: 部件 {member.filename} 解压后 {member.file_size / MB:.0f} MB，"
                f"超过 {limits.max_xlsx_part_mb} MB 的上限（intake.max_xlsx_part_mb），未读取"
            )


@dataclass
class _Budget:
    """Bytes that may still be unzipped from the workbook's sheets and strings."""

    left: int


class _OverBudget(Exception):
    """More bytes unzipped than the workbook may hold (internal to the XLSX reader)."""


class _Counted(io.RawIOBase):
    """A zip member read through a byte budget."""

    def __init__(self, member: IO[bytes], budget: _Budget) -> None:
        self._member, self._budget = member, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._member.read(len(buffer))
        self._budget.left -= len(data)
        if self._budget.left < 0:
            raise _OverBudget
        buffer[: len(data)] = data
        return len(data)


class _LongText(io.RawIOBase):
    """An XML part with each run of text cut at ``cap`` bytes (at a character's edge, never
    inside ``&…;``). lxml refuses a text node over 10 MB ("Resource limit exceeded"), which
    ended the sheet; cut, the cell still holds more than ``max_cell_chars`` characters (a
    character is at most 8 bytes, as ``&#36335;``), so it is refused as too long and the
    rows after it are read."""

    def __init__(self, source: io.RawIOBase, cap: int) -> None:
        self._source, self._cap = source, cap
        self._in_tag = False
        self._run = 0  # bytes of the current run of text passed on
        self._dropping = False
        self._in_entity = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            data = self._source.read(len(buffer))
            if not data:
                return 0
            out = self._filter(data)
            if out:
                buffer[: len(out)] = out
                return len(out)

    def _filter(self, data: bytes) -> bytes:
        if not self._dropping and self._run + len(data) <= self._cap:
            self._pass(data)  # no run of text can reach the cap here: as it is
            return data
        out = bytearray()
        at = 0
        while at < len(data):
            if self._in_tag:
                end = data.find(b">", at)
                stop = len(data) if end < 0 else end + 1
                out += data[at:stop]
                self._in_tag = end < 0
                at = stop
                continue
            end = data.find(b"<", at)
            stop = len(data) if end < 0 else end
            segment = data[at:stop]
            if not self._dropping:
                cut = (
                    None
                    if self._run + len(segment) <= self._cap
                    else self._cut(segment, max(0, self._cap - self._run))
                )
                kept = segment if cut is None else segment[:cut]
                out += kept
                self._run += len(kept)
                self._dropping = cut is not None
                amp, semi = kept.rfind(b"&"), kept.rfind(b";")
                if amp >= 0 or semi >= 0:
                    self._in_entity = amp > semi
            if end >= 0:  # a tag begins: a new run of text after it
                self._in_tag, self._run, self._dropping, self._in_entity = True, 0, False, False
            at = stop
        return bytes(out)

    def _pass(self, data: bytes) -> None:
        """Follow ``data`` (passed on whole): in a tag or in text, and how far into it."""
        lt, gt = data.rfind(b"<"), data.rfind(b">")
        if lt > gt:
            self._in_tag, self._run, self._in_entity = True, 0, False
            return
        if gt > lt:
            self._in_tag, self._run, self._in_entity = False, 0, False
        if self._in_tag:
            return
        tail = data[gt + 1 :]
        self._run += len(tail)
        amp, semi = tail.rfind(b"&"), tail.rfind(b";")
        if amp >= 0 or semi >= 0:
            self._in_entity = amp > semi

    def _cut(self, segment: bytes, at: int) -> int | None:
        """The first place at or after ``at`` where text may stop, or None (not here)."""
        while at < len(segment):
            amp, semi = segment.rfind(b"&", 0, at), segment.rfind(b";", 0, at)
            if amp > semi if (amp >= 0 or semi >= 0) else self._in_entity:
                semi = segment.find(b";", at)
                if semi < 0:
                    return None
                at = semi + 1
            elif 0x80 <= segment[at] < 0xC0:  # inside a UTF-8 character
                at += 1
            else:
                return at
        return None


def _text_cap(limits: IntakePolicy) -> int:
    return 8 * limits.max_cell_chars + 1024


def _huge(limits: IntakePolicy) -> bool:
    """Whether a cut run of text can still be over lxml's 10 MB (a large max_cell_chars)."""
    return _text_cap(limits) > 9_000_000


_TOO_LONG_XML = "Text node too long"


def _too_long_text(exc: BaseException) -> bool:
    return _TOO_LONG_XML in str(exc) or "Resource limit exceeded" in str(exc)


class _Strings:
    """The shared strings, kept compact (UTF-8 in one buffer, an offset each): a table of
    millions of short strings costs its bytes, not a Python object per string."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("q")

    def append(self, text: str) -> None:
        self._data += text.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._data))

    def __getitem__(self, index: int) -> str:
        start = self._ends[index - 1] if index > 0 else 0
        if index < 0:
            raise IndexError(index)
        return self._data[start : self._ends[index]].decode("utf-8", "surrogatepass")

    def __len__(self) -> int:
        return len(self._ends)


@dataclass
class _Book:
    archive: zipfile.ZipFile
    workbook: Any  # openpyxl's Workbook, for the epoch and the date styles
    strings: _Strings
    sheets: list[tuple[str, str]]  # (title, part name)


def _open_workbook(path: Path, budget: _Budget, limits: IntakePolicy) -> _Book:
    """The workbook's sheets, strings and styles, read by openpyxl's own reader minus its
    two unbounded steps: the shared strings are streamed into ``_Strings``, and the
    sheets are listed but not sized (sizing a read-only sheet walks all of it)."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.utils.exceptions import InvalidFileException
    from openpyxl.xml.constants import SHARED_STRINGS

    class Reader(ExcelReader):
        def read_strings(self) -> None:
            self.shared_strings = _Strings()
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as member:
                    _read_strings(
                        _LongText(_Counted(member, budget), _text_cap(limits)),
                        self.shared_strings,
                        huge=_huge(limits),
                    )

        def read_worksheets(self) -> None:
            self.sheets = [
                (sheet.name, rel.target)
                for sheet, rel in self.parser.find_sheets()
                if rel.target in self.valid_files and "chartsheet" not in rel.Type
            ]

    try:
        reader = Reader(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError) as exc:
        raise _not_xlsx(path, exc) from None
    try:
        with warnings.catch_warnings():  # openpyxl's notes on what it does not keep (print
            # areas of the sheets it was not asked to load, styles, extensions): not ours
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            reader.read()
    except _OverBudget:
        reader.archive.close()
        raise BadFile(
            f"{path.name}: 解压后的内容超过上限（intake.max_unzipped_mb），未读取"
        ) from None
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, SyntaxError) as exc:
        reader.archive.close()  # lxml's XMLSyntaxError is a SyntaxError
        if _too_long_text(exc):
            raise BadFile(
                f"{path.name}: 有一个文字单元格过长，超过表格读取程序的上限"
                f"（intake.max_cell_chars 为 {limits.max_cell_chars} 字），未读取；"
                "请删去或缩短该单元格后重新导入"
            ) from None
        raise _not_xlsx(path, exc) from None
    return _Book(reader.archive, reader.wb, reader.shared_strings, reader.sheets)


def _read_strings(source: io.RawIOBase, strings: _Strings, *, huge: bool = False) -> None:
    from lxml import etree

    events = etree.iterparse(
        source, events=("end",), tag=_SI, resolve_entities=False, huge_tree=huge
    )
    for _, node in events:
        strings.append("".join(t.text or "" for t in node.iter(_T) if t.getparent().tag != _RPH))
        node.clear(keep_tail=True)
        while node.getprevious() is not None:
            del node.getparent()[0]


def _sheet_rows(book: _Book, part: str, limits: IntakePolicy, budget: _Budget) -> Iterator[Row]:
    """The non-empty rows of a sheet, each cell read by openpyxl's cell parser while the
    sheet streams through lxml; every element is let go once read, so no row, cell or run
    of empty rows can hold memory, and a long run of empty rows ends the sheet."""
    from lxml import etree
    from openpyxl.worksheet._reader import WorkSheetParser

    workbook = book.workbook
    parser = WorkSheetParser(
        None,
        book.strings,
        data_only=True,
        epoch=workbook.epoch,
        date_formats=workbook._date_formats,
        timedelta_formats=workbook._timedelta_formats,
    )
    last = 0  # the last row that held something
    row: dict[int, Any] = {}
    problem: str | None = None
    with book.archive.open(part) as member:
        events = etree.iterparse(
            _LongText(_Counted(member, budget), _text_cap(limits)),
            events=("end",),
            resolve_entities=False,
            no_network=True,
            huge_tree=_huge(limits),
        )
        try:
            for _, element in events:
                tag = element.tag
                if tag == _CELL:
                    if problem is None:
                        problem = _take_cell(parser, element, row, limits)
                elif tag == _ROW:
                    number = _row_number(element, parser.row_counter)
                    parser.row_counter, parser.col_counter = number, 0
                    if number - last > limits.max_empty_rows:
                        yield _empty_run(last, limits)
                        return
                    if problem:
                        yield Row(number, _Unreadable(problem))
                        last = number
                    elif row:
                        yield Row(number, [row.get(c) for c in range(1, max(row) + 1)])
                        last = number
                    row, problem = {}, None
                elif tag == _V or next(element.iterancestors(_CELL), None) is not None:
                    continue  # part of a cell's value: read when the cell ends
                element.clear(keep_tail=True)
                while element.getprevious() is not None:
                    del element.getparent()[0]
        except _OverBudget:
            yield Row(
                last + 1,
                _Unreadable(
                    f"解压后的内容超过 {limits.max_unzipped_mb} MB 的上限"
                    "（intake.max_unzipped_mb），本表从本行起未读取"
                ),
            )
        except etree.XMLSyntaxError as exc:
            if _too_long_text(exc):  # past the cut (a very large max_cell_chars)
                yield Row(
                    parser.row_counter + 1,
                    _Unreadable(
                        "本行（或其后第一个非空行）有单元格过长，超过表格读取程序的上限"
                        f"（intake.max_cell_chars 为 {limits.max_cell_chars} 字），"
                        "本表从本行起未读取；请删去或缩短该单元格后重新导入"
                    ),
                )
            else:
                yield Row(last + 1, _Unreadable(f"工作表已损坏，从本行起未读取: {exc}"))
        except (ValueError, zipfile.BadZipFile) as exc:
            yield Row(last + 1, _Unreadable(f"工作表已损坏，从本行起未读取: {exc}"))


def _row_number(element: Any, previous: int) -> int:
    number = element.get("r")
    return int(float(number)) if number else previous + 1


def _take_cell(parser: Any, element: Any, row: dict[int, Any], limits: IntakePolicy) -> str | None:
    """Put a cell's value into ``row``; why the row cannot be read, or None."""
    parser.col_counter = parser.col_counter or 0
    try:
        cell = parser.parse_cell(element)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        return f"单元格 {element.get('r') or ''} 无法读取: {exc}"
    value, column = cell["value"], cell["column"]
    if value is None and _uncomputed(element):
        value = Uncomputed(element.get("r") or _column_letter(column), element.findtext(_F))
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if column > limits.max_columns:
        return _too_wide(column, limits)
    if isinstance(value, str) and len(value) > limits.max_cell_chars:
        return (
            f"单元格 {element.get('r') or _column_letter(column)} 超过 "
            f"{limits.max_cell_chars} 字的上限（intake.max_cell_chars）"
        )
    row[column] = value
    return None


@dataclass(frozen=True)
class Uncomputed:
    """A formula cell saved without its value (a workbook written by a program, never
    opened in Excel or WPS): it reads as empty, which it is not."""

    ref: str  # C2
    formula: str

    def __str__(self) -> str:
        return f"={self.formula}"

    def reason(self, column: str | None = None) -> str:
        shown = self.formula if len(self.formula) <= 40 else self.formula[:40] + "…"
        where = f"「{column}」列的单元格 {self.ref} " if column else f"单元格 {self.ref} "
        return (
            f"{where}是公式（={shown}），没有保存计算结果（公式未计算）；请在 Excel 或 WPS "
            "中打开并保存后重新导入，或把公式复制后“粘贴为数值”"
        )


def _uncomputed(element: Any) -> bool:
    """Whether a cell holds a formula but no computed value (a value of "" is one when
    the cell says it is text: ``t="str"``)."""
    if element.find(_F) is None:
        return False
    value = element.find(_V)
    return value is None or (not value.text and element.get("t") != "str")


def _column_letter(column: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"第 {get_column_letter(column)} 列"


def _empty_run(last: int, limits: IntakePolicy) -> Row:
    return Row(
        last + 1,
        _Unreadable(
            f"从本行起连续 {limits.max_empty_rows} 行以上为空（intake.max_empty_rows），"
            "本表其后的内容未读取；如后面还有留言，请删除空行后重新导入"
        ),
    )


# -- JSONL ------------------------------------------------------------------------------------


def _jsonl_items(path: Path, options: ImportOptions) -> Iterator[IntakeItem]:
    """One JSON object a line; a .json file holding one array of objects is read too.
    Columns are recognised per object: an export may leave out empty fields."""
    mappings: dict[frozenset[str], dict[str, str | None] | BadFile] = {}
    for row_number, record, notes in _json_records(path, options.limits):
        if isinstance(record, _Unreadable):
            yield IntakeItem(
                text="",
                row=row_number,
                channel=options.channel,
                reject_reason=record.reason,
                warnings=notes,
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
                text="",
                row=row_number,
                channel=options.channel,
                reject_reason=str(mapping),
                warnings=notes,
            )
            continue
        item = _item(row_number, record, mapping, options)
        item.warnings[:0] = notes
        yield item


JsonRecord = tuple[int, dict[str, Any] | _Unreadable, list[str]]
_JSON_SPECIAL = re.compile(r'[\\"\[\]{}]')


def json_too_deep(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests objects and arrays more than ``limit`` deep: one pass
    over its brackets and quotes, before the parser (which recurses) sees it."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped_at = 0, False, -1
    for match in _JSON_SPECIAL.finditer(text):
        at, char = match.start(), match.group()
        if at == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _too_deep(limits: IntakePolicy) -> str:
    return f"JSON 嵌套超过 {limits.max_json_depth} 层的上限（intake.max_json_depth），未读取"


def _json_records(path: Path, limits: IntakePolicy) -> Iterator[JsonRecord]:
    lines, first_notes, handle = _open_lines(path, limits)
    with handle:
        if path.suffix.lower() == ".json" and _holds_an_array(path):
            yield from _json_array(path, limits)
            return
        head = next(lines, None)
        empty = True
        for line_number, line in enumerate(_chain([head] if head else [], lines), start=1):
            text = line.text.lstrip("\ufeff")  # files joined together keep their BOMs
            if not text.strip() and not line.overlong:
                continue
            empty = False
            notes, first_notes = first_notes + line.notes, []
            if line.overlong:
                reason = (
                    f"本行超过 {limits.max_cell_chars} 字的上限（intake.max_cell_chars），未读取"
                )
                yield line_number, _Unreadable(reason), notes
                continue
            if json_too_deep(text, limits.max_json_depth):
                yield line_number, _Unreadable(_too_deep(limits)), notes
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                reason = f"JSON 格式错误: {exc.msg}（第 {exc.colno} 列）"
                yield line_number, _Unreadable(reason), notes
                continue
            except RecursionError:  # not reached within the depth limit; never a crash
                yield line_number, _Unreadable(_too_deep(limits)), notes
                continue
            yield (
                line_number,
                (record if isinstance(record, dict) else _Unreadable("每行须为一个 JSON 对象")),
                notes,
            )
        if empty:
            raise BadFile(f"{path.name}: 文件是空的")


def _holds_an_array(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).decode("utf-8", errors="ignore")
    return head.lstrip("\ufeff \t\r\n").startswith("[")


def _json_array(path: Path, limits: IntakePolicy) -> Iterator[JsonRecord]:
    """A .json file holding one array, read whole: at most an eighth of
    ``max_unzipped_mb`` (parsed objects take several times the file's size)."""
    most = limits.max_unzipped_mb * MB // 8
    if path.stat().st_size > most:
        raise BadFile(
            f"{path.name}: 超过 {most / MB:.3g} MB（intake.max_unzipped_mb 的八分之一），"
            "整个数组须一次读入；请改为每行一个 JSON 对象（.jsonl）"
        )
    encoding = detect_encoding(path)
    text = path.read_bytes().decode(encoding, errors="surrogateescape").replace("\x00", "")
    if json_too_deep(text, limits.max_json_depth + 1):  # the array itself is one level
        raise BadFile(f"{path.name}: {_too_deep(limits)}")
    try:
        records = json.loads(text)
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
            [],
        )


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
    pending: list[str] = []  # notes of rows that became no item (the header): for the next
    for row in rows:
        row_number, cells = row.number, row.cells
        notes, pending = pending + row.notes, []
        if isinstance(cells, _Unreadable):
            yield IntakeItem(
                text="",
                row=row_number,
                channel=options.channel,
                reject_reason=cells.reason,
                warnings=notes,
            )
            continue
        names = [_name(cell) for cell in cells]
        if not any(names):
            pending = notes
            continue
        if header is None:
            pending = notes
            try:
                mapping, header = resolve_columns(names, options.columns, path), names
            except DuplicateColumn:
                raise  # a header, but one that cannot be read right
            except BadFile as exc:
                width = sum(1 for name in names if name)
                if refused is None or width > refused[0]:
                    refused = (width, exc)
                scanned += 1
                if scanned >= HEADER_SCAN:
                    raise refused[1] from None
            continue
        if again := _header_again(names, mapping, options, path):
            mapping, header, pending = again, names, notes
            continue
        if strict_width and len(cells) > len(header) and any(names[len(header) :]):
            yield IntakeItem(
                text="",
                row=row_number,
                channel=options.channel,
                reject_reason=f"列数 {len(cells)} 多于表头 {len(header)} 列",
                warnings=notes,
            )
            continue
        item = _item(row_number, dict(zip(header, cells, strict=False)), mapping, options)
        item.warnings[:0] = notes
        yield item
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
            # several names for one field (序号 and 留言编号, 留言详情 and 内容): the first
            # in DEFAULT_HEADERS' order of preference, as real exports carry both
            mapping[name] = next((c for c in candidates if c in present), None)
        if mapping[name] is not None:
            _check_once(path, name, mapping[name], header)
    if mapping["text"] is None and mapping["title"] is None:
        raise BadFile(
            f"{path.name}: 找不到留言内容列（如 留言详情 / 内容），请用 --text-col 指定；"
            f"{present_label}: " + "、".join(present)
        )
    return mapping


FIELD_LABELS = {
    "id": "编号",
    "user": "留言人",
    "title": "标题",
    "time": "时间",
    "text": "留言内容",
    "source": "来源",
    "contact": "联系方式",
    "limit": "办理时限",
}
_CLI_COLUMNS = {"id", "user", "title", "time", "text"}  # fields with a --<name>-col


def _positions(header: list[str], column: str) -> list[int]:
    return [number for number, name in enumerate(header, start=1) if name == column]


def _check_once(path: Path, field: str, column: str | None, header: list[str]) -> None:
    """Refuse a header that holds the column of ``field`` twice: a row's cells were taken
    by name, so the first column's text was silently replaced by the second's."""
    if column is None:
        return
    positions = _positions(header, column)
    if len(positions) > 1:
        where = "和".join(f"第{number}列" for number in positions)
        raise DuplicateColumn(
            f"{path.name}: 表头中「{column}」出现了 {len(positions)} 次（{where}），"
            f"无法确定哪一列是{FIELD_LABELS[field]}；请删除或改名重复的列后重新导入"
        )


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
    for column in mapping.values():
        if column is not None and isinstance(value := record.get(column), Uncomputed):
            return IntakeItem(
                text="",
                channel=options.channel,
                row=row_number,
                reject_reason=value.reason(column),
            )
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
    elif mapping["text"] is None:
        item.reject_reason = _title_only(item.title, mapping["title"])
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
            if excel_serial_text(raw_time):
                shown = moment.astimezone(options.tz).strftime("%Y-%m-%d %H:%M")
                item.warnings.append(
                    f"时间「{raw_time}」是一个数字，已按 Excel 日期序号读作 {shown}，请核对"
                )
    if item.external_id is None:
        item.external_id = _row_key(item, raw_time)
    return item


def _title_only(title: str | None, column: str | None) -> str | None:
    """Why a row of a file without a text column cannot be taken, or None: its title is
    the message, so a short or empty one says so (it read "留言内容为空", as if the
    row were blank, on a file that has no text column at all)."""
    from classifier.normalise import normalise_text

    shown = normalise_text(title or "")
    if len(shown) >= TITLE_AS_TEXT_CHARS:
        return None
    what = f"「{shown}」不足 {TITLE_AS_TEXT_CHARS} 字" if shown else "为空"
    return (
        f"文件没有留言内容列（如 留言详情 / 内容），只有标题列「{column}」，标题即作留言内容；"
        f"本行标题{what}，不能作为留言登记。如内容在其他列，请用 --text-col 指定"
    )


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
