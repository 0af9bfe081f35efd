"""Training: cross-validate the pipeline, choose the abstain threshold, fit the final model.

``train_from_csv`` is the whole run (read, train, save a version, maybe promote);
``train`` is the part that learns:

1. Normalise and segment every text once (those steps learn nothing).
2. Split into stratified folds grouped by text hash, so a duplicated text never sits on
   both sides of a split. For each fold, fit the vectoriser and both linear models on the
   training part and score the held-out part: out-of-fold scores for every row.
3. Turn the scores into probabilities and confidences with a stacker and a confidence
   model fitted on the *other* folds' scores (cross-fitted), which gives honest
   cross-validated figures, and choose the abstain threshold: the lowest confidence at
   which the most confident messages still reach the target precision.
4. Fit the vectoriser and models on all rows (alongside the folds, on threads), and the
   stacker and confidence model on all out-of-fold scores.

Bounded. Above ``MAX_TRAINING_ROWS`` rows the model learns from a stratified subsample of
that many (see ``subsample``: every label keeps all its rows up to an equal share, the
largest labels are cut down to it; rows chosen by the hash of their text and the seed),
so memory and time stop growing with the ledger (an office sets its own cap: the policy's
``routing.max_training_rows``, passed in as ``max_rows``). Documents are vectorised in
chunks and keep their tokens as lengths, and the folds run on at most ``MEMORY_THREADS``
threads once the rows pass ``THREADED_ROWS_LIMIT`` (each thread holds a fold's matrices
and liblinear's copy of them).

Same data and seed give the same model, byte for byte.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from classifier.dataset import (
    DEFAULT_TEXT_COL,
    DEFAULT_TITLE_COL,
    LabelledData,
    read_labelled,
    rows_digest,
)
from classifier.ensemble import cross_fitted, cv_folds
from classifier.errors import BadInput
from classifier.metrics import at_threshold, confusion, coverage_at, per_class, summary
from classifier.pipeline import DEFAULT_PARAMS, build_pipeline
from classifier.registry import Registry, TrainedModel
from classifier.segment import DEFAULT_ENGINE, Segmenter, build_user_dictionary, engine_version

logger = logging.getLogger(__name__)

FORMAT = 1
DEFAULT_TARGET_PRECISION = 0.97
DEFAULT_FOLDS = 5
MIN_PER_LABEL = 2
# The most rows one training run learns from; above it, a stratified subsample (subsample).
MAX_TRAINING_ROWS = 20_000
# Above this many rows the folds run on MEMORY_THREADS thread(s): memory over wall time.
THREADED_ROWS_LIMIT = 10_000
MEMORY_THREADS = 1
PIPELINE_DESCRIPTION = (
    "normalise (OpenCC t2s, full-width, HTML, _x000D_, zero-width, whitespace) -> "
    "segment ({engine} + user dictionary, digits folded to 0) -> TF-IDF (sublinear, "
    "smoothed idf, min_df 2) over words, character 1-2-grams and the first 50 characters "
    "(words + character 1-2-grams), each block L2-normalised -> LinearSVC (C=1) + NB-SVM "
    "(binary LinearSVC per label on NB log-count-ratio scaled features, C=0.3) -> "
    "multinomial logistic regression stacked on out-of-fold scores (calibrated "
    "probabilities, top-k) + a logistic confidence model (P(top label right) from both "
    "models' margins and votes) -> abstain below the threshold chosen on cross-validation"
)


def library_versions(engine: str) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("scikit-learn", "numpy", "scipy", "joblib", "opencc"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    versions[engine] = engine_version(engine)
    return versions


def git_commit(where: Path | None = None) -> str | None:
    """The checkout's commit, or ``None`` outside a git checkout."""
    folder = where or Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def _group_keys(normalised: Sequence[str]) -> np.ndarray:
    """Fold groups: rows with the same normalised text share a group (and a fold)."""
    return np.array([hashlib.sha256(text.encode("utf-8")).hexdigest() for text in normalised])


def _common_labels(labels: Sequence[str]) -> tuple[list[int], dict[str, int]]:
    """The rows whose label has at least ``MIN_PER_LABEL`` rows (cross-validation needs
    them), and the labels left out with their counts."""
    counts = Counter(labels)
    rare = {label: n for label, n in sorted(counts.items()) if n < MIN_PER_LABEL}
    return [i for i, label in enumerate(labels) if label not in rare], rare


def in_threads(jobs: list[Callable[[], Any]], n_jobs: int | None) -> list[Any]:
    """Run independent jobs on up to ``n_jobs`` threads (liblinear and numpy release the
    GIL); results in job order, so the outcome does not depend on the scheduling."""
    workers = max(1, min(len(jobs), n_jobs or os.cpu_count() or 1))
    if workers == 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result() for future in futures]


def _fold_job(vectoriser, model, docs, train_rows, train_labels, test_rows, n_labels):
    """Fit a fresh vectoriser and the base models on one fold; score its held-out rows
    (vectorised only once the training part's matrix is gone)."""

    def job() -> np.ndarray:
        train_docs = [docs[i] for i in train_rows]
        fold_vectoriser = clone(vectoriser).fit(train_docs)
        weights, intercept = clone(model).base_weights(
            fold_vectoriser.transform(train_docs), train_labels, n_labels
        )
        del train_docs
        return np.asarray(fold_vectoriser.transform([docs[i] for i in test_rows]) @ weights) + (
            intercept
        )

    return job


def _quotas(counts: dict[str, int], cap: int) -> dict[str, int]:
    """How many rows each label keeps under ``cap`` in all: labels smaller than an equal
    share keep every row, the rest share what is left equally (the first labels, in
    sorted order, take the remainder one row each)."""
    quotas: dict[str, int] = {}
    left, open_labels = cap, sorted(counts, key=lambda label: (counts[label], label))
    while open_labels and counts[open_labels[0]] <= left // len(open_labels):
        label = open_labels.pop(0)
        quotas[label] = counts[label]
        left -= counts[label]
    share, extra = divmod(left, len(open_labels)) if open_labels else (0, 0)
    for i, label in enumerate(sorted(open_labels)):
        quotas[label] = share + (1 if i < extra else 0)
    return quotas


def subsample(
    keys: Sequence[str] | np.ndarray, labels: Sequence[str], cap: int, seed: int
) -> tuple[list[int], dict[str, Any] | None]:
    """The rows to learn from (in their order) and what was left out, or all rows and
    ``None`` when there are at most ``cap``.

    Stratified: each label keeps ``_quotas`` rows, so a small unit's rows are all kept and
    only the largest labels are cut. Within a label, rows are taken in the order of
    sha256(seed, text key): deterministic, independent of row order, and a repeated text
    is kept or left out together with its copies.
    """
    if len(labels) <= cap:
        return list(range(len(labels))), None
    counts = Counter(labels)
    if cap < MIN_PER_LABEL * len(counts):
        raise BadInput(
            f"训练行数上限 {cap} 过小：{len(counts)} 个类别每类至少需要 {MIN_PER_LABEL} 条"
        )
    quotas = _quotas(counts, cap)
    order = sorted(
        range(len(labels)),
        key=lambda i: (hashlib.sha256(f"{seed}:{keys[i]}".encode()).hexdigest(), i),
    )
    taken: Counter[str] = Counter()
    kept = []
    for i in order:
        if taken[labels[i]] < quotas[labels[i]]:
            taken[labels[i]] += 1
            kept.append(i)
    left_out = {label: counts[label] - quotas[label] for label in sorted(counts)}
    return sorted(kept), {
        "cap": cap,
        "offered_rows": len(labels),
        "left_out": {label: n for label, n in left_out.items() if n},
    }


def _threads(n_jobs: int | None, rows: int) -> int | None:
    """Threads for the folds: up to one per CPU, but ``MEMORY_THREADS`` above
    ``THREADED_ROWS_LIMIT`` rows, where each thread's fold matrices weigh most."""
    if rows > THREADED_ROWS_LIMIT:
        return min(n_jobs or MEMORY_THREADS, MEMORY_THREADS)
    return n_jobs


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest confidence that still gives ``target`` precision on cross-validation;
    1.0 (always abstain, except at certainty) when no threshold reaches it."""
    found = coverage_at(confidence, correct, target)
    return 1.0 if found["threshold"] is None else float(found["threshold"])


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    segmenter: Segmenter,
    seed: int = 0,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    folds: int = DEFAULT_FOLDS,
    params: dict[str, Any] | None = None,
    data_info: dict[str, Any] | None = None,
    n_jobs: int | None = None,
    max_rows: int = MAX_TRAINING_ROWS,
) -> TrainedModel:
    """Cross-validate, choose the threshold and fit the final pipeline on all rows (on a
    stratified subsample of ``max_rows`` when there are more, see ``subsample``).

    ``n_jobs`` threads (default: one per CPU, one above ``THREADED_ROWS_LIMIT`` rows)
    share the folds and the final fit; the model does not depend on it."""
    if not 0.5 <= target_precision < 1.0:
        raise BadInput(f"目标精确率须在 0.5 到 1 之间 (target precision {target_precision})")
    started = time.perf_counter()
    kept, rare = _common_labels(labels)
    texts, labels = [texts[i] for i in kept], [labels[i] for i in kept]
    if len(set(labels)) < 2:
        counts = Counter(labels) + Counter(rare)
        found = "、".join(f"{label} {n} 条" for label, n in sorted(counts.items())) or "(无)"
        raise BadInput(
            f"训练至少需要 2 个类别、每类至少 2 条；现有：{found}"
            " (need 2+ labels with 2+ rows each)"
        )
    pipeline = build_pipeline(segmenter, seed=seed, params=params)
    normalised = pipeline[:1].transform(texts)
    keys = _group_keys(normalised)
    chosen, subsampled = subsample(keys, labels, max_rows, seed)
    if subsampled is not None:
        texts, labels = [texts[i] for i in chosen], [labels[i] for i in chosen]
        normalised, keys = [normalised[i] for i in chosen], keys[chosen]
        logger.info("training on %d of %d rows (cap %d)", len(chosen), len(keys), max_rows)
    docs = pipeline.named_steps["segment"].transform(normalised)
    del normalised
    y = np.asarray(labels)
    classes, encoded = np.unique(y, return_inverse=True)
    splits = cv_folds(encoded, keys, folds, seed)
    vectoriser, model = pipeline.named_steps["vectorise"], pipeline.named_steps["model"]

    def final() -> None:  # the model on all rows, fitted alongside the folds
        model.fit_base(vectoriser.fit(docs).transform(docs), y)

    jobs = [final] + [
        _fold_job(vectoriser, model, docs, train_rows, encoded[train_rows], test_rows, len(classes))
        for train_rows, test_rows in splits
    ]
    scores = np.zeros((len(docs), 2 * len(classes)))
    results = in_threads(jobs, _threads(n_jobs, len(docs)))
    for (_, test_rows), part in zip(splits, results[1:], strict=True):
        scores[test_rows] = part
    del results
    oof, confidence = model.fit_stack_cross_fitted(scores, y, splits)
    correct = oof.argmax(axis=1) == encoded
    threshold = choose_threshold(confidence, correct, target_precision)
    seconds = time.perf_counter() - started

    predicted = [str(classes[i]) for i in oof.argmax(axis=1)]
    cv = summary(classes, labels, oof, confidence)
    cv["folds"] = len(splits)
    cv["at_threshold"] = at_threshold(confidence, correct, threshold)
    digest, rows = rows_digest(texts, labels)
    engine = segmenter.engine
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "pipeline": PIPELINE_DESCRIPTION.format(engine=engine),
        "labels": [str(label) for label in classes],
        "data": {
            "sha256": digest,
            "rows": len(texts),
            "label_counts": dict(sorted(Counter(labels).items())),
            "dropped_labels": rare,
            **({"subsampled": subsampled} if subsampled else {}),
            **(data_info or {}),
        },
        "params": {**DEFAULT_PARAMS, **(params or {}), "folds": len(splits)},
        "seeds": {"seed": seed, "cv": seed, "liblinear": seed},
        "segmenter": {
            "engine": engine,
            "version": engine_version(engine),
            "dictionary_sha256": segmenter.dictionary_sha256,
            "dictionary_words": len(segmenter.words),
        },
        "libraries": library_versions(engine),
        "git_commit": git_commit(),
        "threshold": threshold,
        "target_precision": target_precision,
        "metrics": {"cv": cv},
        "train_seconds": round(seconds, 2),
    }
    report = {
        "cv": cv,
        "per_class": per_class(classes, labels, predicted),
        "confusion": confusion(classes, labels, predicted),
    }
    logger.info(
        "trained on %d rows, %d labels: cv macro-F1 %.4f, threshold %.4f, %.1f s",
        len(texts),
        len(classes),
        cv["macro_f1"],
        threshold,
        seconds,
    )
    return TrainedModel(pipeline=pipeline, manifest=manifest, report=report, rows=rows)


_ABSENT = -10.0  # the score of a label a fold's model never saw (below any real score)


def cross_validated_summary(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    segmenter: Segmenter,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    folds: int = DEFAULT_FOLDS,
    trained_on: dict[str, str] | None = None,
    scored: Sequence[bool] | None = None,
    max_rows: int = MAX_TRAINING_ROWS,
) -> dict[str, Any]:
    """Cross-validated figures of one recipe (segmenter + params) on these rows, with the
    folds ``train`` uses for the same rows and seed, so two recipes compare fairly (and,
    above ``max_rows``, on the subsample ``train`` would learn from).

    ``trained_on`` (text_key -> label) restricts each fold's training part to those texts,
    with those labels: how an older version's data would do on today's folds. ``scored``
    (one flag per row) limits the figures to those rows; every row is still predicted.
    """
    kept, _ = _common_labels(labels)
    texts, labels = [texts[i] for i in kept], [labels[i] for i in kept]
    mask = (
        np.ones(len(kept), dtype=bool)
        if scored is None
        else np.array([bool(scored[i]) for i in kept], dtype=bool)
    )
    pipeline = build_pipeline(segmenter, seed=seed, params=params)
    normalised = pipeline[:1].transform(texts)
    keys = _group_keys(normalised)
    chosen, subsampled = subsample(keys, labels, max_rows, seed)
    if subsampled is not None:
        texts, labels = [texts[i] for i in chosen], [labels[i] for i in chosen]
        normalised, keys, mask = [normalised[i] for i in chosen], keys[chosen], mask[chosen]
    docs = pipeline.named_steps["segment"].transform(normalised)
    classes, encoded = np.unique(np.asarray(labels), return_inverse=True)
    splits = cv_folds(encoded, keys, folds, seed)
    names = [str(label) for label in classes]
    if trained_on is None:
        usable = np.ones(len(texts), dtype=bool)
        train_labels = list(names[i] for i in encoded)
    else:
        usable = np.array([key in trained_on for key in keys])
        train_labels = [trained_on.get(key, "") for key in keys]
        names += sorted({label for label in trained_on.values() if label not in names})
    index = {name: i for i, name in enumerate(names)}
    train_index = np.array([index.get(label, -1) for label in train_labels])
    width = len(names)
    scores = np.full((len(texts), 2 * width), _ABSENT)
    vectoriser, model = pipeline.named_steps["vectorise"], pipeline.named_steps["model"]
    jobs, placed = [], []
    for train_rows, test in splits:
        train_rows = train_rows[usable[train_rows]]
        seen = np.unique(train_index[train_rows])
        if len(seen) < 2:
            continue
        local = np.searchsorted(seen, train_index[train_rows])
        jobs.append(_fold_job(vectoriser, model, docs, train_rows, local, test, len(seen)))
        placed.append((test, np.concatenate([seen, seen + width])))
    for (test, columns), part in zip(
        placed, in_threads(jobs, _threads(None, len(texts))), strict=True
    ):
        scores[np.ix_(test, columns)] = part
    proba, confidence = cross_fitted(scores, encoded, splits, model.stack_c)
    result = summary(
        classes, [labels[i] for i in np.flatnonzero(mask)], proba[mask], confidence[mask]
    )
    result["folds"] = len(splits)
    result["training_rows_used"] = int(usable.sum())
    if subsampled is not None:
        result["subsampled"] = subsampled
    return result


def learning_curve(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    segmenter: Segmenter,
    fractions: Sequence[float] = (0.25, 0.5, 1.0),
    seed: int = 0,
    max_rows: int = MAX_TRAINING_ROWS,
) -> list[dict[str, Any]]:
    """Cross-validated macro-F1 and accuracy on growing shares of the rows (the same share
    of every label, rows taken in text-hash order so a share is stable between runs): how
    much more data would still help. A share too small to cross-validate says so."""
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    keys = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in texts]
    points = []
    for fraction in fractions:
        rows = sorted(
            index
            for members in by_label.values()
            for index in sorted(members, key=lambda i: keys[i])[
                : max(1, round(len(members) * fraction))
            ]
        )
        point: dict[str, Any] = {"fraction": fraction, "rows": len(rows)}
        kept, _ = _common_labels([labels[i] for i in rows])
        if len({labels[rows[i]] for i in kept}) < 2 or len(kept) < 2 * DEFAULT_FOLDS:
            point.update(macro_f1=None, accuracy=None)
        else:
            cv = cross_validated_summary(
                [texts[i] for i in rows],
                [labels[i] for i in rows],
                segmenter=segmenter,
                seed=seed,
                max_rows=max_rows,
            )
            point.update(macro_f1=cv["macro_f1"], accuracy=cv["accuracy"])
        points.append(point)
    return points


def user_dictionary(data_dir: Path | None) -> list[str]:
    """The user dictionary from a data folder (``units.yaml``, ``terms.txt``; either may be
    missing); no folder, no dictionary."""
    if data_dir is None:
        return []
    units = Path(data_dir) / "units.yaml"
    return build_user_dictionary(units if units.exists() else None, Path(data_dir) / "terms.txt")


def train_version(
    data: LabelledData,
    registry: Registry,
    *,
    data_dir: Path | None = None,
    engine: str = DEFAULT_ENGINE,
    seed: int = 0,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    promote: bool = False,
    params: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    manifest_extra: dict[str, Any] | None = None,
    promote_first: bool = True,
    max_rows: int = MAX_TRAINING_ROWS,
) -> dict[str, Any]:
    """Train on ``data``, save a new version in ``registry`` and (optionally) promote it.

    The first version of an empty registry is promoted (unless ``promote_first`` is false):
    there is nothing it could replace, and a registry folder then works as ``--model`` at
    once. ``manifest_extra`` is written into the manifest as given (e.g. the units the
    model routes to). ``max_rows``: the most rows learnt from (the office's
    ``routing.max_training_rows``; see ``subsample``). Returns the summary ``duban train
    --json`` prints.
    """
    if not len(data):
        raise BadInput("没有可用于训练的数据行 (no usable rows)")
    registry.create()  # fail before training, not after
    segmenter = Segmenter(engine, user_dictionary(data_dir))
    trained = train(
        data.texts,
        data.labels,
        segmenter=segmenter,
        seed=seed,
        target_precision=target_precision,
        params=params,
        data_info={"sources": data.sources, "skipped": data.skipped_summary(), **(extra or {})},
        max_rows=max_rows,
    )
    trained.manifest.update(manifest_extra or {})
    first = promote_first and registry.current() is None
    folder = registry.save(trained)
    version = folder.name
    if promote or first:
        registry.promote(version)
    return summarise(registry.manifest(version), folder, promoted=promote or first)


def summarise(manifest: dict[str, Any], folder: Path, *, promoted: bool) -> dict[str, Any]:
    """The short form of a manifest: what a script reads after training."""
    data = manifest["data"]
    return {
        "version": manifest["version"],
        "path": str(folder),
        "rows": data["rows"],
        "labels": data["label_counts"],
        "skipped": data.get("skipped", {"count": 0, "rows": []}),
        "dropped_labels": data.get("dropped_labels", {}),
        "metrics": manifest["metrics"]["cv"],
        "threshold": manifest["threshold"],
        "target_precision": manifest["target_precision"],
        "segmenter": manifest["segmenter"]["engine"],
        "train_seconds": manifest["train_seconds"],
        "model_bytes": manifest["model"]["bytes"],
        "promoted": promoted,
    }


def train_from_csv(
    path: Path,
    *,
    label_col: str,
    registry: Registry,
    text_col: str = DEFAULT_TEXT_COL,
    title_col: str | None = DEFAULT_TITLE_COL,
    data_dir: Path | None = None,
    engine: str = DEFAULT_ENGINE,
    seed: int = 0,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    promote: bool = False,
) -> dict[str, Any]:
    """Read a labelled CSV and train a new version (see ``train_version``).

    ``data_dir`` holds the user dictionary's sources; by default the CSV's own folder when
    it has a ``units.yaml`` (as ``data/messages.csv`` does).
    """
    path = Path(path)
    if data_dir is None and (path.parent / "units.yaml").exists():
        data_dir = path.parent
    data = read_labelled(path, label_col=label_col, text_col=text_col, title_col=title_col)
    return train_version(
        data,
        registry,
        data_dir=data_dir,
        engine=engine,
        seed=seed,
        target_precision=target_precision,
        promote=promote,
    )
