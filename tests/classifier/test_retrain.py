"""Retraining from the ledger: which label each message gets, and when a version is promoted."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from classifier.dataset import LabelledData
from classifier.registry import Registry
from duban.cli import app
from ledger import schema
from ledger.db import make_engine, session_scope
from ledger.directory import find_unit, get_person, load_directory
from ledger.models import Unit
from ledger.tickets import Actor, acknowledge, assign, return_ticket
from routing.training import ledger_examples, ledger_labels, retrain
from tests.classifier.conftest import DATA_DIR, small_sample
from tests.helpers import local, make_ticket, rules_for

NOW = local(2026, 11, 16, 9)


def ledger(url: str) -> Engine:
    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, DATA_DIR / "units.yaml")
    return engine


def write_csv(path: Path, data: LabelledData) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["留言主题", "留言详情", "单位代码"])
    writer.writerows(["", text, label] for text, label in zip(data.texts, data.labels, strict=True))
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def handled(session, rules, items: list[tuple[str, str]], *, key: str) -> None:
    """Tickets routed by the classifier to each unit and acknowledged there (kept)."""
    admin = Actor.of(get_person(session, "admin"))
    for index, (text, code) in enumerate(items):
        ticket = make_ticket(session, rules, text=text, external_id=f"{key}-{index}")
        assign(
            session,
            ticket,
            find_unit(session, code),
            actor=Actor.system("router"),
            now=NOW,
            routed_by="classifier",
            classifier_version="v1",
            confidence=0.9,
        )
        acknowledge(session, ticket, actor=admin, now=NOW + timedelta(hours=1))


def test_labels_are_the_units_that_finally_handled_each_message(tmp_path: Path) -> None:
    engine = ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    rules = rules_for()
    with session_scope(engine) as session:
        staff = Actor.of(get_person(session, "luru1"))
        admin = Actor.of(get_person(session, "admin"))
        router = Actor.system("router")
        unit = lambda code: find_unit(session, code)  # noqa: E731

        kept = make_ticket(session, rules, text="城东中学作业太多", external_id="kept")
        assign(session, kept, unit("jyj"), actor=router, now=NOW, routed_by="classifier")
        acknowledge(session, kept, actor=admin, now=NOW)

        waiting = make_ticket(session, rules, text="停水三天", external_id="waiting")
        assign(session, waiting, unit("swj"), actor=router, now=NOW, routed_by="classifier")

        rerouted = make_ticket(session, rules, text="路口闯红灯", external_id="rerouted")
        assign(session, rerouted, unit("swj"), actor=router, now=NOW, routed_by="classifier")
        return_ticket(session, rerouted, "不属于我局", actor=admin, now=NOW)
        assign(session, rerouted, unit("jjdd"), actor=staff, now=NOW, routed_by="manual")

        sent_back = make_ticket(session, rules, text="拖欠工资", external_id="sent-back")
        assign(session, sent_back, unit("rsj"), actor=staff, now=NOW, routed_by="triage")
        return_ticket(session, sent_back, "请转劳动仲裁", actor=admin, now=NOW)

        moved = make_ticket(session, rules, text="小区噪音扰民", external_id="moved")
        assign(session, moved, unit("jyj"), actor=staff, now=NOW, routed_by="triage")
        assign(session, moved, unit("gaj"), actor=staff, now=NOW, routed_by="manual")

        closed = make_ticket(session, rules, text="农田被占", external_id="closed")
        assign(session, closed, unit("nyj"), actor=router, now=NOW, routed_by="classifier")
        acknowledge(session, closed, actor=admin, now=NOW)
        unit("nyj").active = False

        ids = {
            t.message_id: name
            for t, name in [
                (kept, "kept"),
                (waiting, "waiting"),
                (rerouted, "rerouted"),
                (sent_back, "sent_back"),
                (moved, "moved"),
                (closed, "closed"),
            ]
        }

    with session_scope(engine) as session:
        labels = {ids[mid]: label for mid, label in ledger_labels(session).items()}
        examples = ledger_examples(session)
    assert labels == {
        "kept": ("jyj", "ticket"),
        "rerouted": ("jjdd", "triage"),
        "moved": ("gaj", "reassign"),
    }
    assert sorted(zip(examples.texts, examples.labels, strict=True)) == [
        ("城东中学作业太多", "jyj"),
        ("小区噪音扰民", "gaj"),
        ("路口闯红灯", "jjdd"),
    ]
    assert examples.sources[0]["by_source"] == {"reassign": 1, "ticket": 1, "triage": 1}


@pytest.fixture
def base_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "base.csv", small_sample())


def test_retrain_promotes_unless_worse(tmp_path: Path, base_csv: Path) -> None:
    engine = ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    registry = Registry(tmp_path / "models")
    rules = rules_for()
    more = small_sample(skip=16, per_unit=8)
    with session_scope(engine) as session:
        handled(session, rules, list(zip(more.texts, more.labels, strict=True)), key="new")

    with session_scope(engine) as session:
        first = retrain(session, registry=registry, base_csv=base_csv, data_dir=DATA_DIR)
    assert first["promoted"] and first["comparison"]["current"] is None
    assert (first["ledger_rows"], first["base_rows"], first["rows"]) == (32, 64, 96)
    assert registry.current() == first["version"]

    with session_scope(engine) as session:
        same = retrain(session, registry=registry, base_csv=base_csv, data_dir=DATA_DIR)
    comparison = same["comparison"]
    assert comparison["current"] == first["version"]
    assert comparison["current_training_rows_used"] == 96
    assert comparison["candidate_macro_f1"] == pytest.approx(comparison["current_macro_f1"])
    assert same["promoted"] and registry.current() == same["version"]

    # Staff "correct" most base messages to random units: the new version learns noise.
    base = small_sample()
    rng = random.Random(7)
    wrong = [
        (text, rng.choice([u for u in ("jyj", "swj", "jjdd", "rsj") if u != label]))
        for text, label in zip(base.texts, base.labels, strict=True)
    ][:48]
    with session_scope(engine) as session:
        handled(session, rules, wrong, key="noise")
    with session_scope(engine) as session:
        worse = retrain(session, registry=registry, base_csv=base_csv, data_dir=DATA_DIR)
    comparison = worse["comparison"]
    assert worse["duplicates"] == 48 and worse["rows"] == 96
    assert comparison["current"] == same["version"]
    assert comparison["candidate_macro_f1"] < comparison["current_macro_f1"] - 0.005
    assert not worse["promoted"] and registry.current() == same["version"]
    assert worse["version"] in registry.versions()

    with session_scope(engine) as session:
        forced = retrain(
            session, registry=registry, base_csv=base_csv, data_dir=DATA_DIR, force=True
        )
    assert forced["promoted"] and forced["forced"]
    assert registry.current() == forced["version"]


def test_retrain_through_the_cli(tmp_path: Path, base_csv: Path) -> None:
    home = tmp_path / "home"  # DUBAN_HOME (see tests/conftest.py)
    engine = ledger(f"sqlite:///{home / 'duban.db'}")
    more = small_sample(skip=16, per_unit=6)
    with session_scope(engine) as session:
        handled(session, rules_for(), list(zip(more.texts, more.labels, strict=True)), key="cli")
        assert session.get(Unit, 1) is not None
    engine.dispose()
    result = CliRunner().invoke(app, ["retrain", "--base", str(base_csv), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["promoted"] and summary["ledger_rows"] == 24
    assert (home / "models" / "CURRENT").exists()
    result = CliRunner().invoke(app, ["retrain", "--base", str(base_csv)])
    assert result.exit_code == 0, result.stderr
    assert "同一交叉验证折上宏平均F1" in result.stdout
