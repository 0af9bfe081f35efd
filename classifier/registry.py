"""The model registry: one folder per training run, a pointer to the promoted one.

    models/
      CURRENT                      {"version": ..., "stack": [...], "log": [...]} (JSON)
      20260522-101500-3fa9c2e1/
        model.joblib               the fitted pipeline
        manifest.json              data hash, params, seeds, dictionary hash, versions, …
        report.json                per-class precision/recall/F1, confusion matrix, …
        rows.tsv                   text_key<TAB>label of every training row (no text)

A version folder is written under a temporary name and renamed into place, so it appears
whole or not at all. Promotion and rollback rewrite ``CURRENT`` with ``os.replace``
(atomic) under an advisory lock; ``stack`` is the promotion history, so rolling back
re-promotes the version promoted before the current one. Loading checks the model file's
sha256 *before* unpickling it, and refuses a model built with another scikit-learn or
segmenter version, or for another user dictionary.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
from sklearn.pipeline import Pipeline

from classifier.errors import BadInput, ModelRefused, NoPromotedModel, NotFound
from classifier.segment import engine_version

logger = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.json"
ROWS_FILE = "rows.tsv"
POINTER_FILE = "CURRENT"
LOCK_FILE = ".lock"


@dataclass(slots=True)
class TrainedModel:
    """A fitted pipeline and what is written beside it (``classifier.train`` makes it)."""

    pipeline: Pipeline
    manifest: dict[str, Any]
    report: dict[str, Any]
    rows: list[str] = field(default_factory=list)  # text_key<TAB>label per training row


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes (what promotion records and loading checks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(
            f"{folder}: 不是模型版本目录，缺少 {MANIFEST_FILE} (not a model version)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelRefused(f"{path}: 清单无法读取 (unreadable manifest): {exc}") from exc
    if not isinstance(manifest, dict):
        raise ModelRefused(f"{path}: 清单不是 JSON 对象 (manifest is not a JSON object)")
    return manifest


def is_version_folder(folder: Path) -> bool:
    return (Path(folder) / MANIFEST_FILE).is_file()


def check_compatible(manifest: dict[str, Any], dictionary_sha256: str | None = None) -> None:
    """Refuse a model built with another scikit-learn or segmenter, or another dictionary."""
    version = manifest.get("version", "?")
    built = (manifest.get("libraries") or {}).get("scikit-learn")
    installed = metadata.version("scikit-learn")
    if built != installed:
        raise ModelRefused(
            f"模型 {version} 由 scikit-learn {built} 训练，当前为 {installed}，请重新训练"
            f" (model built with scikit-learn {built}, installed {installed}: retrain it)"
        )
    segmenter = manifest.get("segmenter") or {}
    engine = segmenter.get("engine", "?")
    try:
        current = engine_version(engine)
    except BadInput:
        current = None
    if segmenter.get("version") != current:
        raise ModelRefused(
            f"模型 {version} 由分词器 {engine} {segmenter.get('version')} 训练，当前为 {current}，"
            f"请重新训练 (model built with {engine} {segmenter.get('version')}, installed "
            f"{current}: retrain it)"
        )
    pinned = segmenter.get("dictionary_sha256")
    if dictionary_sha256 is not None and pinned != dictionary_sha256:
        raise ModelRefused(
            f"模型 {version} 的用户词典 ({str(pinned)[:12]}…) 与当前 data/ 生成的词典"
            f" ({dictionary_sha256[:12]}…) 不同，请重新训练 (user dictionary changed since"
            " the model was trained: retrain it)"
        )


def load_pipeline(folder: Path, *, dictionary_sha256: str | None = None):
    """The verified pipeline and manifest of one version folder."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    expected = (manifest.get("model") or {}).get("sha256")
    try:
        data = (folder / MODEL_FILE).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{folder}: 缺少模型文件 {MODEL_FILE} (model file missing)") from None
    actual = sha256_bytes(data)
    if actual != expected:
        raise ModelRefused(
            f"{folder / MODEL_FILE}: 模型文件校验失败，拒绝加载 (sha256 {actual[:16]}… does not"
            f" match the manifest's {str(expected)[:16]}…; the file was changed)"
        )
    check_compatible(manifest, dictionary_sha256)
    pipeline = joblib.load(io.BytesIO(data))
    segmenter = pipeline.named_steps["segment"].segmenter
    if segmenter.dictionary_sha256 != manifest["segmenter"]["dictionary_sha256"]:
        raise ModelRefused(f"{folder}: 模型内词典与清单不符 (dictionary hash mismatch)")
    return pipeline, manifest


class Registry:
    """Version folders under ``root`` and the ``CURRENT`` pointer."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- writing versions ------------------------------------------------------------------

    def create(self) -> None:
        """Make the registry folder (if need be); a path that cannot be one is bad input."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(
                f"{self.root}: 无法创建模型库目录 (cannot create the model folder): {exc}"
            ) from exc

    def save(self, trained: TrainedModel, *, now: datetime | None = None) -> Path:
        """Write a new version folder (atomically) and return its path."""
        self.create()
        buffer = io.BytesIO()
        joblib.dump(trained.pipeline, buffer)
        data = buffer.getvalue()
        digest = sha256_bytes(data)
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        version = f"{stamp}-{digest[:8]}"
        suffix = 1
        while (self.root / version).exists():
            suffix += 1
            version = f"{stamp}-{digest[:8]}-{suffix}"
        manifest = {
            "version": version,
            **trained.manifest,
            "model": {"file": MODEL_FILE, "sha256": digest, "bytes": len(data)},
        }
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            (staging / MODEL_FILE).write_bytes(data)
            _write_json(staging / MANIFEST_FILE, manifest)
            _write_json(staging / REPORT_FILE, {"version": version, **trained.report})
            (staging / ROWS_FILE).write_text(
                "".join(f"{line}\n" for line in trained.rows), encoding="utf-8"
            )
            os.chmod(staging, 0o755)
            os.rename(staging, self.root / version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("saved model version %s (%d bytes)", version, len(data))
        return self.root / version

    # -- reading ---------------------------------------------------------------------------

    def versions(self) -> list[str]:
        """Version ids, oldest first (by the manifest's creation time, then the id)."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            if entry.is_dir() and not entry.name.startswith(".") and is_version_folder(entry):
                try:
                    created = str(read_manifest(entry).get("created_at", ""))
                except ModelRefused:
                    created = ""
                found.append((created, entry.name))
        return [name for _, name in sorted(found)]

    def folder(self, version: str) -> Path:
        folder = self.root / version
        if (
            not version
            or "/" in version
            or version.startswith(".")
            or not is_version_folder(folder)
        ):
            known = "、".join(self.versions()) or "(无)"
            raise NotFound(f"没有模型版本「{version}」；现有版本：{known} (no such version)")
        return folder

    def manifest(self, version: str) -> dict[str, Any]:
        return read_manifest(self.folder(version))

    def report(self, version: str) -> dict[str, Any]:
        return json.loads((self.folder(version) / REPORT_FILE).read_text(encoding="utf-8"))

    def training_rows(self, version: str) -> list[tuple[str, str]]:
        """(text_key, label) of every row the version was trained on."""
        path = self.folder(version) / ROWS_FILE
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [tuple(line.split("\t", 1)) for line in lines if "\t" in line]  # type: ignore[misc]

    def pointer(self) -> dict[str, Any]:
        path = self.root / POINTER_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": None, "stack": [], "log": []}
        except (OSError, ValueError) as exc:
            raise ModelRefused(f"{path}: 无法读取 (unreadable pointer file): {exc}") from exc
        if not isinstance(state, dict):
            raise ModelRefused(f"{path}: 内容不是 JSON 对象 (pointer file is not a JSON object)")
        state.setdefault("stack", [])
        state.setdefault("log", [])
        return state

    def current(self) -> str | None:
        return self.pointer().get("version")

    def current_folder(self) -> Path:
        version = self.current()
        if version is None:
            raise NoPromotedModel(
                f"{self.root}: 还没有启用的模型，请先训练并 promote"
                " (no promoted model: train one and promote it)"
            )
        return self.folder(version)

    # -- promotion -------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.create()
        with open(self.root / LOCK_FILE, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write_pointer(self, state: dict[str, Any]) -> None:
        handle, temporary = tempfile.mkstemp(prefix=".CURRENT-", dir=self.root)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(json.dumps(state, ensure_ascii=False, indent=2) + "\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.root / POINTER_FILE)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def promote(self, version: str, *, now: datetime | None = None) -> dict[str, Any]:
        """Make ``version`` the one routing uses. Returns the new pointer state."""
        self.folder(version)  # must exist
        when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        with self._locked():
            state = self.pointer()
            previous = state.get("version")
            if previous != version:
                state["stack"] = [*state["stack"], version]
            state["log"] = [
                *state["log"],
                {"action": "promote", "version": version, "from": previous, "at": when},
            ]
            state["version"] = version
            self._write_pointer(state)
        logger.info("promoted model %s (was %s)", version, previous)
        return state

    def rollback(self, *, now: datetime | None = None) -> dict[str, Any]:
        """Re-promote the version promoted before the current one."""
        when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        if not self.root.is_dir():  # nothing to roll back; do not create the folder
            raise NotFound(f"{self.root}: 目录不存在 (no such model folder)")
        with self._locked():
            state = self.pointer()
            stack = list(state["stack"])
            current = state.get("version")
            if current is None or len(stack) < 2:
                raise NoPromotedModel("没有可回滚的上一个版本 (no earlier promoted version)")
            stack.pop()
            target = stack[-1]
            self.folder(target)  # still there
            state["stack"] = stack
            state["version"] = target
            state["log"] = [
                *state["log"],
                {"action": "rollback", "version": target, "from": current, "at": when},
            ]
            self._write_pointer(state)
        logger.info("rolled back model %s -> %s", current, target)
        return state


def resolve_folder(path: Path) -> Path:
    """A version folder as given, or the promoted version of a registry folder."""
    path = Path(path)
    if is_version_folder(path):
        return path
    if not path.exists():
        raise NotFound(f"{path}: 目录不存在 (no such model folder)")
    if not path.is_dir():
        raise NotFound(
            f"{path}: 不是目录；--model 应为模型版本目录或模型库目录"
            " (not a folder: give a version folder or a registry folder)"
        )
    return Registry(path).current_folder()
