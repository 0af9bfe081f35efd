"""The promoted model's files in the ledger, and a worker's local copy of them.

A worker on another machine has no model folder of its own: promotion stores the version's
files (``model.joblib``, ``manifest.json``, ``report.json``, ``rows.tsv``) in the ledger
(``ModelFile`` / ``ModelFilePart``, chunks of at most 1 MiB) in the promotion's transaction,
and each process that needs the model writes them once into its own cache folder
(``DUBAN_HOME/cache/models/<version>``), checking every file's sha256 — the model's against
the one the ledger recorded at promotion — before anything is unpickled. Backups of the
ledger carry the model with them.

Reading and writing go one chunk at a time, so a 16 MB model never sits whole in a query
result, and only the version asked for is read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, col, select

from classifier.errors import ModelRefused, NotFound
from classifier.registry import MANIFEST_FILE, MODEL_FILE, REPORT_FILE, ROWS_FILE, sha256_file
from ledger.models import ModelFile, ModelFilePart, ModelPromotion

logger = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes per ModelFilePart row
STORED_FILES = (MODEL_FILE, MANIFEST_FILE, REPORT_FILE, ROWS_FILE)
REQUIRED_FILES = (MODEL_FILE, MANIFEST_FILE)
KEEP_CACHED = 3  # versions a cache folder keeps (the promoted one and the last before it)


@dataclass(frozen=True, slots=True)
class Promoted:
    """The promoted version as the ledger has it: what a worker compares per job."""

    version: str
    sha256: str


def promoted(session: Session) -> Promoted | None:
    """The latest promotion (or rollback) the ledger recorded: one read by primary key."""
    row = session.exec(
        select(ModelPromotion.version, ModelPromotion.sha256)
        .order_by(col(ModelPromotion.id).desc())
        .limit(1)
    ).first()
    return Promoted(row[0], row[1]) if row else None


def check_version_name(version: str) -> str:
    """A version id safe to use as a folder name (it comes from the database)."""
    if not version or "/" in version or "\\" in version or version.startswith("."):
        raise ModelRefused(f"模型版本号「{version}」不合法，拒绝加载 (bad version id)")
    return version


# -- storing -------------------------------------------------------------------------------------


def stored_files(session: Session, version: str) -> dict[str, ModelFile]:
    rows = session.exec(select(ModelFile).where(ModelFile.version == version)).all()
    return {row.name: row for row in rows}


def is_stored(session: Session, version: str) -> bool:
    return set(REQUIRED_FILES) <= set(stored_files(session, version))


def store_version(session: Session, folder: Path, version: str, *, now: datetime) -> str:
    """Store the files of the version folder in the ledger (those not stored yet) and
    return the model file's sha256 as stored. A version whose model is already stored with
    other bytes than the folder's is refused: the folder changed since."""
    folder = Path(folder)
    present = stored_files(session, version)
    model = present.get(MODEL_FILE)
    path = folder / MODEL_FILE
    if model is not None and path.is_file() and sha256_file(path) != model.sha256:
        logger.error("model %s: its folder's file is not the one stored in the ledger", version)
        raise ModelRefused(
            f"模型 {version} 的模型文件与台账中保存的不符（文件已被改动），拒绝启用"
            " (model file changed since it was stored in the ledger)"
        )
    for name in STORED_FILES:
        path = folder / name
        if name in present or not path.is_file():
            continue
        present[name] = _store_file(session, path, version, name, now=now)
    model = present.get(MODEL_FILE)
    if model is None:
        raise NotFound(f"{folder}: 缺少模型文件 {MODEL_FILE} (model file missing)")
    return model.sha256


def _store_file(session: Session, path: Path, version: str, name: str, *, now: datetime):
    row = ModelFile(version=version, name=name, sha256="", size=0, parts=0, stored_at=now)
    session.add(row)
    session.flush()
    digest, size, seq = hashlib.sha256(), 0, 0
    with open(path, "rb") as stream:  # hashed as stored: the bytes hashed are the bytes kept
        for block in iter(lambda: stream.read(CHUNK), b""):
            session.execute(insert(ModelFilePart).values(file_id=row.id, seq=seq, data=block))
            digest.update(block)
            size += len(block)
            seq += 1
    row.sha256, row.size, row.parts = digest.hexdigest(), size, seq
    session.add(row)
    session.flush()
    logger.info(
        "stored %s of model %s in the ledger (%d bytes, %d parts)", name, version, size, seq
    )
    return row


# -- fetching ------------------------------------------------------------------------------------


def fetch_version(session: Session, version: str, root: Path, *, expected_sha256: str) -> Path:
    """Write the version's files from the ledger into ``root/<version>`` (whole or not at
    all) and return that folder. Each file must have the sha256 stored with it, and the
    model the one recorded at promotion (``expected_sha256``); otherwise it is refused."""
    check_version_name(version)
    files = stored_files(session, version)
    missing = [name for name in REQUIRED_FILES if name not in files]
    if missing:
        raise ModelRefused(
            f"模型 {version} 的文件没有存入台账（可能在升级到 0009 之前启用），本机也没有它的模型"
            f"目录，无法加载；请在存放模型库的机器上运行 duban model promote {version}"
            f" (model {version} is not stored in the ledger: missing {', '.join(missing)})"
        )
    if files[MODEL_FILE].sha256 != expected_sha256:
        raise _refused_in_ledger(version, files[MODEL_FILE].sha256, expected_sha256)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=root))
    try:
        for name, row in files.items():
            actual = _write_parts(session, row, staging / name)
            wanted = expected_sha256 if name == MODEL_FILE else row.sha256
            if actual != wanted:
                raise _refused_in_ledger(version, actual, wanted, name=name)
        os.chmod(staging, 0o755)
        target = root / version
        if target.exists():  # another process of this machine fetched it meanwhile
            shutil.rmtree(target)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("fetched model %s from the ledger into %s", version, target)
    return target


def _write_parts(session: Session, row: ModelFile, path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for seq in range(row.parts):  # one chunk per query: memory stays at one chunk
            data = session.exec(
                select(ModelFilePart.data).where(
                    ModelFilePart.file_id == row.id, ModelFilePart.seq == seq
                )
            ).first()
            if data is None:
                break  # a part missing: the hash below refuses it
            block = bytes(data)
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


def read_stored(session: Session, version: str, name: str) -> bytes | None:
    """A small stored file (a manifest, a report) whole; None when it is not stored."""
    row = session.exec(
        select(ModelFile).where(ModelFile.version == version, ModelFile.name == name)
    ).first()
    if row is None:
        return None
    parts = session.exec(
        select(ModelFilePart.data)
        .where(ModelFilePart.file_id == row.id)
        .order_by(col(ModelFilePart.seq))
    ).all()
    return b"".join(bytes(part) for part in parts)


def _refused_in_ledger(version: str, actual: str, wanted: str, *, name: str = MODEL_FILE):
    logger.error(
        "model %s: %s stored in the ledger has sha256 %s, not the recorded %s: refused",
        version,
        name,
        actual[:16],
        wanted[:16],
    )
    return ModelRefused(
        f"模型 {version} 存在台账中的文件 {name} 与登记的校验值不符（已损坏或被改动），拒绝加载；"
        "请在存放模型库的机器上重新启用一个可信的版本"
        f" ({name} of model {version} in the ledger: sha256 {actual[:16]}… is not the"
        f" recorded {wanted[:16]}…)"
    )


def prune_cache(root: Path, keep: set[str]) -> None:
    """Drop cached versions beyond the newest ``KEEP_CACHED`` (never one in ``keep``)."""
    root = Path(root)
    if not root.is_dir():
        return
    folders = sorted(
        (entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")),
        key=lambda entry: entry.stat().st_mtime,
        reverse=True,
    )
    for entry in folders[KEEP_CACHED:]:
        if entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
