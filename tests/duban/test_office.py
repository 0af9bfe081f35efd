"""``duban office new``, ``duban init``'s checks of a data folder, and a demo that keeps to
the repository's demo district."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from classifier.segment import term_words
from duban.cli import app
from duban.cli.office import TEMPLATE_FILES
from duban.settings import REPO_ROOT
from ledger.calendar import parse_overrides
from ledger.directory import read_directory
from ledger.policy import load_policy
from routing.rules import load_rules

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "office" / "data"
    code, _, err = run("office", "new", str(folder), "--district", "青溪县", "--city", "云州市")
    assert code == 0, err
    monkeypatch.setenv("DUBAN_DATA_DIR", str(folder))
    monkeypatch.setenv("DUBAN_HOME", str(tmp_path / "office" / "var"))
    return folder


def test_office_new_writes_every_file_and_the_next_steps(tmp_path: Path) -> None:
    folder = tmp_path / "qingxi"
    code, out, err = run("office", "new", str(folder), "--district", "青溪县")
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == sorted(TEMPLATE_FILES)
    assert f"export DUBAN_DATA_DIR={folder}" in out
    assert "duban init" in out and "下一步" in out and "make demo" in out
    units = read_directory(folder / "units.yaml")
    assert units["district"]["name"] == "青溪县"
    assert [u["kind"] for u in units["units"]] == ["desk"]
    assert load_rules(folder / "routing_rules.yaml", []).rules == []
    assert load_policy(folder / "policy.yaml").office.name == "青溪县人民政府督查室"
    assert parse_overrides(folder / "calendar.yaml") == {}
    assert term_words(folder / "terms.txt") == []
    for name in TEMPLATE_FILES:  # comments in Chinese
        comments = [line for line in (folder / name).read_text("utf-8").splitlines() if "#" in line]
        assert comments and any("\u4e00" <= ch <= "\u9fff" for ch in comments[0]), name


def test_office_new_json_and_it_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "office"
    code, out, _ = run("office", "new", str(folder), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["env"]["DUBAN_DATA_DIR"] == str(folder)
    assert len(result["files"]) == len(TEMPLATE_FILES)
    (folder / "units.yaml").write_text("# 已编辑\n", encoding="utf-8")
    code, out, err = run("office", "new", str(folder))
    assert (code, out) == (2, "")
    assert "units.yaml" in err and "不覆盖" in err
    assert (folder / "units.yaml").read_text(encoding="utf-8") == "# 已编辑\n"
    code, _, err = run("office", "new", str(tmp_path / "x"), "--district", "a: b")
    assert code == 2 and "--district" in err


def _keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    out = set()
    for key, value in node.items():
        out.add(prefix + str(key))
        out |= _keys(value, f"{prefix}{key}.")
    return out


def test_the_policy_template_has_the_keys_of_the_demo_policy() -> None:
    """Whoever adds a policy key to data/policy.yaml adds it to the office template too."""
    demo = yaml.safe_load((REPO_ROOT / "data" / "policy.yaml").read_text(encoding="utf-8"))
    template_path = REPO_ROOT / "duban" / "templates" / "office" / "policy.yaml"
    template = yaml.safe_load(template_path.read_text(encoding="utf-8"))
    missing = sorted(_keys(demo) - _keys(template))
    extra = sorted(_keys(template) - _keys(demo))
    assert not missing, f"add to {template_path}: {missing}"
    assert not extra, f"not in data/policy.yaml: {extra}"
    load_policy(template_path)


def test_the_templates_are_package_data() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "templates/office/*" in pyproject["tool"]["setuptools"]["package-data"]["duban"]


@pytest.mark.parametrize(
    ("file", "body", "needles"),
    [
        (
            "routing_rules.yaml",
            "rules:\n  - name: 批示件点名\n    named_unit: true\n"
            "  - name: 拖欠工资\n    keywords: [欠薪]\n    unit: rsj\n",
            ["分办规则有误", "rules[1] (拖欠工资)", "'rsj'", "台账未改动"],
        ),
        ("routing_rules.yaml", "rules:\n  - name: 空规则\n    unit: dcs\n", ["rules[0] (空规则)"]),
        ("policy.yaml", "deadlines:\n  online: 0\n", ["办理规则有误", "deadlines.online"]),
        ("policy.yaml", "deadline:\n  online: 5\n", ["办理规则有误", "deadline"]),
        (
            "calendar.yaml",
            "years:\n  2027:\n    holidays: [2027-02-30]\n",
            ["节假日安排有误", "years.2027.holidays[0]"],
        ),
        ("units.yaml", "units:\n  - {code: a, name: 甲}\n", ["单位名册有误", "units[0]"]),
    ],
)
def test_init_refuses_a_bad_entry_and_leaves_the_ledger_alone(
    office: Path, file: str, body: str, needles: list[str]
) -> None:
    (office / file).write_text(body, encoding="utf-8")
    code, out, err = run("init")
    assert (code, out) == (2, ""), err
    for needle in needles:
        assert needle in err, needle
    assert not (office.parent / "var" / "duban.db").exists()


def test_init_refuses_a_rule_for_a_unit_no_longer_active(office: Path) -> None:
    units = (office / "units.yaml").read_text(encoding="utf-8")
    units = units.replace(
        "units:\n",
        "units:\n  - {code: old, name: 青溪县旧局, short: 旧局, active: false}\n",
    )
    (office / "units.yaml").write_text(units, encoding="utf-8")
    (office / "routing_rules.yaml").write_text(
        "rules:\n  - name: 旧规则\n    keywords: [旧事]\n    unit: 旧局\n", encoding="utf-8"
    )
    code, _, err = run("init")
    assert code == 2 and "rules[0] (旧规则)" in err


def test_init_warns_about_a_published_year_missing_a_statutory_day(office: Path) -> None:
    (office / "calendar.yaml").write_text(
        "years:\n  2027:\n    published: true\n"
        "    holidays: [2027-01-01, [2027-02-05, 2027-02-12]]\n",
        encoding="utf-8",
    )
    code, out, err = run("init", "--json")
    assert code == 0, err
    warnings = json.loads(out)["warnings"]
    assert len(warnings) == 1 and "2027-09-15（中秋节）" in warnings[0]
    assert "2027-02-05" not in warnings[0]


def test_init_on_the_demo_data_is_accepted() -> None:
    code, out, err = run("init", "--json")
    assert code == 0, err
    assert json.loads(out)["data_dir"] == str(REPO_ROOT / "data")


def test_the_demo_reads_the_repository_data_whatever_the_office_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from duban.demo import DEMO_DATA, Demo

    office = tmp_path / "office"
    office.mkdir()
    (office / "units.yaml").write_text("units: [oops\n", encoding="utf-8")  # broken
    for key, value in {
        "DUBAN_DATA_DIR": str(office),
        "DUBAN_MODEL_DIR": str(tmp_path / "office-models"),
        "DUBAN_REPORT_DIR": str(tmp_path / "office-reports"),
        "DUBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'office.db'}",
        "DUBAN_TIMEZONE": "Asia/Urumqi",
    }.items():
        monkeypatch.setenv(key, value)
    work = tmp_path / "cwd"
    work.mkdir()
    (work / ".env").write_text(f"DUBAN_DATA_DIR={office}\n", encoding="utf-8")
    (work / "data").mkdir()  # an office's ./data in the current folder
    monkeypatch.chdir(work)
    home = tmp_path / "demo"
    out = io.StringIO()
    demo = Demo(home, out)
    settings = demo.rt.settings
    assert DEMO_DATA == REPO_ROOT / "data"
    assert settings.data_dir == DEMO_DATA
    assert settings.models_path == home / "models"
    assert settings.reports_path == home / "reports"
    assert settings.db_url == f"sqlite:///{home / 'duban.db'}"
    assert settings.timezone == "Asia/Shanghai"
    demo.setup()
    text = out.getvalue()
    assert f"演示台账 {home / 'duban.db'}" in text and str(DEMO_DATA) in text
    assert not (tmp_path / "office.db").exists()


def test_the_units_template_explains_every_role() -> None:
    from ledger.models import Role

    text = (REPO_ROOT / "duban" / "templates" / "office" / "units.yaml").read_text("utf-8")
    for role in Role:
        assert f"{role.value} " in text, role


_UNITS = "units:\n  - {code: dcs, name: 青溪县督查室, short: 督查室, kind: desk}\n"
_PERSON = "people:\n  - {code: admin, name: 管理员, roles: [admin], unit: dcs}\n"
_BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'


@pytest.mark.parametrize(
    ("file", "body", "needles"),
    [
        # each of these was a UnicodeDecodeError traceback (exit 1)
        ("units.yaml", (_UNITS + _PERSON).encode("gbk"), ["单位名册有误", "第 2 行", "GBK"]),
        ("units.yaml", (_UNITS + _PERSON).encode("utf-16"), ["单位名册有误", "UTF-16"]),
        ("units.yaml", bytes(range(256)), ["单位名册有误", "二进制"]),
        # accepted: an empty file would have deactivated every unit and person
        ("units.yaml", b"", ["单位名册有误", "至少要有一个单位"]),
        # accepted: a misspelt key was ignored (the unit silently had no parent)
        ("units.yaml", _UNITS.replace("kind", "prent").encode(), ["units[0]", "prent"]),
        # accepted: a quoted 'false' is a true value, so the unit stayed active
        (
            "units.yaml",
            _UNITS.replace("kind: desk", "kind: desk, active: 'false'").encode(),
            ["units[0].active", "true 或 false"],
        ),
        # accepted: a null alias was stored as the alias "None"
        (
            "units.yaml",
            _UNITS.replace("kind: desk", "kind: desk, aliases: [督查, null]").encode(),
            ["units[0].aliases[1]", "不能为空"],
        ),
        # accepted: units that are each other's parent
        (
            "units.yaml",
            (
                _UNITS + "  - {code: a, name: 甲局, short: 甲, parent: b}\n"
                "  - {code: b, name: 乙局, short: 乙, parent: a}\n"
            ).encode(),
            ["units[1].parent", "循环"],
        ),
        # accepted: two units with the same 简称 cannot be told apart on cards and reports
        (
            "units.yaml",
            (_UNITS + "  - {code: b, name: 乙局, short: 督查室}\n").encode(),
            ["units[1]", "简称「督查室」"],
        ),
        # accepted: a full-width code nobody can type on the command line
        ("units.yaml", _UNITS.replace("dcs", "ｄｃｓ").encode(), ["units[0].code", "全角"]),
        # a place that is not a list made every later intake fail
        (
            "units.yaml",
            ("district:\n  name: 青溪县\n  places: 东湖路\n" + _UNITS).encode(),
            ["district.places", "映射"],
        ),
        ("units.yaml", (_BOMB + _UNITS).encode(), ["单位名册有误", "别名"]),
        ("units.yaml", (_UNITS + "  - {code: x\n").encode(), ["第 4 行", "YAML 格式有误"]),
        ("units.yaml", _UNITS.replace("  - {", "\t- {").encode(), ["第 2 行", "Tab"]),
        # policy: a key given twice kept the last, and a quoted boolean was accepted
        ("policy.yaml", b"deadlines:\n  online: 15\n  online: 3\n", ["办理规则有误", "两次"]),
        ("policy.yaml", b"intake:\n  redact_for_units: 'no'\n", ["intake.redact_for_units"]),
        # an impossible first week or month was accepted (the 期号 count broke later)
        ("policy.yaml", b"office:\n  first_week: 2027-W60\n", ["office.first_week", "2027-W60"]),
        ("policy.yaml", b"office:\n  first_month: 2027-13\n", ["office.first_month", "2027-13"]),
        # the pydantic messages were English only
        ("policy.yaml", "deadlines:\n  online: 十五\n".encode(), ["deadlines.online", "须为整数"]),
        ("policy.yaml", "deadlines:\n  时限: 15\n".encode(), ["deadlines.时限", "未知的键"]),
        ("policy.yaml", b"deadlines:\n  online: -3\n", ["deadlines.online", "不能小于 1"]),
        # calendar: a 调休 working day on a weekday was accepted
        (
            "calendar.yaml",
            b"years:\n  2027:\n    workdays: [2027-03-03]\n",
            ["years.2027.workdays[0]", "星期三", "周六或周日"],
        ),
        ("calendar.yaml", (_BOMB + "years: {}\n").encode(), ["节假日安排有误", "别名"]),
        ("calendar.yaml", "years: {}\n".encode("utf-16"), ["节假日安排有误", "UTF-16"]),
        # a UnicodeDecodeError traceback from routing.rules
        (
            "routing_rules.yaml",
            "rules:\n  - name: 拖欠工资\n    keywords: [拖欠工资]\n    unit: dcs\n".encode("gbk"),
            ["分办规则有误", "GBK"],
        ),
    ],
)
def test_init_refuses_hostile_office_files_in_chinese(
    office: Path, file: str, body: bytes, needles: list[str]
) -> None:
    (office / file).write_bytes(body)
    code, out, err = run("init")
    assert (code, out) == (2, ""), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (office.parent / "var" / "duban.db").exists()


def test_init_refuses_an_oversized_units_file(office: Path) -> None:
    # a 200 MB units.yaml took minutes and a gigabyte before anything was said
    with (office / "units.yaml").open("w", encoding="utf-8") as handle:
        handle.write(_UNITS + _PERSON)
        handle.write("# " + "x" * (9 * 1024 * 1024) + "\n")
    code, _, err = run("init")
    assert code == 2 and "超过 8 MB" in err, err


def test_init_accepts_a_units_file_with_a_byte_order_mark(office: Path) -> None:
    (office / "units.yaml").write_bytes(("\ufeff" + _UNITS + _PERSON).encode())
    code, _, err = run("init")
    assert code == 0, err
