"""The classifier's figures on real data, against a plain baseline measured in the same run.

    .venv/bin/python bench/classifier.py --data ../shared/data/teddy2020c [--repeats 1] [--json]

On ``labelled.csv`` (2,782 real messages, 7 labels; evaluation and benchmark only, never
copied into the repository):

1. Accuracy: 5-fold cross-validation, stratified and grouped by text hash (a duplicated
   text never sits on both sides). In each fold the *whole* training run is repeated on the
   training part (its own inner cross-validation for the stacker, the confidence model and
   the threshold) and the held-out part is predicted as ``duban classify`` would. Prints
   macro-F1, accuracy, top-3 accuracy, coverage at 95/97/99 % precision, what the model's
   own threshold gives on held-out rows, and per-class precision/recall/F1. ``--repeats``
   repeats it with other fold seeds (mean and spread).
2. The baseline on the same folds: jieba + ``TfidfVectorizer`` + ``LinearSVC`` (coverage from
   a sigmoid-calibrated copy, ``CalibratedClassifierCV``).
3. Throughput on all rows, best of three, in this process: the baseline's predict path
   (``jieba.lcut`` + ``transform`` + ``predict``) against ``Predictor.predict`` (normalise,
   rjieba, features, both models, stacker, confidence); the segmenters alone for context.
4. A training run on all rows in a child process (``PYTHONHASHSEED`` changed): train seconds,
   model file size, the child's peak RSS (train + save + load + predict all rows), and the
   model file's sha256 against one trained here: the determinism check.

Memory and time against rows (``--scale-rows 1000,3000,10000,30000``, nothing else is run):
for each size, a fresh child process trains on that many rows drawn from ``labelled.csv``
(a stratified sample below its size; above it, the real rows plus recombined ones: each
keeps a real message's title and sentence count, about half its sentences swapped for
sentences of other messages with the same label, as ``bench/synth.py`` recombines the
sample) and reports its peak RSS (VmHWM), the RSS before training (data and imports) and
its CPU seconds (all threads). Printed with the ratios per row against the smallest size:
flat or falling means memory and time at most linear in rows.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import joblib  # noqa: E402
import numpy as np  # noqa: E402

from classifier.dataset import read_labelled  # noqa: E402
from classifier.ensemble import cv_folds  # noqa: E402
from classifier.metrics import PRECISIONS, per_class, summary  # noqa: E402
from classifier.normalise import normalise_texts  # noqa: E402
from classifier.predict import Predictor  # noqa: E402
from classifier.registry import Registry  # noqa: E402
from classifier.segment import Segmenter  # noqa: E402
from classifier.train import PIPELINE_DESCRIPTION, train, user_dictionary  # noqa: E402

LABEL_COL = "一级标签"
DATA_DIR = REPO / "data"


def load(data: Path):
    return read_labelled(data / "labelled.csv", label_col=LABEL_COL)


def group_keys(texts: list[str]) -> np.ndarray:
    return np.array([hashlib.sha256(t.encode("utf-8")).hexdigest() for t in normalise_texts(texts)])


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ``ru_maxrss``, not inherited
    from the parent across fork + exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_bytes(pipeline) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


# -- 1. the pipeline, cross-validated ---------------------------------------------------------


def cross_validate_ours(texts, labels, folds, segmenter) -> dict[str, Any]:
    classes = sorted(set(labels))
    proba = np.zeros((len(texts), len(classes)))
    confidence = np.zeros(len(texts))
    dispatched = np.zeros(len(texts), dtype=bool)
    thresholds, seconds = [], []
    for train_rows, test_rows in folds:
        started = time.perf_counter()
        trained = train(
            [texts[i] for i in train_rows],
            [labels[i] for i in train_rows],
            segmenter=segmenter,
            seed=0,
        )
        seconds.append(time.perf_counter() - started)
        predictor = Predictor(trained.pipeline, {"version": "bench", **trained.manifest})
        part, sure, _ = predictor.probabilities([texts[i] for i in test_rows])
        order = [predictor.labels.index(c) for c in classes]
        proba[test_rows] = part[:, order]
        confidence[test_rows] = sure
        dispatched[test_rows] = sure >= predictor.threshold
        thresholds.append(predictor.threshold)
    result = summary(classes, labels, proba, confidence)
    truth = np.array([classes.index(label) for label in labels])
    correct = proba.argmax(axis=1) == truth
    result["at_own_threshold"] = {
        "coverage": float(dispatched.mean()),
        "precision": float(correct[dispatched].mean()) if dispatched.any() else None,
        "thresholds": [round(t, 4) for t in thresholds],
    }
    result["per_class"] = per_class(classes, labels, [classes[i] for i in proba.argmax(axis=1)])
    result["fold_train_seconds"] = [round(s, 1) for s in seconds]
    return result


# -- 2. the plain baseline --------------------------------------------------------------------


def jieba_join(texts: list[str]) -> list[str]:
    import jieba

    return [" ".join(jieba.lcut(text)) for text in texts]


def plain_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(TfidfVectorizer(), LinearSVC())


def cross_validate_plain(joined, labels, folds) -> dict[str, Any]:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    classes = sorted(set(labels))
    y = np.array(labels)
    proba = np.zeros((len(joined), len(classes)))
    predicted = np.empty(len(joined), dtype=object)
    for train_rows, test_rows in folds:
        vectoriser = TfidfVectorizer().fit([joined[i] for i in train_rows])
        X_train = vectoriser.transform([joined[i] for i in train_rows])
        X_test = vectoriser.transform([joined[i] for i in test_rows])
        predicted[test_rows] = LinearSVC().fit(X_train, y[train_rows]).predict(X_test)
        calibrated = CalibratedClassifierCV(LinearSVC(), cv=5, method="sigmoid")
        proba[test_rows] = calibrated.fit(X_train, y[train_rows]).predict_proba(X_test)
    result = summary(classes, labels, proba)  # coverage and top-3 from the calibrated copy
    from sklearn.metrics import accuracy_score, f1_score

    result["accuracy"] = float(accuracy_score(y, predicted))
    result["macro_f1"] = float(f1_score(y, predicted.astype(str), average="macro"))
    return result


# -- 3. throughput ----------------------------------------------------------------------------


def best_of(runs: int, work) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def throughput(texts, labels, predictor: Predictor, runs: int = 3) -> dict[str, Any]:
    import jieba
    import rjieba

    jieba.lcut("预热")  # load jieba's dictionary before timing
    baseline = plain_pipeline().fit(jieba_join(texts), labels)
    predictor.predict(texts[:10])  # build the segmenter before timing
    cutter = rjieba.Jieba()
    n = len(texts)
    plain = best_of(runs, lambda: baseline.predict(jieba_join(texts)))
    ours = best_of(runs, lambda: predictor.predict(texts))
    jieba_only = best_of(1, lambda: [jieba.lcut(t) for t in texts])
    rjieba_only = best_of(runs, lambda: [cutter.cut(t) for t in texts])
    normalise_only = best_of(runs, lambda: normalise_texts(texts))
    return {
        "rows": n,
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "plain_rows_per_s": n / plain,
        "ours_rows_per_s": n / ours,
        "ratio": plain / ours,
        "jieba_only_rows_per_s": n / jieba_only,
        "rjieba_only_rows_per_s": n / rjieba_only,
        "normalise_only_rows_per_s": n / normalise_only,
    }


# -- 4. a full training run in a child process -------------------------------------------------


def child(data: Path) -> None:
    """Train on all rows, save, load, predict all rows; print figures as JSON."""
    labelled = load(data)
    segmenter = Segmenter("rjieba", user_dictionary(DATA_DIR))
    started = time.perf_counter()
    trained = train(labelled.texts, labelled.labels, segmenter=segmenter, seed=0)
    train_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        registry = Registry(Path(folder))
        version = registry.save(trained)
        size = (version / "model.joblib").stat().st_size
        digest = registry.manifest(version.name)["model"]["sha256"]
        predictor = Predictor.load(version)
        predictor.predict(labelled.texts)
    print(
        json.dumps(
            {
                "train_seconds": train_seconds,
                "model_bytes": size,
                "sha256": digest,
                "peak_rss_mb": peak_rss_mb(),
                "threshold": trained.manifest["threshold"],
                "cv_in_training": trained.manifest["metrics"]["cv"],
            }
        )
    )


def predict_child(data: Path, folder: Path) -> None:
    """Load a saved version and predict all rows; print the peak RSS as JSON."""
    labelled = load(data)
    Predictor.load(folder).predict(labelled.texts)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))


def run_child(data: Path, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, __file__, "--data", str(data), *extra],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- 5. memory and time against rows ----------------------------------------------------------


def recombined(texts: list[str], labels: list[str], rows: int, seed: int = 0):
    """``rows`` labelled texts from these: a stratified sample when fewer, else all of them
    plus recombined messages of each label in the same proportions (see the docstring)."""
    from bench.synth import SENTENCE

    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    if rows <= len(texts):
        picked: list[int] = []
        for members in by_label.values():
            picked += rng.sample(members, max(2, round(len(members) * rows / len(texts))))
        picked.sort()
        return [texts[i] for i in picked], [labels[i] for i in picked]
    sentences = {
        label: [s for i in members for s in SENTENCE.findall(texts[i]) if len(s.strip()) > 6]
        for label, members in by_label.items()
    }
    out_texts, out_labels = list(texts), list(labels)
    while len(out_texts) < rows:
        base = rng.randrange(len(texts))
        label = labels[base]
        title, _, body = texts[base].partition("\n")
        parts = SENTENCE.findall(body) or [body]
        parts = [rng.choice(sentences[label]) if rng.random() < 0.5 else p for p in parts]
        out_texts.append(f"{title}\n{''.join(parts)}")
        out_labels.append(label)
    return out_texts, out_labels


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scale_child(data: Path, rows: int) -> None:
    """Train on ``rows`` rows (see ``recombined``); print peak RSS and CPU seconds as JSON."""
    labelled = load(data)
    texts, labels = recombined(labelled.texts, labelled.labels, rows)
    segmenter = Segmenter("rjieba", user_dictionary(DATA_DIR))
    before_rss, before_cpu = peak_rss_mb(), cpu_seconds()
    started = time.perf_counter()
    trained = train(texts, labels, segmenter=segmenter, seed=0)
    print(
        json.dumps(
            {
                "rows": len(texts),
                "peak_rss_mb": peak_rss_mb(),
                "rss_before_mb": before_rss,
                "cpu_seconds": cpu_seconds() - before_cpu,
                "wall_seconds": time.perf_counter() - started,
                "macro_f1_in_training": trained.manifest["metrics"]["cv"]["macro_f1"],
                "trained_rows": trained.manifest["data"]["rows"],
            }
        )
    )


def scale(data: Path, sizes: list[int], as_json: bool) -> None:
    runs = [run_child(data, "--scale-child", str(rows)) for rows in sizes]
    floor = runs[0]
    for run in runs:
        run["rss_per_row_ratio"] = (run["peak_rss_mb"] / run["rows"]) / (
            floor["peak_rss_mb"] / floor["rows"]
        )
        run["cpu_per_row_ratio"] = (run["cpu_seconds"] / run["rows"]) / (
            floor["cpu_seconds"] / floor["rows"]
        )
    if as_json:
        print(json.dumps(runs, ensure_ascii=False, indent=2))
        return
    print("training memory and time against rows (each size in a fresh process)")
    print(
        f"{'rows':>8}{'trained on':>11}{'peak RSS MB':>13}{'before MB':>11}{'CPU s':>9}"
        f"{'wall s':>9}{'MB/row ×':>10}{'CPU/row ×':>11}{'CV F1':>8}"
    )
    for run in runs:
        print(
            f"{run['rows']:>8}{run['trained_rows']:>11}{run['peak_rss_mb']:>13.0f}"
            f"{run['rss_before_mb']:>11.0f}{run['cpu_seconds']:>9.1f}{run['wall_seconds']:>9.1f}"
            f"{run['rss_per_row_ratio']:>10.2f}{run['cpu_per_row_ratio']:>11.2f}"
            f"{run['macro_f1_in_training']:>8.4f}"
        )
    print(f"(ratios: per row, against {floor['rows']} rows; at most 1.00 = at most linear)")


# -- report -----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def spread(runs: list[dict[str, Any]], key: str) -> str:
    values = [run[key] for run in runs]
    if len(values) == 1:
        return fmt(values[0])
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with labelled.csv")
    parser.add_argument("--repeats", type=int, default=1, help="cross-validation seeds (0..n-1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--predict-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--scale-rows",
        help="only the memory/time figure: training sizes, e.g. 1000,3000,10000,30000",
    )
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.data)
        return
    if args.scale_child:
        scale_child(args.data, args.scale_child)
        return
    if args.scale_rows:
        scale(args.data, [int(part) for part in args.scale_rows.split(",")], args.json)
        return
    if args.predict_child:
        predict_child(args.data, args.predict_child)
        return

    labelled = load(args.data)
    texts, labels = labelled.texts, labelled.labels
    segmenter = Segmenter("rjieba", user_dictionary(DATA_DIR))
    y = np.unique(labels, return_inverse=True)[1]
    groups = group_keys(texts)
    joined = jieba_join(texts)
    ours_runs, plain_runs = [], []
    for seed in range(args.repeats):
        folds = cv_folds(y, groups, 5, seed)
        ours_runs.append(cross_validate_ours(texts, labels, folds, segmenter))
        plain_runs.append(cross_validate_plain(joined, labels, folds))

    trained = train(texts, labels, segmenter=segmenter, seed=0)
    here_sha = hashlib.sha256(model_bytes(trained.pipeline)).hexdigest()
    predictor = Predictor(trained.pipeline, {"version": "bench", **trained.manifest})
    speed = throughput(texts, labels, predictor)
    full = run_child(args.data, "--child")
    with tempfile.TemporaryDirectory() as folder:
        saved = Registry(Path(folder)).save(trained)
        full["predict_peak_rss_mb"] = run_child(args.data, "--predict-child", str(saved))[
            "peak_rss_mb"
        ]
    figures = {
        "data": {"rows": len(texts), "labels": len(set(labels)), "skipped": len(labelled.skipped)},
        "pipeline": PIPELINE_DESCRIPTION.format(engine="rjieba"),
        "cv": ours_runs,
        "baseline_cv": plain_runs,
        "throughput": speed,
        "full_training": full,
        "deterministic": full["sha256"] == here_sha,
        "bench_peak_rss_mb": peak_rss_mb(),
    }
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    report(figures, args.repeats)


def report(f: dict[str, Any], repeats: int) -> None:
    ours, plain = f["cv"], f["baseline_cv"]
    print(
        f"classifier bench: {f['data']['rows']} rows, {f['data']['labels']} labels, "
        f"5-fold CV grouped by text hash x {repeats} seed(s)"
    )
    print(f"pipeline: {f['pipeline']}\n")
    print(f"{'':28}{'ours':>18}{'plain baseline':>18}")
    rows = [("macro-F1", "macro_f1"), ("accuracy", "accuracy"), ("top-3 accuracy", "top3_accuracy")]
    rows += [
        (f"coverage @ {round(p * 100)} % precision", f"coverage_at_{round(p * 100)}")
        for p in PRECISIONS
    ]
    for name, key in rows:
        print(f"{name:28}{spread(ours, key):>18}{spread(plain, key):>18}")
    own = ours[0]["at_own_threshold"]
    print(
        f"\nheld-out folds at each fold model's own threshold (target 97 %): coverage "
        f"{own['coverage']:.4f}, precision {fmt(own['precision'])} "
        f"(thresholds {own['thresholds']})"
    )
    print("\nper class (seed 0):          precision  recall      F1  support")
    for label, row in ours[0]["per_class"].items():
        print(
            f"  {label:14}{row['precision']:>19.3f}{row['recall']:>8.3f}{row['f1']:>8.3f}"
            f"{row['support']:>9}"
        )
    s = f["throughput"]
    print(f"\nthroughput on {s['rows']} rows (mean {s['mean_chars']} chars), best of 3:")
    print(f"  plain jieba + TfidfVectorizer + LinearSVC  {s['plain_rows_per_s']:>9.0f} rows/s")
    print(f"  ours (Predictor.predict, all steps)        {s['ours_rows_per_s']:>9.0f} rows/s")
    print(f"  ratio                                      {s['ratio']:>9.1f} x")
    print(
        f"  (segmenters alone: jieba {s['jieba_only_rows_per_s']:.0f}, rjieba "
        f"{s['rjieba_only_rows_per_s']:.0f} rows/s; normalise alone "
        f"{s['normalise_only_rows_per_s']:.0f} rows/s)"
    )
    full = f["full_training"]
    print(
        f"\ntraining on all {f['data']['rows']} rows: {full['train_seconds']:.1f} s; "
        f"model file {full['model_bytes'] / 1e6:.1f} MB; peak RSS of a process that "
        f"trains, saves, loads and predicts all rows: {full['peak_rss_mb']:.0f} MB "
        f"(of a process that only loads and predicts: {full['predict_peak_rss_mb']:.0f} MB;"
        f" this bench process, baseline and jieba included: "
        f"{f['bench_peak_rss_mb']:.0f} MB)"
    )
    print(
        f"deterministic (same data + seed -> same model sha256, across processes with "
        f"different PYTHONHASHSEED): {'yes' if f['deterministic'] else 'NO'} "
        f"({full['sha256'][:16]}…)"
    )
    inner = full["cv_in_training"]
    print(
        f"the full model's own training CV: macro-F1 {inner['macro_f1']:.4f}, coverage @ 97 % "
        f"{inner['coverage_at_97']:.4f}, threshold {full['threshold']:.4f}"
    )


if __name__ == "__main__":
    main()
