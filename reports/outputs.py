"""Output files written safely: never over an existing file unless forced, never over the
ledger or the folders duban runs on (even when forced), always whole, with a chosen mode.

Every file goes to a temporary file in the target's folder, then ``os.replace`` puts it in
place, so a crash or an error midway leaves the old file (or nothing), never half a file.

Modes (the umask does not widen or narrow them):

- :data:`PRIVATE` 0600 — the ticket export (citizens' titles, texts and the units' replies),
  like the ledger itself and its backups: readable only by the account duban runs as.
- :data:`SHARED` 0640 — reports and charts (figures per unit, no complainant data): the
  office's group (e.g. the account that mails or serves them) may read them.

Spreadsheet cells are text, never formulas: :func:`spreadsheet_text` is the one rule for the
CSV export and the XLSX writer.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from reports.errors import OutputRefused, RenderError

PRIVATE = 0o600
SHARED = 0o640

# A cell starting with one of these is read as a formula by Excel, LibreOffice or WPS
# ("=HYPERLINK(…)", "+cmd|' /C calc'!A0", "-2+3", "@SUM(…)"), also after a tab or CR.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\n")


def looks_like_formula(value: Any) -> bool:
    """True for a string a spreadsheet would take for a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_LEADS)


def spreadsheet_text(value: Any) -> Any:
    """``value`` safe for a spreadsheet cell: formula-like text gets a leading apostrophe
    (shown as text, not run); other values are returned unchanged."""
    return "'" + value if looks_like_formula(value) else value


def real_path(path: Path | str) -> Path:
    """Absolute, with ``..`` and every symlink (also a dangling one) resolved."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


@dataclass(frozen=True, slots=True)
class OutputGuard:
    """Which paths an output may take. ``ledger`` files and everything inside
    ``protected_dirs`` are refused always; an existing file unless ``force``."""

    ledger: tuple[Path, ...] = ()
    protected_dirs: tuple[tuple[Path, str], ...] = ()  # (folder, its name in messages)
    force: bool = False

    @classmethod
    def build(
        cls,
        *,
        ledger_file: Path | None = None,
        protected_dirs: Iterable[tuple[Path, str]] = (),
        force: bool = False,
    ) -> OutputGuard:
        files: tuple[Path, ...] = ()
        if ledger_file is not None:
            base = real_path(ledger_file)
            files = (base, *(base.with_name(base.name + s) for s in ("-wal", "-shm", "-journal")))
        dirs = tuple((real_path(folder), label) for folder, label in protected_dirs)
        return cls(ledger=files, protected_dirs=dirs, force=force)

    def check(self, path: Path | str) -> Path:
        """``path`` if an output may be written there; :class:`OutputRefused` otherwise."""
        path = Path(path)
        real = real_path(path)
        self._protected(path, real)
        if real.is_dir():
            raise OutputRefused(f"{path}: 是目录，请给出文件名 (a folder, not a file)")
        if os.path.lexists(path) and not self.force:
            raise OutputRefused(
                f"{path}: 文件已存在，未覆盖；确需覆盖请加 --force (exists; --force overwrites)"
            )
        return path

    def _protected(self, path: Path, real: Path) -> None:
        if real in self.ledger:
            raise OutputRefused(
                f"{path}: 这是台账数据库文件（{real}），任何情况下都不能写入，请换一个文件名"
                " (the ledger is never overwritten)"
            )
        for folder, label in self.protected_dirs:
            if real == folder or folder in real.parents:
                raise OutputRefused(
                    f"{path}: 位于{label}（{folder}）中，任何情况下都不能写入，请换一个位置"
                    " (never written into)"
                )

    def check_folder(self, folder: Path | str) -> Path:
        """``folder`` if outputs may be written into it (not the ledger, not inside the
        model registry or the data folder, not a file)."""
        folder = Path(folder)
        real = real_path(folder)
        self._protected(folder, real)
        if real.exists() and not real.is_dir():
            raise OutputRefused(f"{folder}: 不是目录 (not a folder)")
        return folder


def check_all(guard: OutputGuard | None, paths: Iterable[Path]) -> None:
    """Check every path before anything is written, so a refusal leaves nothing behind."""
    if guard is not None:
        for path in paths:
            guard.check(path)


@contextlib.contextmanager
def atomic_path(path: Path | str, *, mode: int = SHARED) -> Iterator[Path]:
    """A temporary path next to ``path`` to write to; on success it becomes ``path`` (mode
    ``mode``), on an error it is removed and ``path`` is left as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
    except OSError as exc:
        raise RenderError(f"{path}: 无法写入 (cannot write): {exc}") from exc
    temp = Path(name)
    try:
        yield temp
        os.chmod(temp, mode)
        with open(temp, "rb") as done:
            os.fsync(done.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(
    path: Path | str,
    *,
    mode: int = SHARED,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[str]]:
    """A text handle whose content replaces ``path`` only once it is complete."""
    with (
        atomic_path(path, mode=mode) as temp,
        temp.open("w", encoding=encoding, newline=newline) as handle,
    ):
        yield handle


def write_text(path: Path | str, text: str, *, mode: int = SHARED) -> Path:
    with atomic_open(path, mode=mode) as handle:
        handle.write(text)
    return Path(path)
