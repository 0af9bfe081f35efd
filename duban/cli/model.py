"""``duban train``, ``classify``, ``evaluate``, ``retrain`` and ``duban model …``: the classifier.

Thin commands over ``classifier`` (and ``routing.training`` for retraining from the ledger);
``--json`` everywhere; exit codes 0 ok, 1 failure, 2 bad input (the classifier's errors
carry theirs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from duban.cli.common import ByOpt, JsonOpt, bad_input, emit_json, runtime, say

InputOpt = Annotated[Path, typer.Option("--input", help="CSV 文件 (UTF-8 / UTF-8 BOM / GB18030)")]
LabelOpt = Annotated[str, typer.Option("--label-col", help="标签列名，如 单位代码 (label column)")]
TitleOpt = Annotated[str, typer.Option("--title-col", help="标题列名；文件中没有则只用正文")]
TextOpt = Annotated[str, typer.Option("--text-col", help="正文列名 (text column)")]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="模型版本目录，或模型库目录（用其启用版本）；默认设置中的模型库"),
]
DirOpt = Annotated[Path | None, typer.Option("--dir", help="模型库目录；默认设置中的模型库")]
DirOutOpt = Annotated[Path | None, typer.Option("--out", help="模型库目录；默认设置中的模型库")]


def register(app: typer.Typer) -> None:
    app.command("train", help="训练新的分办模型版本 (train a new classifier version)")(train)
    app.command("classify", help="用模型分办留言 (classify messages)")(classify)
    app.command("evaluate", help="在标注数据上评估模型 (evaluate a model)")(evaluate)
    app.command("retrain", help="用台账中的办理结果重新训练 (retrain from the ledger)")(retrain)
    models = typer.Typer(
        help="模型版本：列表、详情、启用、回滚 (model registry)", no_args_is_help=True
    )
    models.command("list", help="模型版本列表 (versions, metrics, which is promoted)")(model_list)
    models.command("show", help="模型清单 (a version's manifest)")(model_show)
    models.command("promote", help="启用某个版本 (promote a version)")(model_promote)
    models.command("status", help="标注数量、学习曲线、能否自动分办 (cold start status)")(
        model_status
    )
    models.command("rollback", help="回滚到上一个启用的版本 (re-promote the previous one)")(
        model_rollback
    )
    app.add_typer(models, name="model")


def _registry(ctx: typer.Context, folder: Path | None):
    from classifier.registry import Registry

    return Registry(folder or runtime(ctx).settings.models_path)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_metrics(metrics: dict[str, Any]) -> None:
    say(
        f"  准确率 {_percent(metrics['accuracy'])}  宏平均F1 {metrics['macro_f1']:.4f}  "
        f"前三命中 {_percent(metrics['top3_accuracy'])}"
    )
    say(
        "  覆盖率@精确率 95% / 97% / 99%: "
        + " / ".join(_percent(metrics[f"coverage_at_{p}"]) for p in (95, 97, 99))
    )


# -- train ----------------------------------------------------------------------------------

LabelMapOpt = Annotated[
    Path | None,
    typer.Option(
        "--label-map",
        help="标签对照文件（CSV 两列：标签,单位；或 YAML 标签: 单位），把不是单位的标签对应到单位",
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="管理员：即使证据不足或不如当前版本也启用（记入台账）")
]


def _who(ctx: typer.Context, session: Any, by: str | None, force: bool) -> str:
    """Who promotes: a person (by code) or the console operator; --force is an admin's."""
    from ledger.directory import get_person
    from ledger.models import Role

    if by is None:
        return "console"
    if not by.strip():
        bad_input("--by: 人员编号不能为空；省略 --by 则记为控制台操作员")
    person = get_person(session, by)
    if force and not person.has_role(Role.ADMIN):
        bad_input(f"--force 只能由管理员使用；{person.name}（{person.code}）不是管理员")
    return person.code


def _print_verdict(result: dict[str, Any]) -> None:
    comparison = result.get("comparison") or {}
    if comparison.get("current"):
        say(
            f"  留出样本（从未参与训练）{comparison['rows_scored']} 条上：宏平均F1 当前"
            f" {comparison['current_macro_f1']:.4f}（{comparison['current']}），新"
            f" {comparison['candidate_macro_f1']:.4f}；准确率 当前"
            f" {_percent(comparison['current_accuracy'])}，新"
            f" {_percent(comparison['candidate_accuracy'])}"
        )
    if result["promoted"]:
        head = "已启用新版本（--force 强制，已记入台账）" if result["forced"] else "已启用新版本"
    else:
        head = f"未启用，保留为候选版本；如确需启用：duban model promote {result['version']}"
    say(f"  {head}：{result['reason']}")
    if result["promoted"]:
        say(f"  已按新模型重新计算 {result['resuggested']} 件待分办的建议单位")
        if not result["trusted"]:
            say("  样本未达策略要求：模型只提供建议，所有留言进入待分办，由人工决定")
    missing = result.get("units_without_history") or []
    if missing:
        say(
            "  以下单位尚无已标注留言，模型暂不会分办给它们："
            + "、".join(f"{m['name']}（{m['unit']}）" for m in missing)
        )


def _label_map(path: Path | None) -> dict[str, str] | None:
    from routing.training import read_label_map

    return None if path is None else read_label_map(path)


def train(
    ctx: typer.Context,
    input: InputOpt,
    label_col: LabelOpt,
    title_col: TitleOpt = "留言主题",
    text_col: TextOpt = "留言详情",
    out: DirOutOpt = None,
    label_map: LabelMapOpt = None,
    seed: Annotated[int, typer.Option(help="随机种子 (seed)")] = 0,
    target_precision: Annotated[
        float, typer.Option("--target-precision", help="自动分办的目标精确率")
    ] = 0.97,
    segmenter: Annotated[str, typer.Option(help="分词器 rjieba | jieba")] = "rjieba",
    promote: Annotated[
        bool, typer.Option("--promote", help="训练后启用（须在留出样本上不差于当前版本）")
    ] = False,
    force: ForceOpt = False,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    from routing.training import train_file

    rt = runtime(ctx)
    mapping = _label_map(label_map)
    with rt.session() as session:
        who = _who(ctx, session, by, force)
        result = train_file(
            session,
            input,
            label_col=label_col,
            text_col=text_col,
            title_col=title_col,
            registry=_registry(ctx, out),
            policy=rt.policy.routing,
            data_dir=rt.settings.data_dir,
            now=rt.now(),
            by=who,
            label_map=mapping,
            engine=segmenter,
            seed=seed,
            target_precision=target_precision,
            promote=promote,
            force=force,
        )
    rt.forget_predictor()
    if json:
        emit_json(result)
        return
    say(f"模型版本 {result['version']}（{result['path']}）")
    say(
        f"  训练样本 {result['rows']} 条（另留出 {result['holdout_rows']} 条只作评估），"
        f"{len(result['labels'])} 个单位，跳过 {result['skipped']['count']} 行，"
        f"用时 {result['train_seconds']:.1f} 秒"
    )
    _print_metrics(result["metrics"])
    target = _percent(result["target_precision"])
    say(f"  自动分办阈值 {result['threshold']:.3f}（目标精确率 {target}）")
    _print_verdict(result)


# -- classify -------------------------------------------------------------------------------


def _predictor(ctx: typer.Context, model: Path | None, threshold: float | None = None):
    from classifier.predict import Predictor
    from classifier.segment import dictionary_sha256
    from classifier.train import user_dictionary

    settings = runtime(ctx).settings
    expected = dictionary_sha256(user_dictionary(settings.data_dir))
    return Predictor.load(
        model or settings.models_path, dictionary_sha256=expected, threshold=threshold
    )


def classify(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="要分办的一段文字 (one text)")] = None,
    model: ModelOpt = None,
    input: Annotated[
        Path | None, typer.Option("--input", help="CSV 文件，每行输出一个结果")
    ] = None,
    title_col: TitleOpt = "留言主题",
    text_col: TextOpt = "留言详情",
    threshold: Annotated[float | None, typer.Option(help="置信度阈值；默认用模型自己的")] = None,
    json: JsonOpt = False,
) -> None:
    from classifier.dataset import read_texts

    if (text is None) == (input is None):
        bad_input("请给出一段文字或 --input 文件（二者取一）(give a text or --input, not both)")
    if input is not None:
        table = read_texts(input, text_col=text_col, title_col=title_col)
        texts, rows = table.texts, table.rows
    else:
        texts, rows = [text or ""], [None]
    predictor = _predictor(ctx, model, threshold)
    predictions = predictor.predict(texts)
    for row, prediction in zip(rows, predictions, strict=True):
        if json:
            emit_json(prediction.as_dict())  # one line per row: JSON Lines
            continue
        where = f"第{row}行 " if row is not None else ""
        top = "，".join(f"{label} {p:.0%}" for label, p in prediction.top)
        verdict = "待人工分办" if prediction.abstain else "自动分办"
        say(
            f"{where}{prediction.label}（置信度 {prediction.confidence:.0%}，{verdict}）候选：{top}"
        )


# -- evaluate -------------------------------------------------------------------------------


def evaluate(
    ctx: typer.Context,
    input: InputOpt,
    label_col: LabelOpt,
    model: ModelOpt = None,
    title_col: TitleOpt = "留言主题",
    text_col: TextOpt = "留言详情",
    json: JsonOpt = False,
) -> None:
    from classifier.dataset import read_labelled
    from classifier.evaluation import evaluate as run_evaluation

    data = read_labelled(input, label_col=label_col, text_col=text_col, title_col=title_col)
    if not len(data):
        bad_input(f"{input}: 没有可评估的数据行 (no labelled rows)")
    predictor = _predictor(ctx, model)
    result = run_evaluation(predictor, data.texts, data.labels)
    result["skipped"] = data.skipped_summary()
    if json:
        emit_json(result)
        return
    say(f"模型 {result['version']}，{result['rows']} 条（跳过 {len(data.skipped)} 行）")
    _print_metrics(result)
    at = result["at_model_threshold"]
    say(
        f"  按模型阈值 {at['threshold']:.3f}：自动分办 {_percent(at['coverage'])}，"
        f"其中正确 {_percent(at['precision'])}"
    )
    say("  各类别 精确率 / 召回率 / F1 / 条数：")
    for label, row in result["per_class"].items():
        say(
            f"    {label:<10} {row['precision']:.3f} / {row['recall']:.3f} / {row['f1']:.3f}"
            f" / {row['support']}"
        )


# -- retrain --------------------------------------------------------------------------------


def retrain(
    ctx: typer.Context,
    base: Annotated[
        Path | None,
        typer.Option("--base", help="基础样本 CSV（标签列 单位代码）；默认 data/messages.csv"),
    ] = None,
    label_map: LabelMapOpt = None,
    force: ForceOpt = False,
    by: ByOpt = None,
    seed: Annotated[int, typer.Option(help="随机种子 (seed)")] = 0,
    json: JsonOpt = False,
) -> None:
    from classifier.registry import Registry
    from routing.training import retrain as run_retrain

    rt = runtime(ctx)
    settings = rt.settings
    mapping = _label_map(label_map)
    with rt.session() as session:
        who = _who(ctx, session, by, force)
        result = run_retrain(
            session,
            registry=Registry(settings.models_path),
            base_csv=base or settings.data_dir / "messages.csv",
            data_dir=settings.data_dir,
            policy=rt.policy.routing,
            now=rt.now(),
            by=who,
            label_map=mapping,
            force=force,
            seed=seed,
        )
    rt.forget_predictor()
    if json:
        emit_json(result)
        return
    say(
        f"台账标注 {result['ledger_rows']} 条 + 基础样本 {result['base_rows']} 条，"
        f"去重后 {result['labelled_rows']} 条（训练 {result['rows']} 条，留出"
        f" {result['holdout_rows']} 条只作评估）→ 新版本 {result['version']}"
    )
    _print_verdict(result)


# -- model status -----------------------------------------------------------------------------


def model_status(
    ctx: typer.Context,
    base: Annotated[
        Path | None,
        typer.Option("--base", help="基础样本 CSV（标签列 单位代码）；默认 data/messages.csv"),
    ] = None,
    curve: Annotated[
        bool, typer.Option("--curve/--no-curve", help="计算学习曲线（交叉验证，需几秒到几分钟）")
    ] = True,
    dir: DirOpt = None,
    json: JsonOpt = False,
) -> None:
    from routing.training import model_status as run_status

    rt = runtime(ctx)
    with rt.session() as session:
        status = run_status(
            session,
            registry=_registry(ctx, dir),
            base_csv=base or rt.settings.data_dir / "messages.csv",
            data_dir=rt.settings.data_dir,
            policy=rt.policy.routing,
            curve=curve,
        )
    if json:
        emit_json(status)
        return
    say(
        f"已标注留言 {status['labelled_rows']} 条（台账 {status['ledger_rows']} 条，"
        f"基础样本 {status['base_rows']} 条）；策略要求：共 {status['min_labelled_rows']} 条，"
        f"每单位 {status['min_labelled_rows_per_unit']} 条"
    )
    for problem in status["problems"]:
        say(f"  注意：{problem}")
    say("  各单位标注数：")
    for unit in status["units"]:
        mark = "" if unit["enough"] else "  ← 不足" if unit["labelled"] else "  ← 尚无已标注留言"
        say(f"    {unit['name']}（{unit['unit']}） {unit['labelled']} 条{mark}")
    if status["learning_curve"]:
        say("  学习曲线（交叉验证宏平均F1）：")
        for point in status["learning_curve"]:
            f1 = "样本太少" if point["macro_f1"] is None else f"{point['macro_f1']:.4f}"
            say(f"    {point['fraction']:.0%} 数据（{point['rows']} 条）：{f1}")
        say("    曲线仍在上升说明更多标注还会提高准确度；趋平后再增加收益有限。")
    model = status["model"]
    if model is None:
        say("  还没有启用的模型：所有留言进入待分办")
    else:
        trust = "可自动分办" if model["trusted"] else "只提供建议，由人工分办"
        recorded = "" if model["recorded"] else "；未在台账登记，将拒绝加载"
        if model["recorded"] and not model.get("stored_in_ledger", True):
            recorded = "；模型文件尚未存入台账，没有模型库的机器无法加载（请再 promote 一次）"
        say(f"  启用模型 {model['version']}（{model['rows']} 条训练样本）：{trust}{recorded}")
    say(
        "  结论："
        + (
            "各单位标注已达策略要求，可以放心启用自动分办"
            if status["ready"]
            else "标注尚未达到策略要求，暂由人工分办（模型给出建议）"
        )
    )


# -- model list | show | promote | rollback ---------------------------------------------------


def model_list(ctx: typer.Context, dir: DirOpt = None, json: JsonOpt = False) -> None:
    registry = _registry(ctx, dir)
    current = registry.current()
    rows = []
    for version in registry.versions():
        manifest = registry.manifest(version)
        cv = manifest.get("metrics", {}).get("cv", {})
        rows.append(
            {
                "version": version,
                "current": version == current,
                "created_at": manifest.get("created_at"),
                "rows": manifest.get("data", {}).get("rows"),
                "labels": len(manifest.get("labels", [])),
                "accuracy": cv.get("accuracy"),
                "macro_f1": cv.get("macro_f1"),
                "coverage_at_97": cv.get("coverage_at_97"),
                "threshold": manifest.get("threshold"),
                "segmenter": manifest.get("segmenter", {}).get("engine"),
            }
        )
    if json:
        emit_json(rows)
        return
    if not rows:
        say(f"{registry.root} 中还没有模型版本")
        return
    for row in rows:
        mark = "*" if row["current"] else " "
        say(
            f"{mark} {row['version']}  {row['rows']} 条  F1 {row['macro_f1']:.4f}  "
            f"覆盖率@97% {_percent(row['coverage_at_97'])}  阈值 {row['threshold']:.3f}"
        )


def model_show(
    ctx: typer.Context,
    version: Annotated[str | None, typer.Argument(help="版本号；默认当前启用的版本")] = None,
    dir: DirOpt = None,
    json: JsonOpt = False,
) -> None:
    registry = _registry(ctx, dir)
    folder = registry.folder(version) if version else registry.current_folder()
    manifest = registry.manifest(folder.name)
    manifest["current"] = folder.name == registry.current()
    manifest["path"] = str(folder)
    if json:
        emit_json(manifest)
        return
    say(f"模型版本 {manifest['version']}{'（当前启用）' if manifest['current'] else ''}")
    say(f"  目录 {folder}")
    say(f"  创建 {manifest.get('created_at')}，提交 {manifest.get('git_commit') or '-'}")
    data = manifest["data"]
    say(f"  数据 {data['rows']} 条，sha256 {data['sha256'][:16]}…")
    seg = manifest["segmenter"]
    say(
        f"  分词 {seg['engine']} {seg['version']}，用户词典 {seg['dictionary_words']} 词"
        f"（{seg['dictionary_sha256'][:12]}…）"
    )
    _print_metrics(manifest["metrics"]["cv"])
    target = _percent(manifest["target_precision"])
    say(f"  阈值 {manifest['threshold']:.3f}（目标精确率 {target}）")
    say(f"  流程 {manifest['pipeline']}")


def model_promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="要启用的版本号")],
    dir: DirOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    from routing.training import promote_version

    rt = runtime(ctx)
    with rt.session() as session:
        who = _who(ctx, session, by, False)
        state = promote_version(
            session, _registry(ctx, dir), version, by=who, now=rt.now(), action="manual"
        )
    rt.forget_predictor()
    if json:
        emit_json(state)
        return
    say(f"已启用模型版本 {state['version']}（校验值已记入台账）")
    say(f"  已按新模型重新计算 {state['resuggested']} 件待分办的建议单位")


def model_rollback(
    ctx: typer.Context, dir: DirOpt = None, by: ByOpt = None, json: JsonOpt = False
) -> None:
    from routing.training import promote_version

    rt = runtime(ctx)
    with rt.session() as session:
        who = _who(ctx, session, by, False)
        state = promote_version(
            session, _registry(ctx, dir), "", by=who, now=rt.now(), action="rollback"
        )
    rt.forget_predictor()
    if json:
        emit_json(state)
        return
    say(f"已回滚，当前启用模型版本 {state['version']}（校验值已记入台账）")
    say(f"  已按该模型重新计算 {state['resuggested']} 件待分办的建议单位")
