"""Retraining from the ledger: which label each message gets, and when a version is promoted."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from classifier.dataset import LabelledData
from classifier.errors import BadInput
from classifier.registry import Registry
from duban.cli import app
from ledger import schema
from ledger.db import make_engine, session_scope
from ledger.directory import find_unit, get_person, load_directory
from ledger.models import Message, Ticket, TrainingLabel, Unit
from ledger.policy import RoutingPolicy
from ledger.tickets import Actor, acknowledge, assign, return_ticket
from routing.training import (
    ledger_examples,
    ledger_labels,
    promotions,
    read_label_map,
    resolve_labels,
    retrain,
    routable_units,
    train_and_judge,
)
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

    loaded: list[object] = []  # read as plain columns: no ORM object is built

    def count(target, _context) -> None:
        loaded.append(target)

    tables = (Unit, Ticket, TrainingLabel, Message)
    for table in tables:
        event.listen(table, "load", count)
    try:
        with session_scope(engine) as session:
            labels = {ids[mid]: label for mid, label in ledger_labels(session).items()}
            examples = ledger_examples(session)
    finally:
        for table in tables:
            event.remove(table, "load", count)
    assert loaded == []
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


POLICY = RoutingPolicy(min_labelled_rows=40, min_labelled_rows_per_unit=5)


def test_retrain_promotes_unless_worse(tmp_path: Path, base_csv: Path) -> None:
    engine = ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    registry = Registry(tmp_path / "models")
    rules = rules_for()
    more = small_sample(skip=16, per_unit=8)
    with session_scope(engine) as session:
        handled(session, rules, list(zip(more.texts, more.labels, strict=True)), key="new")

    def again(**options):
        with session_scope(engine) as session:
            return retrain(
                session,
                registry=registry,
                base_csv=base_csv,
                data_dir=DATA_DIR,
                policy=POLICY,
                now=NOW,
                **options,
            )

    first = again()
    assert first["promoted"] and first["comparison"]["current"] is None
    assert (first["ledger_rows"], first["base_rows"], first["labelled_rows"]) == (32, 64, 96)
    assert first["rows"] + first["holdout_rows"] == 96 and first["holdout_rows"] >= 10
    assert registry.current() == first["version"]

    same = again()
    comparison = same["comparison"]
    assert comparison["current"] == first["version"]
    assert comparison["rows_seen_by_current"] == 0  # the held-out slice is never trained on
    assert comparison["candidate_macro_f1"] == pytest.approx(comparison["current_macro_f1"])
    assert same["promoted"] and registry.current() == same["version"]
    assert "不低于当前版本" in same["reason"]

    # Staff "correct" most base messages to random units: the new version learns noise.
    base = small_sample()
    rng = random.Random(7)
    wrong = [
        (text, rng.choice([u for u in ("jyj", "swj", "jjdd", "rsj") if u != label]))
        for text, label in zip(base.texts, base.labels, strict=True)
    ][:48]
    with session_scope(engine) as session:
        handled(session, rules, wrong, key="noise")
    worse = again()
    comparison = worse["comparison"]
    assert worse["duplicates"] == 48 and worse["labelled_rows"] == 96
    assert comparison["current"] == same["version"]
    assert comparison["candidate_macro_f1"] < comparison["current_macro_f1"]
    assert not worse["promoted"] and registry.current() == same["version"]
    assert "低于当前版本" in worse["reason"] and worse["version"] in registry.versions()

    forced = again(force=True, by="admin")
    assert forced["promoted"] and forced["forced"]
    assert registry.current() == forced["version"]
    with session_scope(engine) as session:
        rows = [(p.version, p.forced, p.action, p.promoted_by) for p in promotions(session)]
    assert rows == [
        (first["version"], False, "retrain", "console"),
        (same["version"], False, "retrain", "console"),
        (forced["version"], True, "retrain", "admin"),
    ]


@pytest.mark.parametrize("with_base", [False, True])
def test_nine_rows_never_replace_a_model_trained_on_many(
    tmp_path: Path, base_csv: Path, with_base: bool
) -> None:
    """The trial's case: ``retrain`` without a base file trained on 9 rows and promoted
    them over the model trained on hundreds."""
    engine = ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    registry = Registry(tmp_path / "models")
    big = small_sample(per_unit=30)
    with session_scope(engine) as session:
        first = train_and_judge(
            session,
            resolve_labels(big, routable_units(session)),
            registry=registry,
            units=routable_units(session),
            policy=POLICY,
            data_dir=DATA_DIR,
            now=NOW,
            by="console",
        )
    assert first["promoted"] and first["trusted"]
    nine = small_sample(units=("jyj", "swj", "jjdd"), skip=40, per_unit=3)
    with session_scope(engine) as session:
        handled(session, rules_for(), list(zip(nine.texts, nine.labels, strict=True)), key="9")
    with session_scope(engine) as session:
        result = retrain(
            session,
            registry=registry,
            base_csv=base_csv if with_base else tmp_path / "missing.csv",
            data_dir=DATA_DIR,
            policy=POLICY,
            now=NOW,
        )
    assert not result["promoted"] and registry.current() == first["version"]
    if not with_base:
        assert result["labelled_rows"] == 9
        assert "少于策略要求的 40 条" in result["reason"]
        assert "每单位 5 条" in result["reason"]


def test_labels_of_another_district_are_refused_unless_mapped(tmp_path: Path) -> None:
    """Two districts' labels mixed in one base file: refused with the labels listed."""
    engine = ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    registry = Registry(tmp_path / "models")
    sample = small_sample(per_unit=12)
    names = {"jyj": "区教育局", "swj": "水务局", "jjdd": "jjdd", "rsj": "county-hrss"}
    foreign = LabelledData(texts=sample.texts, labels=[names[x] for x in sample.labels])
    base = write_csv(tmp_path / "base.csv", foreign)
    with session_scope(engine) as session, pytest.raises(BadInput) as refused:
        retrain(session, registry=registry, base_csv=base, data_dir=DATA_DIR, now=NOW)
    message = str(refused.value)
    assert "county-hrss（12 条）" in message and "--label-map" in message
    assert "区教育局" not in message.split("(")[0]  # a unit's name resolves
    assert refused.value.exit_code == 2 and registry.current() is None

    label_map = tmp_path / "map.csv"
    label_map.write_text("标签,单位\ncounty-hrss,人社局\n", encoding="utf-8")
    with session_scope(engine) as session:
        result = retrain(
            session,
            registry=registry,
            base_csv=base,
            data_dir=DATA_DIR,
            now=NOW,
            label_map=read_label_map(label_map),
        )
    assert result["units"] == ["jjdd", "jyj", "rsj", "swj"]
    manifest = registry.manifest(result["version"])
    assert manifest["units"] == ["jjdd", "jyj", "rsj", "swj"]
    missing = {row["unit"] for row in result["units_without_history"]}
    assert "gaj" in missing and "jyj" not in missing
    assert {row["note"] for row in result["units_without_history"]} == {"尚无已标注留言"}


def test_a_label_map_names_its_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("a,jyj\nb\n", encoding="utf-8")
    with pytest.raises(BadInput, match="第2行"):
        read_label_map(path)
    yaml_map = tmp_path / "map.yaml"
    yaml_map.write_text("老教育局: jyj\n城管: 城管局\n", encoding="utf-8")
    assert read_label_map(yaml_map) == {"老教育局": "jyj", "城管": "城管局"}


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
    assert "留出样本（从未参与训练）" in result.stdout
    # The default policy asks for 200 rows: 88 are not enough to replace the model.
    assert "未启用" in result.stdout and "少于策略要求的 200 条" in result.stdout
    result = CliRunner().invoke(
        app, ["retrain", "--base", str(base_csv), "--force", "--by", "luru1"]
    )
    assert result.exit_code == 2 and "管理员" in result.stderr
    result = CliRunner().invoke(
        app, ["retrain", "--base", str(base_csv), "--force", "--by", "admin"]
    )
    assert result.exit_code == 0, result.stderr
    assert "--force 强制，已记入台账" in result.stdout
