"""A new office trains its first model, end to end in a fresh folder: labels of another
district refused, accepted with a label map, triage re-suggested on promotion, a worse model
kept, not promoted. 云州市青溪县 and everyone in it are invented."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifier.dataset import read_labelled
from duban.cli import app
from tests.classifier.conftest import MESSAGES

runner = CliRunner()

UNITS = """\
units:
  - {code: dcs, name: 青溪县委县政府督查室, short: 督查室, kind: desk}
  - {code: zjj, name: 青溪县住房和城乡建设局, short: 住建局, aliases: [建设局]}
  - {code: zrzy, name: 青溪县自然资源局, short: 自然资源局, aliases: [国土局]}
  - {code: rsbj, name: 青溪县人力资源和社会保障局, short: 人社局, aliases: [社保局]}
  - {code: jyt, name: 青溪县教育体育局, short: 教体局, aliases: [教育局]}
  - {code: wjw, name: 青溪县卫生健康委员会, short: 卫健委, aliases: [卫生局]}
  - {code: sjj, name: 青溪县市场监督管理局, short: 市场监管局, aliases: [市监局]}
  - {code: nync, name: 青溪县农业农村局, short: 农业农村局, aliases: [农业局]}
  - {code: gaj, name: 青溪县公安局, short: 公安局, aliases: [派出所]}
  - {code: cgz, name: 青溪县城关镇人民政府, short: 城关镇, kind: street}
  - {code: bsz, name: 青溪县白石镇人民政府, short: 白石镇, kind: street}
  - {code: xkx, name: 青溪县溪口乡人民政府, short: 溪口乡, kind: street}
people:
  - {code: admin, name: 林秀英, roles: [admin, supervisor], unit: dcs}
  - {code: luru1, name: 唐明, roles: [intake], unit: dcs}
"""

# The sample district's labels (its unit codes) and where the county puts that work.
LABEL_MAP = """\
标签,单位
zjj,住建局
swj,住建局
jtj,住建局
cgj,城关镇
cdjd,城关镇
bjjd,白石镇
rsj,人社局
mzj,社保局
jyj,教体局
wjj,卫健委
scjg,市场监管局
nyj,农业农村局
sthj,国土局
gaj,公安局
jjdd,派出所
"""

MESSAGES_TODAY = """\
翠湖小区楼顶漏水，物业说要找住建部门，请尽快处理。

---

我在青溪大道一个工地干了三个月，老板拖欠工资两万多元，一直不给，请帮忙讨要。

---

青溪一中周末还在补课，作业太多，孩子每天写到半夜。
"""


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def history(path: Path, per_label: int) -> Path:
    """``per_label`` messages of each of the sample district's units, labelled by its codes."""
    data = read_labelled(MESSAGES, label_col="单位代码")
    taken: Counter[str] = Counter()
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["留言详情", "单位代码"])
        for text, label in zip(data.texts, data.labels, strict=True):
            if taken[label] < per_label:
                taken[label] += 1
                writer.writerow([text, label])
    return path


def test_a_new_office_trains_on_its_own_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "office" / "data"
    data.mkdir(parents=True)
    (data / "units.yaml").write_text(UNITS, encoding="utf-8")
    (data / "routing_rules.yaml").write_text("rules: []\n", encoding="utf-8")
    monkeypatch.setenv("DUBAN_DATA_DIR", str(data))
    code, _, err = run("init")
    assert code == 0, err
    code, out, err = run("intake", "--text", MESSAGES_TODAY, "--by", "luru1", "--json")
    assert code == 0, err
    assert json.loads(out)["triage"] == 3

    # The sample district's history: its labels are not the county's units.
    past = history(tmp_path / "past.csv", per_label=14)
    code, out, err = run("train", "--input", str(past), "--label-col", "单位代码", "--promote")
    assert (code, out) == (2, "")
    assert "--label-map" in err and "sthj（14 条）" in err and "jjdd（14 条）" in err
    assert "zjj（" not in err  # the county has a 住建局 with that code

    labels = tmp_path / "labels.csv"
    labels.write_text(LABEL_MAP, encoding="utf-8")
    code, out, err = run(
        "train", "--input", str(past), "--label-col", "单位代码", "--label-map", str(labels),
        "--promote", "--json",
    )  # fmt: skip
    assert code == 0, err
    first = json.loads(out)
    assert first["promoted"] and first["resuggested"] == 3
    assert first["units"] == [
        "bsz",
        "cgz",
        "gaj",
        "jyt",
        "nync",
        "rsbj",
        "sjj",
        "wjw",
        "zjj",
        "zrzy",
    ]
    assert [u["unit"] for u in first["units_without_history"]] == ["xkx"]
    assert first["trusted"] is False  # 210 rows, 168 trained on: below the policy's 200

    code, out, err = run("triage", "list", "--json")
    assert code == 0, err
    waiting = json.loads(out)
    assert len(waiting) == 3 and all(row["suggestions"] for row in waiting)

    # A model on a fraction of the history is kept, not promoted, and says why.
    few = history(tmp_path / "few.csv", per_label=3)
    code, out, err = run(
        "train", "--input", str(few), "--label-col", "单位代码", "--label-map", str(labels),
        "--promote",
    )  # fmt: skip
    assert code == 0, err
    assert "未启用，保留为候选版本" in out and "少于策略要求的 200 条" in out
    code, out, _ = run("model", "list", "--json")
    current = [row["version"] for row in json.loads(out) if row["current"]]
    assert current == [first["version"]]

    code, out, err = run("model", "status", "--base", str(past), "--no-curve", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["model"]["version"] == first["version"] and status["model"]["recorded"]
    assert status["model"]["trusted"] is False and status["ready"] is False
