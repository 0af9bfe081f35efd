"""Versions on disk: determinism, verification before unpickling, promotion and rollback."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import joblib
import pytest

from classifier.errors import ModelRefused, NoPromotedModel, NotFound
from classifier.predict import Predictor, load_promoted
from classifier.registry import Registry, resolve_folder
from classifier.train import TrainedModel, train
from duban.settings import REPO_ROOT
from tests.classifier.conftest import small_sample


def model_sha(trained: TrainedModel) -> str:
    buffer = io.BytesIO()
    joblib.dump(trained.pipeline, buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def test_same_data_and_seed_give_the_same_model_file(sample, segmenter, trained) -> None:
    again = train(sample.texts, sample.labels, segmenter=segmenter, seed=0)
    assert model_sha(again) == model_sha(trained)


def test_same_model_file_in_another_process(trained) -> None:
    script = (
        "import hashlib, io, joblib\n"
        "from classifier.segment import Segmenter\n"
        "from classifier.train import train, user_dictionary\n"
        "from tests.classifier.conftest import DATA_DIR, small_sample\n"
        "s = small_sample()\n"
        "m = train(s.texts, s.labels, segmenter=Segmenter('rjieba', user_dictionary(DATA_DIR)))\n"
        "b = io.BytesIO(); joblib.dump(m.pipeline, b)\n"
        "print(hashlib.sha256(b.getvalue()).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == model_sha(trained)


def test_a_version_folder_holds_model_manifest_report_and_rows(saved: Path, trained) -> None:
    manifest = json.loads((saved / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == saved.name
    assert (
        manifest["model"]["sha256"]
        == hashlib.sha256((saved / "model.joblib").read_bytes()).hexdigest()
    )
    assert manifest["data"]["rows"] == len(trained.rows) == 64
    assert manifest["segmenter"]["engine"] == "rjieba"
    assert len(manifest["segmenter"]["dictionary_sha256"]) == 64
    for library in ("python", "scikit-learn", "numpy", "scipy", "rjieba"):
        assert manifest["libraries"][library]
    assert 0 < manifest["threshold"] <= 1
    assert set(manifest["metrics"]["cv"]) >= {
        "macro_f1",
        "accuracy",
        "top3_accuracy",
        "coverage_at_95",
        "coverage_at_97",
        "coverage_at_99",
    }
    report = json.loads((saved / "report.json").read_text(encoding="utf-8"))
    assert set(report["per_class"]) == {"jjdd", "jyj", "rsj", "swj"}
    assert report["confusion"]["labels"] == ["jjdd", "jyj", "rsj", "swj"]
    assert len((saved / "rows.tsv").read_text(encoding="utf-8").splitlines()) == 64
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".tmp-")]


class Exploit:
    """Unpickling this writes a file: proof that a tampered model was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_a_tampered_model_is_refused_before_unpickling(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    (saved / "model.joblib").write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(ModelRefused, match="sha256"):
        Predictor.load(saved)
    assert not marker.exists()


def _edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["libraries"].update({"scikit-learn": "0.24.2"}), "scikit-learn 0.24.2"),
        (lambda m: m["segmenter"].update({"version": "0.0.1"}), "rjieba 0.0.1"),
    ],
)
def test_other_library_versions_are_refused(saved: Path, edit, message: str) -> None:
    _edit_manifest(saved, edit)
    with pytest.raises(ModelRefused, match=message) as caught:
        Predictor.load(saved)
    assert "retrain" in str(caught.value)


def test_another_user_dictionary_is_refused(saved: Path) -> None:
    with pytest.raises(ModelRefused, match="dictionary"):
        Predictor.load(saved, dictionary_sha256="0" * 64)
    pinned = json.loads((saved / "manifest.json").read_text())["segmenter"]["dictionary_sha256"]
    assert Predictor.load(saved, dictionary_sha256=pinned).version == saved.name


def test_promote_and_roll_back(registry: Registry, trained) -> None:
    with pytest.raises(NoPromotedModel):
        load_promoted(registry.root)
    first = registry.save(trained).name
    second = registry.save(trained).name
    assert first != second and registry.versions() == [first, second]
    registry.promote(first)
    registry.promote(second)
    assert load_promoted(registry.root).version == second
    assert resolve_folder(registry.root).name == second
    state = registry.rollback()
    assert state["version"] == first == registry.current()
    assert [entry["action"] for entry in state["log"]] == ["promote", "promote", "rollback"]
    with pytest.raises(NoPromotedModel):
        registry.rollback()
    with pytest.raises(NotFound):
        registry.promote("20990101-000000-deadbeef")
    assert registry.current() == first


def test_promotions_replace_the_pointer_atomically(registry: Registry, trained) -> None:
    versions = [registry.save(trained).name for _ in range(3)]
    registry.promote(versions[0])
    pointer = registry.root / "CURRENT"
    seen: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(json.loads(pointer.read_text(encoding="utf-8"))["version"])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(30):
            for version in versions:
                registry.promote(version)
    finally:
        stop.set()
        thread.join()
    assert seen and set(seen) <= set(versions)  # every read was a whole, valid pointer
    assert registry.current() == versions[-1]
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".CURRENT-")]


def test_unknown_folders(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        Predictor.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoPromotedModel):
        Predictor.load(tmp_path / "empty")


def test_a_file_is_not_a_model_folder(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("留言详情\n滨河路井盖丢了\n", encoding="utf-8")
    with pytest.raises(NotFound, match="不是目录"):
        Predictor.load(tmp_path / "m.csv")


def test_json_that_is_not_an_object_is_refused(registry: Registry, saved: Path) -> None:
    (registry.root / "CURRENT").write_text("[]", encoding="utf-8")
    with pytest.raises(ModelRefused, match="CURRENT"):
        registry.current()
    (saved / "manifest.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ModelRefused, match=r"manifest\.json"):
        Predictor.load(saved)
    assert registry.versions() == [saved.name]  # listing still works


def test_rollback_of_a_missing_registry_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        Registry(tmp_path / "nowhere").rollback()
    assert not (tmp_path / "nowhere").exists()


def test_rows_tsv_lists_text_keys_and_labels(registry: Registry, saved: Path) -> None:
    rows = registry.training_rows(saved.name)
    labels = [label for _, label in rows]
    assert labels == small_sample().labels
    assert all(len(key) == 64 for key, _ in rows)
