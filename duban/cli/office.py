"""``duban office new DIR``: a data folder of an office's own, written from templates.

The repository's ``data/`` is the demo district; an office keeps its units, rules, policy
and calendar in a folder of its own and points ``DUBAN_DATA_DIR`` at it.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from duban.cli.common import JsonOpt, bad_input, emit_json, say

# file -> what it holds, in the order an office edits them
TEMPLATE_FILES = {
    "units.yaml": "单位、人员和本地地名（先改这个）",
    "routing_rules.yaml": "分办规则（目前为空）",
    "policy.yaml": "时限、催办、分办、讲评、报表抬头",
    "calendar.yaml": "节假日安排（国务院通知发布后录入）",
    "terms.txt": "分词用的本地词表（可空）",
}
DISTRICT_PLACEHOLDER = "某某县"
CITY_PLACEHOLDER = "某某市"
_NAME = re.compile(r"[\w·（）()]{1,32}")


def register(app: typer.Typer) -> None:
    office = typer.Typer(help="本单位数据目录 (an office's own data folder)", no_args_is_help=True)
    office.command("new", help="按模板新建数据目录 (write a data folder from templates)")(new)
    app.add_typer(office, name="office")


def template_text(name: str) -> str:
    """A template file shipped with duban (``duban/templates/office/``)."""
    return (
        resources.files("duban").joinpath("templates", "office", name).read_text(encoding="utf-8")
    )


def write_office(folder: Path, *, district: str | None, city: str | None) -> list[Path]:
    """Write the templates into ``folder`` (created if needed); refuses to overwrite."""
    for value, option in ((district, "--district"), (city, "--city")):
        if value is not None and not _NAME.fullmatch(value):
            bad_input(f"{option}: 「{value}」不是地名（只可用汉字、字母、数字，最多 32 字）")
    if folder.exists() and not folder.is_dir():
        bad_input(f"{folder}: 已存在且不是目录")
    taken = [name for name in TEMPLATE_FILES if (folder / name).exists()]
    if taken:
        bad_input(f"{folder}: 已有 {'、'.join(taken)}，不覆盖（请换一个目录，或先移走这些文件）")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        bad_input(f"{folder}: 无法建立目录：{exc.strerror}")
    written = []
    for name in TEMPLATE_FILES:
        text = template_text(name)
        if district:
            text = text.replace(DISTRICT_PLACEHOLDER, district)
        if city:
            text = text.replace(CITY_PLACEHOLDER, city)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def new(
    folder: Annotated[Path, typer.Argument(help="数据目录 (the folder to create)")],
    district: Annotated[
        str | None, typer.Option("--district", help="区县名称，如 青溪县 (district name)")
    ] = None,
    city: Annotated[str | None, typer.Option("--city", help="所属市，如 云州市 (city)")] = None,
    json: JsonOpt = False,
) -> None:
    folder = folder.expanduser().resolve()
    written = write_office(folder, district=district, city=city)
    env = {"DUBAN_DATA_DIR": str(folder), "DUBAN_HOME": str(folder / "var")}
    if json:
        emit_json({"folder": folder, "files": written, "env": env})
        return
    say(f"已建立本单位数据目录 {folder}：")
    for name, what in TEMPLATE_FILES.items():
        say(f"  {name:<20}{what}")
    say("")
    say("下一步：")
    say("  1. 编辑 units.yaml：本区县的单位（代码、全称、简称、别名）、人员和角色、本地地名；")
    say("     需要时在 routing_rules.yaml 写分办规则，在 policy.yaml 改时限和报表抬头。")
    say("  2. 让 duban 使用这个目录（写进 ~/.profile，或当前目录的 .env 文件）：")
    for key, value in env.items():
        say(f"       export {key}={value}")
    say("     DUBAN_HOME 是台账、模型和报表所在的目录；仓库里的 data/ 是演示用的示例区县，")
    say("     不要改它，make demo 只读它。")
    say("  3. duban init                  建库，并核对名册、分办规则、办理规则和日历")
    say("  4. duban intake 留言导出.xlsx   导入留言（还没有分办模型时，全部进入人工分办）")
    say("  5. duban triage list           人工分办；每次分办都成为训练样本，积累后用")
    say("     duban retrain 训练本单位的分办模型（见 duban train --help）")
    say("  6. duban bot --console         在控制台试用聊天机器人（或 --telegram / --matrix）")
