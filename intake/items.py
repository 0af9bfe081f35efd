"""The unit of intake: one thing received, before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ledger.models import SourceKind

# A message may come in its title alone (some exports have no text column): a normalised
# title of at least this many characters is then stored as the text.
TITLE_AS_TEXT_CHARS = 8


@dataclass
class IntakeItem:
    """One message to file, from a paste, a chat, a 批示件 or a row of an import."""

    text: str
    title: str | None = None
    source_kind: SourceKind = SourceKind.ONLINE
    channel: str = "paste"
    external_id: str | None = None  # the source's own id (留言编号, chat:message id)
    received_at: datetime | None = None  # None: now
    submitter: str | None = None  # who filed it: staff person code or chat account
    complainant_name: str | None = None
    complainant_contact: str | None = None
    time_limit_days: int | None = None  # 批示件 with an explicit limit
    has_time_limit: bool = False
    row: int | None = None  # spreadsheet row number in an import (header = row 1)
    sheet: str | None = None  # the XLSX sheet the row is on
    forwarded_from: str | None = None  # original sender of a forwarded chat message
    reject_reason: str | None = None  # set by a reader that could not read this row
    warnings: list[str] = field(default_factory=list)
