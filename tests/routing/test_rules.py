"""routing_rules.yaml read on its own (a worker, a script): errors in Chinese with the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.models import SourceKind, Unit
from routing.errors import BadRules
from routing.rules import load_rules

UNITS = [Unit(code="dcs", name="区督查室", short_name="督查室", aliases=[])]
GOOD = "rules:\n  - name: 拖欠工资\n    keywords: [拖欠工资]\n    unit: dcs\n"


def _rules(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "routing_rules.yaml"
    path.write_bytes(body)
    return path


def test_a_gbk_file_is_refused_in_chinese_not_a_traceback(tmp_path: Path) -> None:
    """It was a UnicodeDecodeError outside duban init and the CLI runtime."""
    path = _rules(tmp_path, GOOD.encode("gbk"))
    with pytest.raises(BadRules) as refused:
        load_rules(path, UNITS)
    assert "第 2 行不是 UTF-8 编码" in refused.value.user and "GBK" in refused.value.user
    assert load_rules(_rules(tmp_path, GOOD.encode("utf-8-sig")), UNITS).decide(
        "拖欠工资三个月", SourceKind.ONLINE
    ) == ("dcs", "拖欠工资")


def test_a_misspelt_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = _rules(tmp_path, GOOD.replace("unit:", "unti:").encode())
    with pytest.raises(BadRules) as refused:
        load_rules(path, UNITS)
    assert "rules[0]: 第 4 行：未知的键「unti」" in refused.value.user
    assert "unit" in refused.value.user.split("可用的键")[1]


def test_other_mistakes_in_chinese(tmp_path: Path) -> None:
    cases = {
        "rule:\n  - name: a\n": "第 1 行：未知的键「rule」",
        "rules:\n  - name: a\n    name: b\n": "第 3 行第 5 列",
        "rules:\n  - name: a\n    keywords: [x]\n    unit: zzz\n": "找不到单位 'zzz'",
        "rules:\n  - name: a\n    unit: dcs\n": "至少要有一个条件",
        "rules: 1\n": "rules 须为列表",
    }
    for body, needle in cases.items():
        with pytest.raises(BadRules) as refused:
            load_rules(_rules(tmp_path, body.encode()), UNITS)
        assert needle in refused.value.user, (body, refused.value.user)
