"""Training the classifier for this office: labels that are its units, promotion on
evidence, and the ledger's record of every promoted model.

Labels come from two places. A labelled file (``duban train --input``, the base sample of
``duban retrain``) names units by code, name, short name or alias; every label must be a
unit of the ledger's directory, or be mapped to one by a label map (``--label-map``), or
the run is refused with the labels listed. The ledger's own history (``retrain``) labels
each message with the unit that finally handled it, the first that applies:

1. a ticket the unit *kept* (acknowledged, replied, verified, archived, reopened): its unit;
2. otherwise the latest staff decision (``TrainingLabel``: triage, re-assignment after 退回),
   unless that unit has since sent the ticket back.

Rows are keyed by text (title + text); the ledger wins on a repeated text.

Evidence. A fixed slice of the rows, chosen by the hash of their normalised text (about
``HOLDOUT_PERCENT`` %), is never trained on: every version trained here leaves it out. The
candidate and the promoted model are scored on that slice, minus the rows the promoted
model was trained on (an older version may have seen them). The candidate is promoted only
when it has the policy's minimum labelled rows (in total and for each unit), the slice is
large enough to judge, its macro-F1 there is not lower and no unit's recall drops by more
than the policy's margin. Otherwise it is kept, not promoted, and the reasons say why.
``force`` (an admin's decision) promotes anyway and is recorded as forced.

Integrity. Every promotion (and rollback) writes a ``ModelPromotion`` row with the model
file's sha256 and stores the version's files in the ledger (``routing.modelstore``), in the
same transaction; ``verified_predictor`` loads the promoted model only when its file still
has the recorded hash.

Several machines. The promoted version is the ledger's latest ``ModelPromotion`` row, not a
pointer file: ``PromotedModel`` (what a runtime calls for its predictor) compares it per call
(one read by primary key) and, when it changed, loads the new version from the registry
folder when this machine has it, otherwise from its own cache folder, filled from the
ledger and checked against the recorded sha256 before anything is unpickled.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from classifier.dataset import (
    LabelledData,
    compose_text,
    deduplicate,
    merge,
    read_labelled,
    text_key,
)
from classifier.errors import BadInput, ClassifierError, ModelRefused
from classifier.evaluation import holdout_scores
from classifier.predict import Predictor
from classifier.registry import (
    MANIFEST_FILE,
    MODEL_FILE,
    Registry,
    is_version_folder,
    read_manifest,
    sha256_file,
)
from classifier.segment import Segmenter
from classifier.train import (
    DEFAULT_TARGET_PRECISION,
    learning_curve,
    train_version,
    user_dictionary,
)
from ledger.db import session_scope
from ledger.models import (
    Message,
    ModelPromotion,
    Ticket,
    TicketState,
    TrainingLabel,
    Unit,
)
from ledger.policy import RoutingPolicy
from routing.modelstore import (
    Promoted,
    check_version_name,
    fetch_version,
    is_stored,
    promoted,
    prune_cache,
    read_stored,
    store_version,
)
from routing.triage import resuggest_waiting

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
BASE_LABEL_COL = "单位代码"
HOLDOUT_PERCENT = 20  # share of rows (by text hash) no version trained here ever sees
MIN_HOLDOUT_ROWS = 10  # fewer held-out rows than this cannot referee a promotion
_EPSILON = 1e-9
_CHUNK = 500
_ROWS = 2_000  # rows fetched at a time when streaming labels
_MAP_HEADERS = {"label", "标签", "原标签", "原单位", "类别"}


# -- the units a label may name ----------------------------------------------------------------


def routable_units(session: Session) -> list[Unit]:
    """The units a model may route to: active, not the supervision desk itself."""
    units = session.exec(select(Unit).order_by(col(Unit.code))).all()
    return [unit for unit in units if unit.active and unit.kind != "desk"]


def _unit_index(units: list[Unit]) -> dict[str, Unit]:
    index: dict[str, Unit] = {}
    for unit in units:
        for name in (unit.code, unit.name, unit.short_name, *(unit.aliases or [])):
            index.setdefault(str(name).strip(), unit)
    return index


def read_label_map(path: Path) -> dict[str, str]:
    """A label map: YAML (``label: unit``) or a two-column CSV (label, unit; an optional
    header row such as ``标签,单位``). Errors name the row."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: 无法读取标签对照文件 (cannot read the label map): {exc}") from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise BadInput(f"{path}: 标签对照文件须为 UTF-8 或 GB18030 文本 (not UTF-8 or GB18030)")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            document = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise BadInput(f"{path}: 不是有效的 YAML (not valid YAML): {exc}") from exc
        if not isinstance(document, dict):
            raise BadInput(f"{path}: 须为「标签: 单位」的映射 (expected a mapping label: unit)")
        mapping = {}
        for label, unit in document.items():
            if label is None or unit is None or not str(label).strip() or not str(unit).strip():
                raise BadInput(f"{path}: 「{label}」缺少对应单位 (empty label or unit)")
            mapping[str(label).strip()] = str(unit).strip()
        return mapping
    mapping = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and cells[0].lower() in _MAP_HEADERS:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise BadInput(
                f"{path}: 第{number}行须为两列：标签,单位 (row {number}: need label,unit)"
            )
        if cells[0] in mapping and mapping[cells[0]] != cells[1]:
            raise BadInput(
                f"{path}: 第{number}行：标签「{cells[0]}」重复且对应不同单位 (duplicate label)"
            )
        mapping[cells[0]] = cells[1]
    return mapping


def resolve_labels(
    data: LabelledData,
    units: list[Unit],
    *,
    label_map: dict[str, str] | None = None,
    where: str = "训练数据",
) -> LabelledData:
    """``data`` with every label replaced by its unit's code. A label is a unit's code, name,
    short name or alias, or is mapped to one by ``label_map``; otherwise the run is refused
    with every unresolved label listed (with its row count)."""
    index = _unit_index(units)
    mapping = label_map or {}
    for label, target in mapping.items():
        if target not in index:
            known = "、".join(unit.code for unit in units) or "(无)"
            raise BadInput(
                f"标签对照：「{label}」对应的「{target}」不是本台账的单位；现有单位代码：{known}"
                f" (label map target {target!r} is not a unit)"
            )
    codes: list[str] = []
    unresolved: Counter[str] = Counter()
    for label in data.labels:
        key = label.strip()
        unit = index.get(mapping[key]) if key in mapping else index.get(key)
        if unit is None:
            unresolved[key] += 1
            codes.append(key)
        else:
            codes.append(unit.code)
    if unresolved:
        listed = "、".join(f"{label}（{n} 条）" for label, n in sorted(unresolved.items()))
        raise BadInput(
            f"{where}中有 {len(unresolved)} 个标签不是本台账的单位：{listed}。"
            "请核对单位目录，或用 --label-map 文件（两列：标签,单位）把它们对应到单位"
            f" (labels that are not units: {sorted(unresolved)})"
        )
    return LabelledData(
        texts=list(data.texts),
        labels=codes,
        rows=list(data.rows),
        skipped=list(data.skipped),
        sources=list(data.sources),
    )


def units_without_history(units: list[Unit], counts: dict[str, int]) -> list[dict[str, str]]:
    """Routable units with no labelled message: the model cannot route to them yet."""
    return [
        {"unit": unit.code, "name": unit.short_name, "note": "尚无已标注留言"}
        for unit in units
        if not counts.get(unit.code)
    ]


# -- the ledger's labels -------------------------------------------------------------------------


def ledger_labels(session: Session) -> dict[int, tuple[str, str]]:
    """message id -> (unit code, where the label came from: "ticket" or the staff source).

    Read as plain columns, streamed (no ORM objects held: a ticket object weighs some KB,
    and a large ledger has hundreds of thousands)."""
    active = {
        unit_id: code
        for unit_id, code, is_active in session.exec(select(Unit.id, Unit.code, Unit.active))
        if is_active
    }
    latest: dict[int, tuple[int, str]] = {}  # message id -> (unit id, source) of its last
    decisions = select(TrainingLabel.message_id, TrainingLabel.unit_id, TrainingLabel.source)
    ordered = decisions.order_by(col(TrainingLabel.created_at), col(TrainingLabel.id))
    for message_id, unit_id, source in session.exec(ordered.execution_options(yield_per=_ROWS)):
        latest[message_id] = (unit_id, source)
    sent_back: set[int] = set()  # messages whose latest decision's unit has returned them
    kept: dict[int, str] = {}  # message id -> code of the unit that kept its ticket
    tickets = select(Ticket.message_id, Ticket.unit_id, Ticket.state, Ticket.excluded_units)
    for message_id, ticket_unit, state, excluded in session.exec(
        tickets.execution_options(yield_per=_ROWS)
    ):
        decision = latest.get(message_id)
        if decision is not None and decision[0] in (excluded or []):
            sent_back.add(message_id)
        if state in KEPT_STATES and ticket_unit in active:
            kept[message_id] = active[ticket_unit]
    labels: dict[int, tuple[str, str]] = {}
    for message_id, (unit_id, source) in latest.items():
        if message_id not in sent_back and unit_id in active:
            labels[message_id] = (active[unit_id], source)
    for message_id, code in kept.items():
        labels[message_id] = (code, "ticket")
    return labels


def ledger_examples(session: Session) -> LabelledData:
    """The ledger's labelled messages (text = title + text), oldest first; only the two
    text columns are read."""
    labels = ledger_labels(session)
    data = LabelledData()
    counts: dict[str, int] = {}
    ids = sorted(labels)
    for start in range(0, len(ids), _CHUNK):  # bounded IN lists (SQLite's variable limit)
        chunk = ids[start : start + _CHUNK]
        messages = session.exec(
            select(Message.id, Message.title, Message.text)
            .where(col(Message.id).in_(chunk))
            .order_by(col(Message.id))
        )
        for message_id, title, text in messages:
            unit, source = labels[message_id]
            data.texts.append(compose_text(title, text))
            data.labels.append(unit)
            data.rows.append(message_id)
            counts[source] = counts.get(source, 0) + 1
    data.sources.append(
        {"ledger": True, "rows": len(data), "by_source": dict(sorted(counts.items()))}
    )
    return data


def base_examples(base_csv: Path | None) -> LabelledData:
    if base_csv is None or not Path(base_csv).exists():
        return LabelledData(
            sources=[{"path": str(base_csv) if base_csv else None, "rows": 0, "missing": True}]
        )
    return read_labelled(base_csv, label_col=BASE_LABEL_COL)


# -- the held-out slice ------------------------------------------------------------------------


def in_holdout(text: str) -> bool:
    """Whether a text belongs to the held-out slice (by the hash of its normalised form, so
    a duplicated text is always on the same side, in every run)."""
    return int(text_key(text)[:8], 16) % 100 < HOLDOUT_PERCENT


def split_holdout(data: LabelledData) -> tuple[LabelledData, LabelledData]:
    """(rows to train on, held-out rows)."""
    parts = (LabelledData(sources=list(data.sources)), LabelledData())
    for text, label, row in zip(data.texts, data.labels, data.rows, strict=True):
        part = parts[1] if in_holdout(text) else parts[0]
        part.texts.append(text)
        part.labels.append(label)
        part.rows.append(row)
    parts[0].skipped = list(data.skipped)
    return parts


# -- promotion on evidence ---------------------------------------------------------------------


@dataclass
class Verdict:
    promote: bool
    reasons: list[str]  # Chinese, for the office
    comparison: dict[str, Any]


def trusted(label_counts: dict[str, int], policy: RoutingPolicy) -> bool:
    """A model trained on enough labelled rows (in total and for each of its units) may
    route on its own; below that it only suggests."""
    return bool(label_counts) and (
        sum(label_counts.values()) >= policy.min_labelled_rows
        and min(label_counts.values()) >= policy.min_labelled_rows_per_unit
    )


def _shortfall(counts: dict[str, int], policy: RoutingPolicy) -> list[str]:
    reasons = []
    total = sum(counts.values())
    if total < policy.min_labelled_rows:
        reasons.append(f"训练样本 {total} 条，少于策略要求的 {policy.min_labelled_rows} 条")
    few = {code: n for code, n in sorted(counts.items()) if n < policy.min_labelled_rows_per_unit}
    if few:
        listed = "、".join(f"{code} {n} 条" for code, n in few.items())
        reasons.append(
            f"{len(few)} 个单位的标注少于策略要求的每单位 "
            f"{policy.min_labelled_rows_per_unit} 条：{listed}"
        )
    return reasons


def judge(
    *,
    candidate: Predictor,
    candidate_counts: dict[str, int],
    current: Predictor | None,
    current_counts: dict[str, int],
    current_seen: set[str],
    holdout: LabelledData,
    policy: RoutingPolicy,
    current_exists: bool = False,
) -> Verdict:
    """Whether ``candidate`` may replace ``current``, on the held-out rows neither was
    trained on. Every reason is given, not just the first. ``current_exists``: a version is
    promoted but cannot be loaded (changed, or not recorded): the candidate then needs the
    policy's minimum rows to replace it."""
    if current is None and current_exists:
        shortfall = _shortfall(candidate_counts, policy)
        if shortfall:
            return Verdict(False, shortfall, {"current": None, "unusable": True})
        return Verdict(True, ["样本达到策略要求"], {"current": None, "unusable": True})
    if current is None:
        note = (
            []
            if trusted(candidate_counts, policy)
            else ["样本未达策略要求，模型只提供建议，由人工分办"]
        )
        return Verdict(True, ["之前没有启用的版本", *note], {"current": None})
    reasons = []
    shortfall = _shortfall(candidate_counts, policy)
    # While the promoted model is itself below the minimums (cold start), a candidate
    # trained on more rows may replace it on the held-out evidence alone.
    if shortfall and (
        trusted(current_counts, policy)
        or sum(candidate_counts.values()) <= sum(current_counts.values())
    ):
        reasons += shortfall
    keep = [i for i, text in enumerate(holdout.texts) if text_key(text) not in current_seen]
    texts = [holdout.texts[i] for i in keep]
    labels = [holdout.labels[i] for i in keep]
    new = holdout_scores(candidate, texts, labels)
    old = holdout_scores(current, texts, labels)
    # A unit's recall "drops" when it falls by more than the margin *and* by more than one
    # message: with a handful of a unit's messages held out, one message is noise.
    drops = {
        unit: round(old["recall"][unit] - new["recall"][unit], 4)
        for unit in new["recall"]
        if old["recall"][unit] - new["recall"][unit] > policy.max_recall_drop + _EPSILON
        and (old["recall"][unit] - new["recall"][unit]) * new["support"][unit] > 1 + _EPSILON
    }
    comparison = {
        "current": current.version,
        "candidate": candidate.version,
        "holdout_rows": len(holdout),
        "rows_scored": len(texts),
        "rows_seen_by_current": len(holdout) - len(texts),
        "current_macro_f1": old["macro_f1"],
        "candidate_macro_f1": new["macro_f1"],
        "current_accuracy": old["accuracy"],
        "candidate_accuracy": new["accuracy"],
        "current_recall": old["recall"],
        "candidate_recall": new["recall"],
        "support": new["support"],
        "recall_drops": drops,
        "max_recall_drop": policy.max_recall_drop,
    }
    if len(texts) < MIN_HOLDOUT_ROWS:
        reasons.append(
            f"可用于比较的留出样本仅 {len(texts)} 条（少于 {MIN_HOLDOUT_ROWS} 条），证据不足"
        )
    else:
        if new["macro_f1"] < old["macro_f1"] - _EPSILON:
            reasons.append(
                f"留出样本 {len(texts)} 条上宏平均F1 {new['macro_f1']:.4f}"
                f" 低于当前版本 {old['macro_f1']:.4f}"
            )
        if new["macro_f1"] <= _EPSILON:
            reasons.append(f"留出样本 {len(texts)} 条上宏平均F1 为 0，新模型没有分对任何单位")
        if drops:
            listed = "、".join(
                f"{unit} {old['recall'][unit]:.0%}→{new['recall'][unit]:.0%}"
                for unit in sorted(drops)
            )
            reasons.append(
                f"{len(drops)} 个单位的召回率下降超过 {policy.max_recall_drop:.0%}"
                f"（不止一条留言）：{listed}"
            )
    if reasons:
        return Verdict(False, reasons, comparison)
    return Verdict(
        True,
        [
            f"留出样本 {len(texts)} 条上宏平均F1 {new['macro_f1']:.4f}"
            f" 不低于当前版本 {old['macro_f1']:.4f}，"
            f"没有单位的召回率下降超过 {policy.max_recall_drop:.0%}（只差一条留言的不计）"
        ],
        comparison,
    )


# -- the ledger's record of promotions -------------------------------------------------------


def record_promotion(
    session: Session,
    registry: Registry,
    version: str,
    *,
    by: str,
    now: datetime,
    forced: bool = False,
    action: str = "promote",
) -> ModelPromotion:
    """Write the promoted version's model-file sha256 to the ledger, and its files (once per
    version) so that workers on other machines can fetch it."""
    digest = store_version(session, registry.folder(version), version, now=now)
    row = ModelPromotion(
        version=version,
        sha256=digest,
        promoted_at=now,
        promoted_by=by[:128],
        forced=forced,
        action=action,
    )
    session.add(row)
    session.flush()
    if forced:
        logger.warning("model %s promoted by %s with --force (evidence overridden)", version, by)
    else:
        logger.info("model %s %s by %s, sha256 %s", version, action, by, digest[:16])
    return row


def recorded_sha256(session: Session, version: str) -> str | None:
    """The sha256 recorded when ``version`` was last promoted, or None."""
    row = session.exec(
        select(ModelPromotion)
        .where(ModelPromotion.version == version)
        .order_by(col(ModelPromotion.promoted_at).desc(), col(ModelPromotion.id).desc())
    ).first()
    return row.sha256 if row else None


def promotions(session: Session) -> list[ModelPromotion]:
    return list(
        session.exec(
            select(ModelPromotion).order_by(col(ModelPromotion.promoted_at), col(ModelPromotion.id))
        ).all()
    )


def verified_predictor(
    session: Session,
    registry: Registry,
    version: str,
    *,
    dictionary_sha256: str | None = None,
    cache: Path | None = None,
    now: datetime | None = None,
) -> Predictor:
    """The version's predictor, only if its model file has the sha256 the ledger recorded
    when it was promoted (checked before the file is unpickled).

    The files come from the registry folder when this machine has the version (stored in
    the ledger too, with ``now``, if they were promoted before the ledger kept them),
    otherwise from ``cache``: a folder of this machine filled from the ledger."""
    expected = recorded_sha256(session, version)
    if expected is None:
        logger.error("model %s is promoted but its hash is not in the ledger: refused", version)
        raise ModelRefused(
            f"模型 {version} 未在台账登记（没有启用记录和校验值），拒绝加载；"
            f"确认模型可信后请运行 duban model promote {version} 登记"
            " (promoted model not recorded in the ledger: refused)"
        )
    local = registry.root / check_version_name(version)
    if is_version_folder(local) or cache is None:
        folder = registry.folder(version)
        _check_file(folder, version, expected)
        if now is not None and not is_stored(session, version):
            _store_late(session, folder, version, now=now)
    else:
        folder = _cached(session, version, expected, Path(cache))
    manifested = (read_manifest(folder).get("model") or {}).get("sha256")
    if manifested != expected:  # the bytes unpickled are checked against the manifest's
        logger.error("model %s: the manifest's sha256 is not the ledger's: refused", version)
        raise ModelRefused(
            f"模型 {version} 的清单与台账登记的校验值不符（文件已被改动），拒绝加载"
            f" (manifest sha256 {str(manifested)[:16]}… is not the recorded {expected[:16]}…)"
        )
    return Predictor.load(folder, dictionary_sha256=dictionary_sha256)


def _check_file(folder: Path, version: str, expected: str) -> None:
    actual = sha256_file(folder / MODEL_FILE)
    if actual != expected:
        logger.error(
            "model %s file sha256 %s does not match the ledger's %s: refused",
            version,
            actual[:16],
            expected[:16],
        )
        raise ModelRefused(
            f"模型 {version} 的模型文件与台账登记的校验值不符（文件已被改动），拒绝加载；"
            "请从可信来源恢复，或重新训练并启用"
            f" (model file sha256 {actual[:16]}… is not the recorded {expected[:16]}…)"
        )


def _store_late(session: Session, folder: Path, version: str, *, now: datetime) -> None:
    """Store a version promoted before the ledger kept model files (migration 0009)."""
    try:
        with session.begin_nested():
            store_version(session, folder, version, now=now)
    except IntegrityError:  # another process of this machine stored it at the same moment
        logger.info("model %s was stored in the ledger by another process", version)
    else:
        logger.warning("model %s (promoted before 0009) stored in the ledger now", version)


def _cached(session: Session, version: str, expected: str, cache: Path) -> Path:
    """This machine's copy of the version, fetched from the ledger when it has none (or a
    damaged one)."""
    folder = cache / version
    if is_version_folder(folder) and (folder / MODEL_FILE).is_file():
        if sha256_file(folder / MODEL_FILE) == expected:
            return folder
        logger.warning("cached copy of model %s is not the recorded one: fetched again", version)
    if folder.exists():
        shutil.rmtree(folder)
    return fetch_version(session, version, cache, expected_sha256=expected)


def _check_recorded(session: Session, registry: Registry, version: str) -> None:
    """A version promoted before must still have the file it had then."""
    expected = recorded_sha256(session, version)
    if expected is not None and sha256_file(registry.folder(version) / MODEL_FILE) != expected:
        logger.error("model %s changed since it was promoted: not promoted again", version)
        raise ModelRefused(
            f"模型 {version} 的模型文件与台账登记的校验值不符（文件已被改动），拒绝启用"
            " (model file changed since it was promoted)"
        )


def _restore(session: Session, registry: Registry, version: str) -> None:
    """A version this machine's registry lacks but the ledger keeps is written back into
    the registry folder (so any machine can re-promote an earlier version)."""
    if not version or "/" in version or version.startswith("."):
        return  # not a version id: Registry.folder refuses it as before (exit 2)
    if is_version_folder(registry.root / version):
        return
    expected = recorded_sha256(session, version)
    if expected is not None and is_stored(session, version):
        registry.create()
        fetch_version(session, version, registry.root, expected_sha256=expected)


def promote_version(
    session: Session,
    registry: Registry,
    version: str,
    *,
    by: str,
    now: datetime,
    forced: bool = False,
    action: str = "promote",
    predictor: Predictor | None = None,
) -> dict[str, Any]:
    """Make ``version`` the promoted one (``action`` "rollback": re-promote the previous
    one), record its sha256 in the ledger and recompute the suggestions of every ticket
    waiting in triage with it."""
    if action == "rollback":
        head, local = promoted(session), registry.current()
        if head is not None and local is not None and head.version != local:
            raise BadInput(
                f"本机模型库记录的启用版本 {local} 与台账中的启用版本 {head.version} 不同"
                "（另一台机器启用过别的版本），不能按本机历史回滚；请用 duban model promote"
                " 指定要启用的版本 (this registry's promoted version is not the ledger's)"
            )
        stack = registry.pointer()["stack"]
        if len(stack) >= 2:
            _check_recorded(session, registry, stack[-2])
        state = registry.rollback(now=now)
        version = state["version"]
    else:
        _restore(session, registry, version)
        _check_recorded(session, registry, version)
        state = registry.promote(version, now=now)
    record_promotion(session, registry, version, by=by, now=now, forced=forced, action=action)
    if predictor is None or predictor.version != version:
        predictor = Predictor.load(registry.folder(version))
    state["resuggested"] = resuggest_waiting(session, predictor)
    return state


class PromotedModel:
    """The promoted predictor of a process, kept while the ledger's promoted version stays.

    Called per job (or per chunk): one read of the latest promotion by primary key; the
    model is loaded again only when that changed (another machine promoted or rolled back).
    ``None`` while nothing is promoted. A refused model raises ``ModelRefused`` on every
    call (the ledger's copy is not fetched again for the same version and hash).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        registry: Registry,
        cache: Path,
        policy: RoutingPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.cache = Path(cache)
        self.policy = policy
        self.clock = clock
        self._key: tuple[str, str] | None = None
        self._predictor: Predictor | None = None
        self._refused: dict[tuple[str, str], ModelRefused] = {}
        self._none_logged = False
        self._loading = threading.Lock()

    def forget(self) -> None:
        """Load the promoted model again on next use."""
        self._key, self._predictor, self._refused = None, None, {}

    def __call__(self) -> Predictor | None:
        with session_scope(self.engine) as session:
            head = promoted(session)
            if head is None:
                self._none(session)
                return None
            key = (head.version, head.sha256)
            predictor = self._predictor
            if key == self._key and predictor is not None:
                return predictor
        with self._loading:  # threads of one process (the web desk) load it once
            if key == self._key and self._predictor is not None:
                return self._predictor
            return self._load(head, key)

    def _load(self, head: Promoted, key: tuple[str, str]) -> Predictor:
        if key in self._refused:
            raise self._refused[key]
        with session_scope(self.engine) as session:
            try:
                predictor = verified_predictor(
                    session, self.registry, head.version, cache=self.cache, now=self.clock()
                )
            except ModelRefused as exc:
                self._refused[key] = exc
                raise
        predictor.trusted = trusted(label_counts(predictor), self.policy)
        if not predictor.trusted:
            logger.warning(
                "classifier %s is trained on fewer labelled rows than the policy asks: it only"
                " suggests, every message goes to triage",
                head.version,
            )
        if self._predictor is not None:
            logger.info("promoted model changed: %s -> %s", self._predictor.version, head.version)
        self._key, self._predictor, self._none_logged = key, predictor, False
        prune_cache(self.cache, keep={head.version})
        return predictor

    def _none(self, session: Session) -> None:
        local = self.registry.current()
        if local is not None:  # promoted behind the ledger's back: refused
            verified_predictor(session, self.registry, local)
        self._key, self._predictor = None, None
        if not self._none_logged:
            logger.warning("no promoted classifier in the ledger: messages go to the triage queue")
            self._none_logged = True
        return None


def label_counts(predictor: Predictor) -> dict[str, int]:
    counts = (predictor.manifest.get("data") or {}).get("label_counts") or {}
    return {str(k): int(v) for k, v in counts.items()}


# -- training runs -----------------------------------------------------------------------------


def current_version(session: Session, registry: Registry) -> str | None:
    """The promoted version: the ledger's latest promotion, else this registry's pointer
    (a version promoted behind the ledger's back, which loading then refuses)."""
    head = promoted(session)
    return head.version if head is not None else registry.current()


def _current(session: Session, registry: Registry) -> tuple[Predictor | None, set[str]]:
    """The promoted predictor (verified) and the text keys it was trained on."""
    version = current_version(session, registry)
    if version is None:
        return None, set()
    try:  # a version only the ledger keeps is written into this registry
        predictor = verified_predictor(session, registry, version, cache=registry.root)
    except ClassifierError as exc:
        logger.warning("current model %s unusable for comparison: %s", version, exc)
        return None, set()
    return predictor, {key for key, _ in registry.training_rows(version)}


def train_and_judge(
    session: Session,
    data: LabelledData,
    *,
    registry: Registry,
    units: list[Unit],
    policy: RoutingPolicy,
    data_dir: Path | None,
    now: datetime,
    by: str,
    promote: bool = True,
    force: bool = False,
    action: str = "train",
    seed: int = 0,
    engine: str = "rjieba",
    target_precision: float = DEFAULT_TARGET_PRECISION,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a candidate on ``data`` minus the held-out slice (labels already unit codes),
    judge it against the promoted model, and promote it when the evidence allows (or
    ``force``), recording the promotion. ``promote=False``: judge, never promote."""
    if not len(data):
        raise BadInput("没有可用于训练的数据行 (no usable rows)")
    registry.create()  # a folder that cannot be one is bad input, before any training
    training, holdout = split_holdout(data)
    current, seen = _current(session, registry)
    empty = current_version(session, registry) is None
    unusable = not empty and current is None
    summary = train_version(
        training,
        registry,
        data_dir=data_dir,
        engine=engine,
        seed=seed,
        target_precision=target_precision,
        promote_first=False,
        extra={"holdout_rows": len(holdout), **(extra or {})},
        manifest_extra={"units": sorted(set(training.labels))},
        max_rows=policy.max_training_rows,
    )
    candidate = Predictor.load(registry.folder(summary["version"]))
    verdict = judge(
        candidate=candidate,
        candidate_counts=label_counts(candidate),
        current=current,
        current_counts=label_counts(current) if current else {},
        current_seen=seen,
        holdout=holdout,
        policy=policy,
        current_exists=unusable,
    )
    if unusable:
        verdict.reasons.insert(0, "当前启用的版本无法加载或未在台账登记，按无当前版本处理")
    forced = force and not verdict.promote
    promoted = force or (verdict.promote and (promote or empty))  # an empty registry: first
    if verdict.promote and not promoted:
        verdict.reasons.append("未要求启用（加 --promote 才会启用）")
    resuggested = 0
    if promoted:
        state = promote_version(
            session,
            registry,
            summary["version"],
            by=by,
            now=now,
            forced=forced,
            action=action,
            predictor=candidate,
        )
        resuggested = state["resuggested"]
    elif promote:
        logger.info("model %s kept, not promoted: %s", summary["version"], verdict.reasons)
    counts = label_counts(candidate)
    return {
        **summary,
        "promoted": promoted,
        "forced": forced,
        "reasons": verdict.reasons,
        "reason": "；".join(verdict.reasons),
        "comparison": verdict.comparison,
        "trusted": trusted(counts, policy),
        "holdout_rows": len(holdout),
        "resuggested": resuggested,
        "units": sorted(counts),
        "units_without_history": units_without_history(units, counts),
    }


def train_file(
    session: Session,
    path: Path,
    *,
    label_col: str,
    registry: Registry,
    policy: RoutingPolicy,
    data_dir: Path | None,
    now: datetime,
    by: str,
    label_map: dict[str, str] | None = None,
    text_col: str = "留言详情",
    title_col: str | None = "留言主题",
    **options: Any,
) -> dict[str, Any]:
    """``duban train``: a labelled file of the office's history, labels resolved to units."""
    units = routable_units(session)
    data = read_labelled(path, label_col=label_col, text_col=text_col, title_col=title_col)
    data = resolve_labels(data, units, label_map=label_map, where=f"{path} ")
    return train_and_judge(
        session,
        data,
        registry=registry,
        units=units,
        policy=policy,
        data_dir=data_dir,
        now=now,
        by=by,
        action="train",
        **options,
    )


def retrain(
    session: Session,
    *,
    registry: Registry,
    base_csv: Path | None,
    data_dir: Path | None,
    policy: RoutingPolicy | None = None,
    now: datetime,
    by: str = "console",
    label_map: dict[str, str] | None = None,
    force: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a new version on the ledger's labels + the base sample (labels resolved to
    units); promote it only on evidence (or ``force``)."""
    policy = policy or RoutingPolicy()
    units = routable_units(session)
    ledger = ledger_examples(session)
    base = base_examples(base_csv)
    base = resolve_labels(base, units, label_map=label_map, where=f"{base_csv} ")
    data, duplicates = deduplicate(merge([base, ledger]))
    result = train_and_judge(
        session,
        data,
        registry=registry,
        units=units,
        policy=policy,
        data_dir=data_dir,
        now=now,
        by=by,
        force=force,
        action="retrain",
        seed=seed,
        extra={"ledger_rows": len(ledger), "base_rows": len(base), "duplicates": duplicates},
    )
    logger.info(
        "retrained %s on %d rows (%d from the ledger): %s",
        result["version"],
        result["rows"],
        len(ledger),
        "promoted" if result["promoted"] else "not promoted",
    )
    return {
        **result,
        "labelled_rows": len(data),
        "ledger_rows": len(ledger),
        "base_rows": len(base),
        "duplicates": duplicates,
    }


# -- cold start: what the office has, what more data would give --------------------------------


def _promoted_status(
    session: Session, registry: Registry, policy: RoutingPolicy
) -> dict[str, Any] | None:
    """The promoted version as the ledger records it (and what this machine has of it)."""
    version = current_version(session, registry)
    if version is None:
        return None
    sha256 = recorded_sha256(session, version)
    local = registry.root / check_version_name(version)
    manifest: dict[str, Any] = {}
    if is_version_folder(local):
        manifest = read_manifest(local)
    else:
        stored = read_stored(session, version, MANIFEST_FILE)
        if stored is not None:
            manifest = json.loads(stored.decode("utf-8"))
    model_counts = (manifest.get("data") or {}).get("label_counts") or {}
    pointer = registry.current()
    return {
        "version": version,
        "rows": (manifest.get("data") or {}).get("rows"),
        "units": manifest.get("units") or manifest.get("labels"),
        "trusted": trusted(model_counts, policy),
        "recorded": sha256 is not None,
        "sha256": sha256,
        "stored_in_ledger": is_stored(session, version),
        "in_local_registry": is_version_folder(local),
        "local_pointer": pointer,
    }


def model_status(
    session: Session,
    *,
    registry: Registry,
    base_csv: Path | None,
    data_dir: Path | None,
    policy: RoutingPolicy,
    curve: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Labels per unit (the ledger's and the base file's), the learning curve, whether the
    promoted model is trusted to route on its own, and what is missing."""
    units = routable_units(session)
    ledger = ledger_examples(session)
    base = base_examples(base_csv)
    unresolved: list[str] = []
    try:
        base = resolve_labels(base, units)
    except BadInput as exc:
        unresolved.append(str(exc))
        base = LabelledData()
    data, _ = deduplicate(merge([base, ledger]))
    counts = dict(sorted(Counter(data.labels).items()))
    per_unit = [
        {
            "unit": unit.code,
            "name": unit.short_name,
            "labelled": counts.get(unit.code, 0),
            "ledger": ledger.labels.count(unit.code),
            "enough": counts.get(unit.code, 0) >= policy.min_labelled_rows_per_unit,
        }
        for unit in units
    ]
    model = _promoted_status(session, registry, policy)
    points: list[dict[str, Any]] = []
    if curve and len(set(data.labels)) >= 2:
        segmenter = Segmenter("rjieba", user_dictionary(data_dir))
        points = learning_curve(
            data.texts,
            data.labels,
            segmenter=segmenter,
            seed=seed,
            max_rows=policy.max_training_rows,
        )
    return {
        "labelled_rows": len(data),
        "ledger_rows": len(ledger),
        "base_rows": len(base),
        "units": per_unit,
        "units_without_history": units_without_history(units, counts),
        "ready": trusted({unit.code: counts.get(unit.code, 0) for unit in units}, policy),
        "min_labelled_rows": policy.min_labelled_rows,
        "min_labelled_rows_per_unit": policy.min_labelled_rows_per_unit,
        "learning_curve": points,
        "model": model,
        "problems": unresolved,
    }
