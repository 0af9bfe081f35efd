"""Retraining the classifier from the ledger: the unit that finally handled each message.

Labels come from two places, the first that applies:

1. a ticket the unit *kept* (acknowledged, replied, verified, archived, reopened): its unit;
2. otherwise the latest staff decision (``TrainingLabel``: triage, re-assignment after 退回),
   unless that unit has since sent the ticket back.

So a message the classifier sent to the wrong unit, returned and re-assigned by staff, is
learnt with the unit that took it; a ticket still waiting at the classifier's choice (not
yet acknowledged) teaches nothing. Rows are keyed by text (title + text) and merged with
the base sample (``data/messages.csv``), the ledger winning on a repeated text.

The new version is compared with the promoted one on the same cross-validation folds of
today's rows: the current version's recipe trained, in each fold, only on the rows it was
trained on (with its labels), against the new version's recipe on all of them; both are
scored on the rows whose label has not changed since the current version (relabelled rows
are the staff's corrections: they teach the new version but cannot referee). The new
version is promoted unless its macro-F1 there is lower by more than ``TOLERANCE``, or when
``force`` is given.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from classifier.dataset import (
    LabelledData,
    compose_text,
    deduplicate,
    merge,
    read_labelled,
    text_key,
)
from classifier.errors import ClassifierError
from classifier.registry import Registry, load_pipeline
from classifier.train import cross_validated_summary, train_version
from ledger.models import Message, Ticket, TicketState, TrainingLabel, Unit

logger = logging.getLogger(__name__)

KEPT_STATES = frozenset(
    {
        TicketState.ACKNOWLEDGED.value,
        TicketState.REPLIED.value,
        TicketState.VERIFIED.value,
        TicketState.ARCHIVED.value,
        TicketState.REOPENED.value,
    }
)
TOLERANCE = 0.005  # macro-F1 the new version may lose and still be promoted
BASE_LABEL_COL = "单位代码"
_CHUNK = 500


def ledger_labels(session: Session) -> dict[int, tuple[str, str]]:
    """message id -> (unit code, where the label came from: "ticket" or the staff source)."""
    units = {unit.id: unit for unit in session.exec(select(Unit))}
    labels: dict[int, tuple[str, str]] = {}
    tickets = {ticket.message_id: ticket for ticket in session.exec(select(Ticket))}
    decisions = session.exec(
        select(TrainingLabel).order_by(TrainingLabel.created_at, TrainingLabel.id)
    )
    latest: dict[int, TrainingLabel] = {}
    for decision in decisions:
        latest[decision.message_id] = decision
    for message_id, decision in latest.items():
        ticket = tickets.get(message_id)
        if ticket is not None and decision.unit_id in (ticket.excluded_units or []):
            continue  # that unit sent it back
        unit = units.get(decision.unit_id)
        if unit is not None and unit.active:
            labels[message_id] = (unit.code, decision.source)
    for message_id, ticket in tickets.items():
        if ticket.state in KEPT_STATES and ticket.unit_id is not None:
            unit = units.get(ticket.unit_id)
            if unit is not None and unit.active:
                labels[message_id] = (unit.code, "ticket")
    return labels


def ledger_examples(session: Session) -> LabelledData:
    """The ledger's labelled messages (text = title + text), oldest first."""
    labels = ledger_labels(session)
    data = LabelledData()
    counts: dict[str, int] = {}
    ids = sorted(labels)
    for start in range(0, len(ids), _CHUNK):  # bounded IN lists (SQLite's variable limit)
        chunk = ids[start : start + _CHUNK]
        messages = session.exec(
            select(Message).where(Message.id.in_(chunk)).order_by(Message.id)  # type: ignore[union-attr]
        )
        for message in messages:
            unit, source = labels[message.id]
            data.texts.append(compose_text(message.title, message.text))
            data.labels.append(unit)
            data.rows.append(message.id)
            counts[source] = counts.get(source, 0) + 1
    data.sources.append(
        {"ledger": True, "rows": len(data), "by_source": dict(sorted(counts.items()))}
    )
    return data


def _base_examples(base_csv: Path | None) -> LabelledData:
    if base_csv is None or not Path(base_csv).exists():
        return LabelledData(
            sources=[{"path": str(base_csv) if base_csv else None, "rows": 0, "missing": True}]
        )
    return read_labelled(base_csv, label_col=BASE_LABEL_COL)


def compare(
    registry: Registry, candidate: str, data: LabelledData, *, seed: int, current: str | None
) -> dict[str, Any]:
    """The candidate's and the promoted version's recipes on the same folds of ``data``,
    scored on the rows whose label has not changed since the promoted version was trained
    (rows it never saw count too): a relabelled row says nothing about which is better.
    ``current`` is the version promoted before the candidate was trained."""
    if current is None:
        return {"current": None}
    try:
        current_pipeline, current_manifest = load_pipeline(registry.folder(current))
    except ClassifierError as exc:
        return {"current": current, "unusable": str(exc)}
    candidate_pipeline, candidate_manifest = load_pipeline(registry.folder(candidate))

    def recipe(pipeline, manifest) -> dict[str, Any]:
        params = {k: v for k, v in manifest["params"].items() if k != "folds"}
        return {"segmenter": pipeline.named_steps["segment"].segmenter, "params": params}

    trained_on = dict(registry.training_rows(current))
    keys = [text_key(text) for text in data.texts]
    scored = [
        trained_on.get(key, label) == label for key, label in zip(keys, data.labels, strict=True)
    ]
    common = {"seed": seed, "scored": scored}
    old = cross_validated_summary(
        data.texts,
        data.labels,
        trained_on=trained_on,
        **common,
        **recipe(current_pipeline, current_manifest),
    )
    new = cross_validated_summary(
        data.texts, data.labels, **common, **recipe(candidate_pipeline, candidate_manifest)
    )
    return {
        "current": current,
        "candidate": candidate,
        "folds": new["folds"],
        "rows_scored": new["rows"],
        "rows_relabelled": scored.count(False),
        "current_training_rows_used": old["training_rows_used"],
        "current_macro_f1": old["macro_f1"],
        "candidate_macro_f1": new["macro_f1"],
        "current_accuracy": old["accuracy"],
        "candidate_accuracy": new["accuracy"],
        "current_coverage_at_97": old["coverage_at_97"],
        "candidate_coverage_at_97": new["coverage_at_97"],
        "tolerance": TOLERANCE,
    }


def retrain(
    session: Session,
    *,
    registry: Registry,
    base_csv: Path | None,
    data_dir: Path | None,
    force: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a new version on the ledger's labels + the base sample; promote it unless it
    does worse than the promoted version on the same folds (or ``force``)."""
    ledger = ledger_examples(session)
    base = _base_examples(base_csv)
    data, duplicates = deduplicate(merge([base, ledger]))
    current = registry.current()  # before training: an empty registry promotes its first
    summary = train_version(
        data,
        registry,
        data_dir=data_dir,
        seed=seed,
        extra={"ledger_rows": len(ledger), "base_rows": len(base), "duplicates": duplicates},
    )
    candidate = summary["version"]
    comparison = compare(registry, candidate, data, seed=seed, current=current)
    if comparison.get("current") is None:
        promote, reason = True, "之前没有启用的版本 (no promoted version yet)"
    elif "unusable" in comparison:
        promote = True
        reason = f"当前版本无法加载 (current version unusable): {comparison['unusable']}"
    else:
        drop = comparison["current_macro_f1"] - comparison["candidate_macro_f1"]
        if drop <= TOLERANCE:
            promote, reason = (
                True,
                (
                    f"宏平均F1 {comparison['candidate_macro_f1']:.4f} 不低于当前版本"
                    f" {comparison['current_macro_f1']:.4f}（容差 {TOLERANCE}）(not worse)"
                ),
            )
        else:
            promote, reason = (
                force,
                (
                    f"宏平均F1 比当前版本低 {drop:.4f}，超过容差 {TOLERANCE} (worse than current)"
                    + ("；--force 仍启用 (forced)" if force else "")
                ),
            )
    if promote and registry.current() != candidate:
        registry.promote(candidate)
    logger.info(
        "retrained %s on %d rows (%d from the ledger): %s",
        candidate,
        len(data),
        len(ledger),
        "promoted" if promote else "not promoted",
    )
    return {
        "version": candidate,
        "path": summary["path"],
        "rows": len(data),
        "ledger_rows": len(ledger),
        "base_rows": len(base),
        "duplicates": duplicates,
        "metrics": summary["metrics"],
        "threshold": summary["threshold"],
        "comparison": comparison,
        "promoted": promote,
        "forced": bool(
            force
            and promote
            and comparison.get("current") is not None
            and "unusable" not in comparison
            and comparison["current_macro_f1"] - comparison["candidate_macro_f1"] > TOLERANCE
        ),
        "reason": reason,
    }
