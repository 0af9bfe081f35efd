"""Errors of intake. A bad row is never raised: it is reported with its row number."""

from __future__ import annotations


class IntakeError(Exception):
    """Base class; ``exit_code`` follows the CLI contract (1 failure, 2 bad input)."""

    exit_code = 1


class BadFile(IntakeError):
    """A file that cannot be read as a whole: unknown format, encoding, missing column."""

    exit_code = 2


class DuplicateColumn(BadFile):
    """A header gives one field twice (the same name in two columns, or two names for
    it): which column holds it cannot be told, so the file is refused whole."""


class JunkFile(BadFile):
    """Most rows of a file are not messages (no Chinese text, random characters): the
    import stops before anything is stored; ``--force`` files it anyway."""


BASE_ERROR = IntakeError
