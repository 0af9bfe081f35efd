"""A new office's first day, end to end in a fresh folder: scaffold, its own 11 units, the
rules checked by ``duban init`` (refused, fixed, accepted), an intake that goes to triage
without a model. 云州市青溪县 and everyone in it are invented."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from duban.cli import app
from duban.settings import REPO_ROOT

runner = CliRunner()

COUNTY_UNITS = """\
district:
  name: 青溪县
  city: 云州市
  places:
    streets: [城关镇, 白石镇, 溪口乡]
    communities: [南门社区, 北街社区, 白石村, 溪口村]
    roads: [青溪大道, 建设路, 滨溪路]
    estates: [翠湖小区, 溪畔花园]
    landmarks: [青溪县人民医院, 青溪一中, 白石水库]

units:
  - {code: dcs, name: 青溪县委县政府督查室, short: 督查室, aliases: [县督查室], kind: desk}
  - {code: zjj, name: 青溪县住房和城乡建设局, short: 住建局, aliases: [县住建局, 建设局]}
  - {code: zrzy, name: 青溪县自然资源局, short: 自然资源局, aliases: [国土局]}
  - {code: rsbj, name: 青溪县人力资源和社会保障局, short: 人社局, aliases: [社保局, 劳动监察]}
  - {code: jyt, name: 青溪县教育体育局, short: 教体局, aliases: [教育局]}
  - {code: wjw, name: 青溪县卫生健康委员会, short: 卫健委, aliases: [卫生局, 卫健局]}
  - {code: sjj, name: 青溪县市场监督管理局, short: 市场监管局, aliases: [市监局, 工商局]}
  - {code: nync, name: 青溪县农业农村局, short: 农业农村局, aliases: [农业局]}
  - {code: gaj, name: 青溪县公安局, short: 公安局, aliases: [派出所]}
  - {code: cgz, name: 青溪县城关镇人民政府, short: 城关镇, aliases: [城关镇政府], kind: street}
  - {code: bsz, name: 青溪县白石镇人民政府, short: 白石镇, aliases: [白石镇政府], kind: street}

people:
  - {code: admin, name: 林秀英, roles: [admin, supervisor], unit: dcs}
  - {code: luru1, name: 唐明, roles: [intake], unit: dcs}
  - {code: zjj-1, name: 邓国平, roles: [leader, member], unit: zjj}
  - {code: rsbj-1, name: 钟慧, roles: [leader, member], unit: rsbj}
  - {code: cgz-1, name: 罗建华, roles: [leader, member], unit: cgz}
"""

# What an office copies from the sample district's file: its rule names the sample's 'rsj'.
RULES = """\
rules:
  - name: 批示件点名牵头单位
    source: 批示件
    named_unit: true

  - name: 拖欠工资
    regex: "(拖欠|克扣|不发|没发|讨要).{0,8}(工资|工钱|薪水|劳务费)"
    unit: rsj
"""

MESSAGES = """\
建设路翠湖小区门口的路灯坏了半个月，晚上老人出门很不安全，请尽快修好。

---

白石镇溪口村到镇上的公交车一天只有两班，孩子上学很不方便，希望增加班次。

---

我在青溪大道一个工地干了三个月，老板拖欠工资两万多元，一直不给，请帮忙讨要。

---

南门社区有商户占用人行道摆摊，行人只能走机动车道，存在安全隐患。
"""


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_a_new_office_from_scaffold_to_triage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_data = _digest(REPO_ROOT / "data")
    monkeypatch.chdir(tmp_path)  # a fresh folder, not the repository
    office = tmp_path / "青溪县督查室" / "data"

    # 1. scaffold, and point duban at it the way the next steps say
    code, out, err = run("office", "new", str(office), "--district", "青溪县", "--json")
    assert code == 0, err
    env = json.loads(out)["env"]
    assert env["DUBAN_DATA_DIR"] == str(office)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ledger = Path(env["DUBAN_HOME"]) / "duban.db"

    # 2. the county's own units; rules copied from the sample district
    (office / "units.yaml").write_text(COUNTY_UNITS, encoding="utf-8")
    (office / "routing_rules.yaml").write_text(RULES, encoding="utf-8")

    # 3. init refuses the rule that names a unit the county does not have, before any ledger
    code, out, err = run("init")
    assert (code, out) == (2, "")
    assert "routing_rules.yaml" in err and "rules[1] (拖欠工资)" in err and "'rsj'" in err
    assert not ledger.exists()

    # 4. fixed (by the unit's short name), accepted
    (office / "routing_rules.yaml").write_text(
        RULES.replace("unit: rsj", "unit: 人社局"), encoding="utf-8"
    )
    code, out, err = run("init", "--json")
    assert code == 0, err
    loaded = json.loads(out)
    assert (loaded["units_created"], loaded["people_created"]) == (11, 5)
    assert loaded["data_dir"] == str(office) and loaded["warnings"] == []
    assert ledger.exists()
    code, out, _ = run("units", "list", "--json")
    assert code == 0
    assert len(json.loads(out)) == 11

    # 5. intake without a model: the wage matter by the rule, the rest to a person
    code, out, err = run("intake", "--text", MESSAGES, "--by", "luru1", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["received"], summary["opened"], summary["triage"]) == (4, 1, 3)
    opened = [o for o in summary["outcomes"] if o["status"] == "opened"]
    assert [o["unit_name"] for o in opened] == ["人社局"]
    code, out, err = run("triage", "list", "--json")
    assert code == 0, err
    waiting = json.loads(out)
    assert len(waiting) == 3
    assert all(row["suggestions"] == [] for row in waiting)  # no model, no guesses

    # the demo district in the repository is untouched
    assert _digest(REPO_ROOT / "data") == demo_data
