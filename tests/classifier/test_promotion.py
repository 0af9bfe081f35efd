"""Promotion on evidence and the ledger's record of it: the model file's sha256 checked before
routing loads it, an untrusted model only suggests, triage re-suggested after a promotion,
``duban model status``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from classifier.dataset import LabelledData
from classifier.errors import ModelRefused
from classifier.predict import Predictor
from classifier.registry import MANIFEST_FILE, MODEL_FILE, Registry, TrainedModel, sha256_file
from classifier.segment import Segmenter
from classifier.train import train
from duban.cli import app
from duban.runtime import Runtime
from duban.settings import Settings
from ledger.db import session_scope
from ledger.directory import find_unit, get_person, list_units
from ledger.models import Message, ModelPromotion, Ticket
from ledger.policy import RoutingPolicy
from ledger.tickets import Actor, assign, return_ticket
from routing.router import UnitIndex, decide
from routing.training import (
    judge,
    promote_version,
    promotions,
    record_promotion,
    recorded_sha256,
)
from tests.classifier.conftest import DATA_DIR, make_office, small_sample
from tests.helpers import local, make_ticket, rules_for

NOW = local(2026, 12, 1, 9)
runner = CliRunner()


@pytest.fixture
def ledger(db_url: str) -> Iterator[Engine]:
    engine = make_office(db_url)
    yield engine
    engine.dispose()


def promoted(registry: Registry, trained: TrainedModel, engine: Engine) -> str:
    version = registry.save(trained).name
    registry.promote(version)
    with session_scope(engine) as session:
        record_promotion(session, registry, version, by="admin", now=NOW)
    return version


def runtime_for(db_url: str, registry: Registry, policy_yaml: str | None = None) -> Runtime:
    data_dir = None
    if policy_yaml is not None:
        data_dir = registry.root.parent / "data"
        data_dir.mkdir(exist_ok=True)
        (data_dir / "policy.yaml").write_text(policy_yaml, encoding="utf-8")
    settings = Settings(
        database_url=db_url,
        model_dir=registry.root,
        **({"data_dir": data_dir} if data_dir else {}),
    )
    return Runtime(settings=settings)


# -- integrity -----------------------------------------------------------------------------------


def test_the_runtime_loads_a_model_whose_file_the_ledger_recorded(
    db_url: str, ledger: Engine, registry: Registry, trained: TrainedModel
) -> None:
    version = promoted(registry, trained, ledger)
    with session_scope(ledger) as session:
        row = session.exec(select(ModelPromotion)).one()
        assert (row.version, row.promoted_by, row.forced) == (version, "admin", False)
        assert row.sha256 == sha256_file(registry.folder(version) / MODEL_FILE)
    predictor = runtime_for(db_url, registry).predictor()
    assert predictor is not None and predictor.version == version


def test_a_model_file_changed_with_its_manifest_is_refused(
    db_url: str,
    ledger: Engine,
    registry: Registry,
    trained: TrainedModel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whoever can write the model folder can rewrite the manifest's hash too; the ledger's
    copy of the hash is out of their reach."""
    version = promoted(registry, trained, ledger)
    folder = registry.folder(version)
    with open(folder / MODEL_FILE, "ab") as handle:
        handle.write(b"\n# not the promoted model")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["model"]["sha256"] = sha256_file(folder / MODEL_FILE)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    Predictor.load(folder)  # the manifest alone no longer catches it
    refused = pytest.raises(ModelRefused, match="与台账登记的校验值不符")
    with caplog.at_level(logging.ERROR, logger="routing.training"), refused:
        runtime_for(db_url, registry).predictor()
    assert any("does not match the ledger" in r.getMessage() for r in caplog.records)


def test_a_promoted_model_the_ledger_never_recorded_is_refused(
    db_url: str, ledger: Engine, registry: Registry, trained: TrainedModel
) -> None:
    version = registry.save(trained).name
    registry.promote(version)  # behind the ledger's back
    with pytest.raises(ModelRefused, match="未在台账登记"):
        runtime_for(db_url, registry).predictor()
    with session_scope(ledger) as session:
        promote_version(session, registry, version, by="admin", now=NOW, action="manual")
        assert recorded_sha256(session, version) is not None
    assert runtime_for(db_url, registry).predictor().version == version


def test_rollback_refuses_a_version_changed_since_its_promotion(
    ledger: Engine, registry: Registry, trained: TrainedModel, segmenter: Segmenter
) -> None:
    first = promoted(registry, trained, ledger)
    other = small_sample(skip=16, per_unit=8)
    second = train(other.texts, other.labels, segmenter=segmenter, seed=1)
    promoted(registry, second, ledger)
    with open(registry.folder(first) / MODEL_FILE, "ab") as handle:
        handle.write(b"x")
    with session_scope(ledger) as session, pytest.raises(ModelRefused, match="拒绝启用"):
        promote_version(session, registry, "", by="admin", now=NOW, action="rollback")
    assert registry.current() != first


# -- the evidence ------------------------------------------------------------------------------


def test_nothing_right_on_either_side_is_no_evidence(trained: TrainedModel) -> None:
    """The trial promoted a model on 「0.0000 不低于当前版本 0.0000」."""
    model = Predictor(trained.pipeline, {**trained.manifest, "version": "v"})
    texts = small_sample(skip=20, per_unit=4).texts
    holdout = LabelledData(texts=texts, labels=["gaj"] * len(texts), rows=list(range(len(texts))))
    verdict = judge(
        candidate=model,
        candidate_counts={"jyj": 30, "swj": 30},
        current=model,
        current_counts={"jyj": 30, "swj": 30},
        current_seen=set(),
        holdout=holdout,
        policy=RoutingPolicy(min_labelled_rows=10, min_labelled_rows_per_unit=5),
    )
    assert verdict.comparison["candidate_macro_f1"] == verdict.comparison["current_macro_f1"] == 0
    assert not verdict.promote and any("为 0" in reason for reason in verdict.reasons)


def test_a_unit_whose_recall_drops_blocks_the_promotion(
    trained: TrainedModel, segmenter: Segmenter
) -> None:
    good = Predictor(trained.pipeline, {**trained.manifest, "version": "good"})
    part = small_sample(units=("jyj", "swj", "jjdd"))
    blind = train(part.texts, part.labels, segmenter=segmenter, seed=0)  # never saw rsj
    candidate = Predictor(blind.pipeline, {**blind.manifest, "version": "blind"})
    held = small_sample(skip=16, per_unit=6)
    verdict = judge(
        candidate=candidate,
        candidate_counts={"jyj": 30, "swj": 30, "jjdd": 30},
        current=good,
        current_counts={"jyj": 30, "swj": 30, "jjdd": 30, "rsj": 30},
        current_seen=set(),
        holdout=held,
        policy=RoutingPolicy(min_labelled_rows=10, min_labelled_rows_per_unit=5),
    )
    assert not verdict.promote
    assert "rsj" in verdict.comparison["recall_drops"]
    assert any("召回率下降超过 5%" in r and "rsj" in r for r in verdict.reasons)


# -- cold start: suggestions only ----------------------------------------------------------------


def test_an_untrusted_model_suggests_and_a_person_decides(
    db_url: str, ledger: Engine, registry: Registry, trained: TrainedModel
) -> None:
    promoted(registry, trained, ledger)  # 64 rows: below the default 200
    rt = runtime_for(db_url, registry)
    predictor = rt.predictor()
    assert predictor.trusted is False
    text = "人民北路路口经常有车闯红灯，请交警管一管"
    with session_scope(ledger) as session:
        ticket = make_ticket(session, rules_for(), text=text, external_id="cold")
        units = UnitIndex(list_units(session))
        message = session.get(Message, ticket.message_id)
        decision = decide([message], units=units, rules=None, predictor=predictor, threshold=0.0)[0]
        assert decision.unit is None and decision.routed_by == "triage"
        assert decision.suggestions[0]["unit"] == "jjdd"
    trusting = runtime_for(
        db_url,
        registry,
        "routing:\n  min_labelled_rows: 40\n  min_labelled_rows_per_unit: 5\n",
    )
    assert trusting.predictor().trusted is True


# -- triage re-suggested ---------------------------------------------------------------------------


def test_promoting_a_model_resuggests_the_tickets_waiting_in_triage(
    ledger: Engine, registry: Registry, trained: TrainedModel
) -> None:
    rules = rules_for()
    with session_scope(ledger) as session:
        admin = Actor.of(get_person(session, "admin"))
        waiting = make_ticket(
            session, rules, text="人民北路路口经常有车闯红灯，请交警管一管", external_id="w"
        )
        returned = make_ticket(
            session, rules, text="路口红绿灯坏了，车辆乱闯红灯，交警快来", external_id="r"
        )
        assign(
            session, returned, find_unit(session, "jjdd"), actor=admin, now=NOW, routed_by="manual"
        )
        return_ticket(session, returned, "不属于我们", actor=admin, now=NOW)
        ids = (waiting.id, returned.id)
        assert waiting.suggestions == [] and returned.suggestions == []
    version = registry.save(trained).name
    with session_scope(ledger) as session:
        state = promote_version(session, registry, version, by="admin", now=NOW)
    assert state["resuggested"] == 2
    with session_scope(ledger) as session:
        first, second = (session.get(Ticket, i) for i in ids)
        assert first.suggestions[0]["unit"] == "jjdd"
        assert second.suggestions and "jjdd" not in {s["unit"] for s in second.suggestions}
        assert [p.version for p in promotions(session)] == [version]


# -- duban model status -------------------------------------------------------------------


def test_model_status_counts_labels_and_draws_the_learning_curve(
    office: Engine, tmp_path: Path
) -> None:
    sample = small_sample(per_unit=12)
    base = tmp_path / "base.csv"
    base.write_text(
        "留言详情,单位代码\n"
        + "".join(f'"{t}",{label}\n' for t, label in zip(sample.texts, sample.labels, strict=True)),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["model", "status", "--base", str(base), "--json"])
    assert result.exit_code == 0, result.stderr
    status = json.loads(result.stdout)
    counts = {row["unit"]: row["labelled"] for row in status["units"]}
    assert counts["jyj"] == counts["rsj"] == 12 and counts["gaj"] == 0
    assert "gaj" in {row["unit"] for row in status["units_without_history"]}
    assert status["ready"] is False and status["model"] is None
    curve = status["learning_curve"]
    assert [point["fraction"] for point in curve] == [0.25, 0.5, 1.0]
    assert [point["rows"] for point in curve] == [12, 24, 48]
    assert all(0 <= point["macro_f1"] <= 1 for point in curve)
    result = runner.invoke(app, ["model", "status", "--base", str(base), "--no-curve"])
    assert result.exit_code == 0, result.stderr
    assert "尚无已标注留言" in result.stdout and "暂由人工分办" in result.stdout


def test_training_against_units_refuses_foreign_labels_on_the_cli(
    office: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "county.csv"
    path.write_text("留言详情,单位\n城东中学作业太多,县教体局\n停水三天,县水务局\n", "utf-8")
    result = runner.invoke(app, ["train", "--input", str(path), "--label-col", "单位"])
    assert result.exit_code == 2
    assert "县教体局（1 条）" in result.stderr and "县水务局（1 条）" in result.stderr
    assert DATA_DIR.exists()
