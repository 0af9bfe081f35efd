"""The training cap is the office's setting (``routing.max_training_rows`` in policy.yaml):
validated with a Chinese error, passed to every training run from the ledger, and recorded
in the version's manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from classifier.registry import Registry
from classifier.train import MAX_TRAINING_ROWS
from duban.cli import app
from ledger import schema
from ledger.db import make_engine, session_scope
from ledger.directory import load_directory
from ledger.errors import BadInput
from ledger.policy import RoutingPolicy, load_policy
from routing.training import resolve_labels, routable_units, train_and_judge
from tests.classifier.conftest import DATA_DIR, small_sample
from tests.helpers import local

NOW = local(2026, 11, 16, 9)


def test_the_default_cap_is_the_classifiers() -> None:
    assert RoutingPolicy().max_training_rows == MAX_TRAINING_ROWS


@pytest.mark.parametrize("value", [99, 200_001, 0, -5, "2万", "20000", 1.5, True, None])
def test_a_bad_cap_is_refused_in_chinese(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        RoutingPolicy(max_training_rows=value)
    assert "训练行数上限须为 100 到 200000 之间的整数" in str(caught.value)


def test_the_policy_file_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("routing:\n  max_training_rows: 50\n", encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        load_policy(path)
    message = str(caught.value)
    assert "routing.max_training_rows" in message and "训练行数上限" in message
    path.write_text("routing:\n  max_training_rows: 5000\n", encoding="utf-8")
    assert load_policy(path).routing.max_training_rows == 5000


def test_training_from_the_ledger_learns_from_at_most_the_offices_cap(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, DATA_DIR / "units.yaml")
    registry = Registry(tmp_path / "models")
    data = small_sample(per_unit=40)  # 160 rows, about 128 left after the held-out slice
    policy = RoutingPolicy(
        min_labelled_rows=40, min_labelled_rows_per_unit=5, max_training_rows=100
    )
    with session_scope(engine) as session:
        units = routable_units(session)
        result = train_and_judge(
            session,
            resolve_labels(data, units),
            registry=registry,
            units=units,
            policy=policy,
            data_dir=DATA_DIR,
            now=NOW,
            by="console",
        )
    manifest = registry.manifest(result["version"])
    subsampled = manifest["data"]["subsampled"]
    assert result["rows"] == manifest["data"]["rows"] == 100
    assert subsampled["cap"] == 100
    assert subsampled["offered_rows"] == 160 - result["holdout_rows"]
    assert sum(subsampled["left_out"].values()) == subsampled["offered_rows"] - 100


def test_retrain_with_a_bad_cap_stops_before_training(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(DATA_DIR / "units.yaml", data_dir / "units.yaml")
    (data_dir / "policy.yaml").write_text("routing:\n  max_training_rows: 10\n", encoding="utf-8")
    env = {
        "DUBAN_HOME": str(tmp_path / "home"),
        "DUBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "DUBAN_DATA_DIR": str(data_dir),
        "DUBAN_MODEL_DIR": str(tmp_path / "models"),
    }
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(app, ["retrain", "--base", str(tmp_path / "none.csv")], env=env)
    assert result.exit_code == 2, result.output
    assert "max_training_rows" in result.output and "训练行数上限" in result.output
    assert not (tmp_path / "models").exists() or not Registry(tmp_path / "models").versions()
