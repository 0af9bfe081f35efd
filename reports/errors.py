"""Errors the reports raise; the CLI maps them to exit codes, the bots to a reply."""

from __future__ import annotations

from ledger.errors import DubanError


class ReportError(DubanError):
    """Base class. ``exit_code`` follows the CLI contract: 1 failure, 2 bad input."""

    exit_code = 1


class BadPeriod(ReportError):
    """A week or month that cannot be read (``2026-W47``, ``2026-11``)."""

    exit_code = 2


class BadReplayFile(ReportError):
    """A replay CSV that is missing, has the wrong columns or an unreadable row."""

    exit_code = 2


class FontMissing(ReportError):
    """No CJK font for the charts: Chinese would render as empty boxes."""


class RenderError(ReportError):
    """An output format that cannot be written (unknown format, unwritable path)."""

    exit_code = 2


class OutputRefused(RenderError):
    """An output path that would overwrite a file (without ``--force``), the ledger, the
    model registry or the data folder."""


BASE_ERROR = ReportError
