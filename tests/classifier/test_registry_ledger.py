"""The promoted model kept in the ledger (migration 0009): a process on another machine —
another DUBAN_HOME, no model folder of its own — loads it from the ledger into its cache,
checks the recorded sha256, reloads when the promoted version changes, and refuses bytes
that do not match."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, update
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

import routing.modelstore
from classifier.errors import BadInput, ModelRefused, NotFound
from classifier.registry import MODEL_FILE, Registry, TrainedModel, sha256_file
from classifier.segment import Segmenter
from classifier.train import train
from duban.cli import app
from duban.runtime import Runtime
from duban.settings import REPO_ROOT, Settings
from ledger.db import session_scope
from ledger.models import ModelFile, ModelFilePart
from routing.modelstore import read_stored
from routing.training import promote_version
from tests.classifier.conftest import make_office, small_sample
from tests.helpers import local

NOW = local(2026, 12, 1, 9)
runner = CliRunner()


@pytest.fixture
def ledger(db_url: str) -> Iterator[Engine]:
    engine = make_office(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def second(segmenter: Segmenter) -> TrainedModel:
    other = small_sample(skip=16, per_unit=8)
    return train(other.texts, other.labels, segmenter=segmenter, seed=1)


def machine(db_url: str, home: Path, models: Path | None = None) -> Runtime:
    """A runtime with its own working folder: nothing shared but the database."""
    return Runtime(settings=Settings(home=home, database_url=db_url, model_dir=models))


def promote(engine: Engine, registry: Registry, trained: TrainedModel) -> str:
    version = registry.save(trained).name
    with session_scope(engine) as session:
        promote_version(session, registry, version, by="admin", now=NOW, action="manual")
    return version


def test_promotion_stores_the_model_in_the_ledger_once_in_chunks(
    ledger: Engine, registry: Registry, trained: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routing.modelstore, "CHUNK", 4096)
    version = promote(ledger, registry, trained)
    size = (registry.folder(version) / MODEL_FILE).stat().st_size
    with session_scope(ledger) as session:
        promote_version(session, registry, version, by="admin", now=NOW, action="manual")
        files = {f.name: f for f in session.exec(select(ModelFile)).all()}
        assert set(files) == {"model.joblib", "manifest.json", "report.json", "rows.tsv"}
        model = files[MODEL_FILE]
        assert (model.version, model.size) == (version, size)
        assert model.sha256 == sha256_file(registry.folder(version) / MODEL_FILE)
        assert model.parts == -(-size // 4096) > 1
        parts = session.exec(
            select(func.count()).select_from(ModelFilePart).where(ModelFilePart.file_id == model.id)
        ).one()
        assert parts == model.parts  # promoted twice, stored once
        manifest = json.loads(read_stored(session, version, "manifest.json"))
        assert manifest["model"]["sha256"] == model.sha256


def test_another_machine_loads_the_promoted_model_from_the_ledger(
    db_url: str, ledger: Engine, registry: Registry, trained: TrainedModel, tmp_path: Path
) -> None:
    version = promote(ledger, registry, trained)
    worker = machine(db_url, tmp_path / "box-2")
    predictor = worker.predictor()
    assert predictor is not None and predictor.version == version
    cached = tmp_path / "box-2" / "cache" / "models" / version / MODEL_FILE
    assert sha256_file(cached) == sha256_file(registry.folder(version) / MODEL_FILE)
    assert not (tmp_path / "box-2" / "models").exists()  # no registry of its own
    assert worker.predictor() is predictor  # unchanged: not loaded again

    cached.write_bytes(b"damaged")  # a damaged cache is fetched again, not trusted
    fresh = machine(db_url, tmp_path / "box-2").predictor()
    assert fresh is not None and fresh.version == version
    assert sha256_file(cached) == sha256_file(registry.folder(version) / MODEL_FILE)


def test_bytes_in_the_ledger_that_do_not_match_are_refused(
    db_url: str, ledger: Engine, registry: Registry, trained: TrainedModel, tmp_path: Path
) -> None:
    version = promote(ledger, registry, trained)
    with session_scope(ledger) as session:
        model = session.exec(select(ModelFile).where(ModelFile.name == MODEL_FILE)).one()
        session.execute(
            update(ModelFilePart)
            .where(ModelFilePart.file_id == model.id, ModelFilePart.seq == 0)
            .values(data=b"not the promoted model")
        )
    worker = machine(db_url, tmp_path / "box-2")
    for _ in range(2):  # refused on every call, nothing half-written left behind
        with pytest.raises(ModelRefused, match=r"与登记的校验值不符.*拒绝加载"):
            worker.predictor()
    assert not (tmp_path / "box-2" / "cache" / "models" / version).exists()


def test_a_running_process_reloads_when_another_machine_promotes_or_rolls_back(
    db_url: str,
    ledger: Engine,
    registry: Registry,
    trained: TrainedModel,
    second: TrainedModel,
    tmp_path: Path,
) -> None:
    first = promote(ledger, registry, trained)
    worker = machine(db_url, tmp_path / "box-2")
    assert worker.predictor().version == first
    newer = promote(ledger, registry, second)  # on the trainer's machine
    assert worker.predictor().version == newer  # without forget_predictor()
    with session_scope(ledger) as session:
        promote_version(session, registry, "", by="admin", now=NOW, action="rollback")
    assert worker.predictor().version == first
    cache = tmp_path / "box-2" / "cache" / "models"
    assert sorted(p.name for p in cache.iterdir()) == sorted([first, newer])


def test_a_version_promoted_before_the_ledger_kept_models(
    db_url: str, ledger: Engine, registry: Registry, trained: TrainedModel, tmp_path: Path
) -> None:
    """Promoted before migration 0009: another machine is told clearly what to do; the
    machine with the registry stores it when it loads it, and then the other one can."""
    version = promote(ledger, registry, trained)
    with session_scope(ledger) as session:
        session.execute(delete(ModelFilePart))
        session.execute(delete(ModelFile))
    with pytest.raises(ModelRefused, match=rf"没有存入台账.*duban model promote {version}"):
        machine(db_url, tmp_path / "box-2").predictor()
    trainer = machine(db_url, tmp_path / "box-1", registry.root)
    assert trainer.predictor().version == version
    assert machine(db_url, tmp_path / "box-3").predictor().version == version


def test_any_machine_can_promote_again_a_version_the_ledger_keeps(
    db_url: str,
    ledger: Engine,
    registry: Registry,
    trained: TrainedModel,
    second: TrainedModel,
    tmp_path: Path,
) -> None:
    first = promote(ledger, registry, trained)
    promote(ledger, registry, second)
    elsewhere = Registry(tmp_path / "box-2" / "models")
    with session_scope(ledger) as session:
        promote_version(session, elsewhere, first, by="admin", now=NOW, action="manual")
    assert sha256_file(elsewhere.folder(first) / MODEL_FILE) == sha256_file(
        registry.folder(first) / MODEL_FILE
    )
    assert machine(db_url, tmp_path / "box-3").predictor().version == first


def test_model_status_reports_the_ledger_s_version_on_a_machine_without_the_registry(
    office: Engine, trained: TrainedModel, tmp_path: Path
) -> None:
    registry = Registry(tmp_path / "trainer" / "models")
    version = promote(office, registry, trained)
    result = runner.invoke(app, ["model", "status", "--no-curve", "--json"])  # DUBAN_HOME
    assert result.exit_code == 0, result.stderr
    model = json.loads(result.stdout)["model"]
    assert model["version"] == version and model["rows"] == len(trained.rows)
    assert model["recorded"] and model["stored_in_ledger"]
    assert model["in_local_registry"] is False
    with session_scope(office) as session:  # as if promoted before migration 0009
        session.execute(delete(ModelFilePart))
        session.execute(delete(ModelFile))
    result = runner.invoke(app, ["model", "status", "--no-curve"])
    assert result.exit_code == 0, result.stderr
    assert f"启用模型 {version}" in result.stdout and "尚未存入台账" in result.stdout


def test_a_backup_of_the_ledger_carries_the_promoted_model(
    registry: Registry, trained: TrainedModel, tmp_path: Path
) -> None:
    """``deploy/backup.sh``'s copy, restored on a machine that never had the registry."""
    url = f"sqlite:///{tmp_path / 'office' / 'duban.db'}"
    (tmp_path / "office").mkdir()
    engine = make_office(url)
    version = promote(engine, registry, trained)
    engine.dispose()
    env = {**os.environ, "DUBAN_DATABASE_URL": url}
    out = subprocess.run(
        ["sh", str(REPO_ROOT / "deploy" / "backup.sh"), str(tmp_path / "backups")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shutil.rmtree(registry.root)  # the registry is gone with the old machine
    restored = tmp_path / "new-machine"
    restored.mkdir()
    shutil.copy(out, restored / "duban.db")
    predictor = machine(f"sqlite:///{restored / 'duban.db'}", restored).predictor()
    assert predictor is not None and predictor.version == version


def test_rollback_refuses_when_another_machine_promoted_since(
    ledger: Engine,
    registry: Registry,
    trained: TrainedModel,
    second: TrainedModel,
    tmp_path: Path,
) -> None:
    """The registry's history is this machine's: after a promotion made elsewhere it would
    roll back to a version the ledger's history does not put there."""
    first = promote(ledger, registry, trained)
    promote(ledger, registry, second)
    elsewhere = Registry(tmp_path / "box-2" / "models")
    with session_scope(ledger) as session:
        promote_version(session, elsewhere, first, by="admin", now=NOW, action="manual")
    with session_scope(ledger) as session, pytest.raises(BadInput, match="不能按本机历史回滚"):
        promote_version(session, registry, "", by="admin", now=NOW, action="rollback")


def test_promoting_a_malformed_version_is_bad_input(ledger: Engine, registry: Registry) -> None:
    with session_scope(ledger) as session, pytest.raises(NotFound, match="没有模型版本"):
        promote_version(session, registry, "../etc", by="admin", now=NOW, action="manual")
