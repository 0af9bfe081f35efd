"""Where the CLI may write: the output guard built from the settings.

Every ``--out`` of duban goes through :func:`output_guard`: an existing file is refused
unless ``--force``; the ledger (the SQLite file and its -wal/-shm/-journal), the model
registry and the data folder are refused always (symlinks and relative paths resolved).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from duban.settings import Settings
from reports.outputs import OutputGuard


def ledger_file(settings: Settings) -> Path | None:
    """The SQLite file of the ledger, or None for a server database."""
    url = make_url(settings.db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def output_guard(settings: Settings, *, force: bool = False) -> OutputGuard:
    return OutputGuard.build(
        ledger_file=ledger_file(settings),
        protected_dirs=((settings.models_path, "模型库目录"), (settings.data_dir, "数据目录")),
        force=force,
    )
