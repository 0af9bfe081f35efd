"""``duban train | classify | evaluate | model …`` through the CLI: output, --json, exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from duban.cli import app
from tests.classifier.conftest import small_sample

runner = CliRunner()


@pytest.fixture(autouse=True)
def _ledger(office: Engine) -> None:
    """Training resolves labels against the ledger's units: every test has one."""


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@pytest.fixture
def training_csv(tmp_path: Path) -> Path:
    sample = small_sample()
    rows = [["留言主题", "留言详情", "单位代码"]]
    rows += [["", text, label] for text, label in zip(sample.texts, sample.labels, strict=True)]
    rows += [["", "", "jyj"], ["无标签", "有正文", ""]]
    return write_csv(tmp_path / "train.csv", rows, "gb18030")


@pytest.fixture
def models(tmp_path: Path, training_csv: Path) -> Path:
    """A registry (the settings' default, under DUBAN_HOME) with one promoted version."""
    code, out, err = run(
        "train", "--input", str(training_csv), "--label-col", "单位代码", "--promote", "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert Path(summary["path"]).parent == Path(summary["path"]).parent
    return Path(summary["path"]).parent


def test_train_prints_its_summary(tmp_path: Path, training_csv: Path) -> None:
    out_dir = tmp_path / "elsewhere"
    code, out, err = run(
        "train",
        "--input",
        str(training_csv),
        "--label-col",
        "单位代码",
        "--out",
        str(out_dir),
        "--seed",
        "3",
        "--target-precision",
        "0.95",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert Path(summary["path"]) == out_dir / summary["version"]
    # A slice chosen by text hash is held out for evaluation, never trained on.
    assert summary["rows"] + summary["holdout_rows"] == 64 and summary["holdout_rows"] > 0
    assert set(summary["labels"]) == {"jjdd", "jyj", "rsj", "swj"}
    assert sum(summary["labels"].values()) == summary["rows"]
    assert summary["units"] == ["jjdd", "jyj", "rsj", "swj"]
    assert summary["skipped"]["count"] == 2 and summary["skipped"]["rows"] == [66, 67]
    # The first version of an empty registry is promoted: ``--model DIR`` works at once.
    assert summary["target_precision"] == 0.95 and summary["promoted"]
    assert 0 < summary["threshold"] <= 1 and summary["train_seconds"] >= 0
    for key in ("accuracy", "macro_f1", "top3_accuracy", "coverage_at_97"):
        assert 0 <= summary["metrics"][key] <= 1
    assert (
        json.loads((out_dir / summary["version"] / "manifest.json").read_text())["seeds"]["seed"]
        == 3
    )
    assert run("classify", "--model", str(out_dir), "东湖路路灯不亮", "--json")[0] == 0
    # A later one is not, without --promote.
    code, out, err = run(
        "train",
        "--input",
        str(training_csv),
        "--label-col",
        "单位代码",
        "--out",
        str(out_dir),
        "--seed",
        "4",
        "--json",
    )
    assert code == 0, err
    assert not json.loads(out)["promoted"]


def test_classify_prints_one_json_object_per_row_in_order(models: Path, tmp_path: Path) -> None:
    rows = [
        ["留言详情", "留言主题"],
        ["城东中学周末作业太多了，双减了好像没减", "作业"],
        ["", ""],
        ["沿河西路一带从早上停水到现在，\n什么时候来水, 急", "停水"],
    ]
    path = write_csv(tmp_path / "in.csv", rows, "utf-8-sig")
    code, out, err = run("classify", "--model", str(models), "--input", str(path), "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert list(line) == ["label", "confidence", "top", "abstain"]
        assert len(line["top"]) == 3 and line["top"][0][0] == line["label"]
    assert lines[0]["label"] == "jyj" and lines[2]["label"] == "swj"
    assert lines[1]["abstain"] is True


def test_classify_one_text_with_the_default_registry(models: Path) -> None:
    code, out, err = run("classify", "人民北路路口经常有车闯红灯，请交警管一管", "--json")
    assert code == 0, err
    assert json.loads(out)["label"] == "jjdd"
    code, out, _ = run("classify", "人民北路路口经常有车闯红灯")
    assert code == 0 and out.startswith("jjdd")


def test_bad_input_exits_2(models: Path, training_csv: Path, tmp_path: Path) -> None:
    code, _, err = run("train", "--input", str(training_csv), "--label-col", "一级标签")
    assert code == 2
    assert "一级标签" in err and "留言主题、留言详情、单位代码" in err
    code, _, err = run("classify", "--input", str(training_csv), "--text-col", "正文")
    assert code == 2 and "正文" in err
    assert run("classify", "--input", str(tmp_path / "none.csv"))[0] == 2
    assert run("classify")[0] == 2
    assert run("classify", "x", "--model", str(tmp_path / "nowhere"))[0] == 2
    assert run("model", "promote", "nope")[0] == 2


def test_an_unusable_model_folder_is_bad_input(training_csv: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("滨河区", encoding="utf-8")
    code, _, err = run(
        "train", "--input", str(training_csv), "--label-col", "单位代码", "--out", str(not_a_folder)
    )
    assert code == 2 and "notes.txt" in err and "Traceback" not in err
    code, _, err = run("classify", "一段文字", "--model", str(not_a_folder))
    assert code == 2 and "notes.txt" in err


def test_no_promoted_model_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run("classify", "一段文字", "--model", str(tmp_path / "empty"))
    assert code == 1 and "promote" in err


def test_a_tampered_model_is_a_failure(models: Path) -> None:
    current = json.loads((models / "CURRENT").read_text())["version"]
    with open(models / current / "model.joblib", "ab") as handle:
        handle.write(b"x")
    code, _, err = run("classify", "一段文字")
    assert code == 1 and "sha256" in err


def test_model_list_show_promote_rollback(models: Path, training_csv: Path) -> None:
    first = json.loads((models / "CURRENT").read_text())["version"]
    code, out, _ = run(
        "train", "--input", str(training_csv), "--label-col", "单位代码", "--seed", "1", "--json"
    )
    second = json.loads(out)["version"]
    listed = json.loads(run("model", "list", "--json")[1])
    assert [(row["version"], row["current"]) for row in listed] == [(first, True), (second, False)]
    assert json.loads(run("model", "promote", second, "--json")[1])["version"] == second
    shown = json.loads(run("model", "show", "--json")[1])
    assert shown["version"] == second and shown["current"] is True
    assert json.loads(run("model", "show", first, "--json")[1])["current"] is False
    assert json.loads(run("model", "rollback", "--json")[1])["version"] == first
    assert run("model", "rollback")[0] == 1
    code, out, _ = run("model", "list")
    assert code == 0 and f"* {first}" in out


def test_evaluate_prints_the_figures(models: Path, tmp_path: Path) -> None:
    held_out = small_sample(skip=16, per_unit=5)
    rows = [["留言详情", "单位代码"]]
    rows += [[t, lab] for t, lab in zip(held_out.texts, held_out.labels, strict=True)]
    path = write_csv(tmp_path / "held_out.csv", rows)
    code, out, err = run("evaluate", "--input", str(path), "--label-col", "单位代码", "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["rows"] == 20
    for key in (
        "accuracy",
        "macro_f1",
        "top3_accuracy",
        "coverage_at_95",
        "coverage_at_97",
        "coverage_at_99",
    ):
        assert 0 <= figures[key] <= 1
    assert set(figures["per_class"]) == {"jjdd", "jyj", "rsj", "swj"}
    assert figures["accuracy"] >= 0.7
