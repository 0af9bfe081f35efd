"""Reading labelled (and unlabelled) messages from CSV files.

Files may be UTF-8, UTF-8 with a BOM, UTF-16 with a BOM or GB18030 (what Excel and the
government systems export); they are always read with a real CSV parser, since texts hold
newlines and commas. Row numbers count the header as row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifier.errors import BadInput, NotFound
from classifier.normalise import normalise_text

DEFAULT_TITLE_COL = "留言主题"
DEFAULT_TEXT_COL = "留言详情"
ENCODINGS = ("utf-8", "gb18030")


@dataclass(frozen=True, slots=True)
class SkippedRow:
    row: int  # spreadsheet row number (the header is row 1)
    reason: str  # "empty text" | "empty label"


@dataclass(frozen=True, slots=True)
class Table:
    path: Path
    encoding: str
    sha256: str
    columns: list[str]
    records: list[dict[str, str]]
    row_numbers: list[int]  # of each record; blank lines in the file are not records

    def require(self, *names: str) -> None:
        """Raise ``BadInput`` naming the first missing column and listing those present."""
        for name in names:
            if name not in self.columns:
                present = "、".join(self.columns) or "(无)"
                raise BadInput(
                    f"{self.path}: 缺少列「{name}」；文件中的列为：{present}"
                    f" (missing column {name!r}; columns present: {self.columns})"
                )


@dataclass(slots=True)
class Texts:
    """The texts of a file, one per data row, in order (empty text kept as "")."""

    texts: list[str]
    rows: list[int]
    source: dict[str, Any]


@dataclass(slots=True)
class LabelledData:
    """Rows usable for training or evaluation, and the ones skipped (with their rows)."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def skipped_summary(self) -> dict[str, Any]:
        reasons = Counter(skip.reason for skip in self.skipped)
        return {
            "count": len(self.skipped),
            "by_reason": dict(sorted(reasons.items())),
            "rows": [skip.row for skip in self.skipped],
        }


SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # xlsx (zip), xls (OLE2)


def decode(data: bytes) -> tuple[str, str]:
    """The text of a file and the encoding it was read with."""
    if data.startswith(SPREADSHEET_MAGIC):
        raise BadInput(
            "这是 Excel 工作簿或压缩文件，不是 CSV；请在 Excel 中「另存为」CSV UTF-8 后再试"
            " (a spreadsheet or zip file, not CSV: save it as CSV first)"
        )
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise BadInput(f"文件以 UTF-8 BOM 开头却不是 UTF-8 (not valid UTF-8: {exc})") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise BadInput(f"文件不是有效的 UTF-16 (not valid UTF-16: {exc})") from exc
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise BadInput("无法识别文件编码，请另存为 UTF-8 (encoding is neither UTF-8 nor GB18030)")


def read_table(path: Path) -> Table:
    """A CSV file's columns and records (each record a dict of column -> cell)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: 文件不存在 (no such file)") from None
    except OSError as exc:
        raise BadInput(f"{path}: 无法读取 (cannot read): {exc}") from exc
    try:
        text, encoding = decode(data)
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from None
    # A long message must not fail the file: no field can be longer than the file itself.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","  # TSV too
    ended = False

    def lines() -> Iterator[str]:
        nonlocal ended
        yield from io.StringIO(text, newline="")
        ended = True

    reader = csv.reader(lines(), delimiter=delimiter)
    try:
        header = next(reader, [])
        rows = []
        for cells in reader:
            if ended:  # the file ended inside a quoted cell: the rest became one cell
                raise BadInput(
                    f"{path}: 第 {len(rows) + 2} 条记录的引号未闭合，从那里到文件末尾被读成了"
                    f"一个单元格，请检查该行的引号 (unclosed quote in record {len(rows) + 2})"
                )
            rows.append(cells)
    except csv.Error as exc:
        raise BadInput(
            f"{path}: 第 {reader.line_num} 行附近不是有效的 CSV (not a valid CSV file near"
            f" line {reader.line_num}): {exc}"
        ) from exc
    columns = [name.strip().lstrip("\ufeff") for name in header]
    first: dict[str, int] = {}  # a repeated column name: the first one counts (as in pandas)
    for i, name in enumerate(columns):
        first.setdefault(name, i)
    records, numbers = [], []
    for number, cells in enumerate(rows, start=2):
        if cells:
            records.append(
                {name: (cells[i] if i < len(cells) else "") for name, i in first.items()}
            )
            numbers.append(number)
    digest = hashlib.sha256(data).hexdigest()
    return Table(
        path=path,
        encoding=encoding,
        sha256=digest,
        columns=columns,
        records=records,
        row_numbers=numbers,
    )


def compose_text(title: str | None, detail: str | None) -> str:
    """Title + newline + detail; either may be empty (then no newline is added)."""
    title = (title or "").strip()
    detail = detail or ""
    if title and detail.strip():
        return f"{title}\n{detail}"
    return title or detail


def text_key(text: str) -> str:
    """The identity of a text for de-duplication: sha256 of its normalised form."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def _texts_of(table: Table, text_col: str, title_col: str | None) -> list[str]:
    table.require(text_col)
    use_title = bool(title_col) and title_col in table.columns
    return [
        compose_text(record[title_col] if use_title else None, record[text_col])
        for record in table.records
    ]


def _source(table: Table, text_col: str, title_col: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "path": str(table.path),
        "sha256": table.sha256,
        "encoding": table.encoding,
        "records": len(table.records),
        "text_col": text_col,
        "title_col": title_col if title_col in table.columns else None,
        **extra,
    }


def read_texts(
    path: Path, *, text_col: str = DEFAULT_TEXT_COL, title_col: str | None = DEFAULT_TITLE_COL
) -> Texts:
    """Every data row's text (title + detail), in file order; empty texts stay as ""."""
    table = read_table(path)
    texts = _texts_of(table, text_col, title_col)
    return Texts(texts=texts, rows=table.row_numbers, source=_source(table, text_col, title_col))


def read_labelled(
    path: Path,
    *,
    label_col: str,
    text_col: str = DEFAULT_TEXT_COL,
    title_col: str | None = DEFAULT_TITLE_COL,
) -> LabelledData:
    """Labelled rows of a CSV; rows with an empty text or label are skipped and counted."""
    table = read_table(path)
    table.require(label_col, text_col)
    texts = _texts_of(table, text_col, title_col)
    data = LabelledData()
    for number, record, text in zip(table.row_numbers, table.records, texts, strict=True):
        label = record[label_col].strip()
        if not normalise_text(text):
            data.skipped.append(SkippedRow(number, "empty text"))
        elif not label:
            data.skipped.append(SkippedRow(number, "empty label"))
        else:
            data.texts.append(text)
            data.labels.append(label)
            data.rows.append(number)
    data.sources.append(
        _source(
            table,
            text_col,
            title_col,
            label_col=label_col,
            rows=len(data.texts),
            skipped=len(data.skipped),
        )
    )
    return data


def merge(parts: Iterable[LabelledData]) -> LabelledData:
    """Several labelled sets as one (sources and skipped rows kept per source)."""
    merged = LabelledData()
    for part in parts:
        merged.texts += part.texts
        merged.labels += part.labels
        merged.rows += part.rows
        merged.skipped += part.skipped
        merged.sources += part.sources
    return merged


def deduplicate(data: LabelledData) -> tuple[LabelledData, int]:
    """Keep the last row of each text (by ``text_key``); later rows win. Returns the count
    of rows dropped."""
    last: dict[str, int] = {}
    for index, text in enumerate(data.texts):
        last[text_key(text)] = index
    keep = sorted(last.values())
    result = LabelledData(
        texts=[data.texts[i] for i in keep],
        labels=[data.labels[i] for i in keep],
        rows=[data.rows[i] for i in keep],
        skipped=list(data.skipped),
        sources=list(data.sources),
    )
    return result, len(data.texts) - len(keep)


def rows_digest(texts: Sequence[str], labels: Sequence[str]) -> tuple[str, list[str]]:
    """The training set's identity: sha256 over sorted ``text_key<TAB>label`` lines
    (independent of row order), and those lines in row order."""
    lines = [f"{text_key(text)}\t{label}" for text, label in zip(texts, labels, strict=True)]
    digest = hashlib.sha256("\n".join(sorted(lines)).encode("utf-8")).hexdigest()
    return digest, lines
