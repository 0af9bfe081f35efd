"""``duban demo``: one week of 滨河区督查室, told on the console in a minute or two.

Embedded defaults only: a fresh SQLite ledger under ``var/demo``, jobs inline, the console
chat. The clock is the demo's own, so the week runs in seconds: Monday to Friday, the
day's export is imported at 09:00, the intake desk pastes what came by other channels,
units acknowledge, reply, ask for more time or send a ticket back, supervisors decide and
check, reminders go out as deadlines near, and on the next Monday the 督查周报 is written.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TextIO
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlmodel import col, select

from duban.runtime import Runtime
from duban.settings import REPO_ROOT, Settings
from intake.items import IntakeItem
from intake.outcome import outcome_text, summary_text
from intake.readers import ImportOptions, read_file
from ledger import schema
from ledger.directory import load_directory
from ledger.models import Message, Ticket, TicketState, Unit
from routing.pipeline import IntakeSummary, file_items
from routing.reminders import run_reminders

TZ = ZoneInfo("Asia/Shanghai")
# The demo district's files in the repository: never DUBAN_DATA_DIR or ./data of the
# current folder, which are an office's own.
DEMO_DATA = REPO_ROOT / "data"
WEEK = [date(2026, 11, 16) + timedelta(days=i) for i in range(5)]  # 2026-W47, Mon–Fri


@dataclass
class DemoClock:
    now: datetime = field(default_factory=lambda: _at(WEEK[0], 8, 30))

    def __call__(self) -> datetime:
        return self.now

    def set(self, day: date, hour: int, minute: int = 0) -> None:
        self.now = _at(day, hour, minute)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(UTC)


class DemoSettings(Settings):
    """The demo's settings are the ones it passes: no DUBAN_* variable and no ``.env`` file
    of an office (its data folder, model registry, database or queue) reaches the demo."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class Demo:
    def __init__(self, home: Path, out: TextIO) -> None:
        self.out = out
        self.clock = DemoClock()
        self.home = home
        self.rt = Runtime(
            settings=DemoSettings(home=home, data_dir=DEMO_DATA),
            clock=self.clock,
        )
        self.player: Any = None

    # -- narration ----------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def scene(self, title: str) -> None:
        local = self.clock.now.astimezone(TZ)
        weekday = "一二三四五六日"[local.weekday()]
        self.say()
        self.say(f"━━ {local:%Y-%m-%d} 星期{weekday} {local:%H:%M} ── {title} " + "━" * 8)

    # -- the story ----------------------------------------------------------------------------

    def run(self) -> None:
        started = time.monotonic()
        self.setup()
        self.train()
        from bots.console import ConsolePlayer

        self.player = ConsolePlayer(self.rt.routing, out=self.out)
        by_day = self.export_by_day()
        self.monday(by_day[WEEK[0]])
        self.tuesday(by_day[WEEK[1]])
        self.wednesday(by_day[WEEK[2]])
        self.thursday(by_day[WEEK[3]])
        self.friday(by_day[WEEK[4]])
        self.next_monday()
        self.say()
        seconds = time.monotonic() - started
        self.say(f"演示结束，用时 {seconds:.0f} 秒。演示台账: {self.home / 'duban.db'}")
        self.say(
            f"  再看一看：DUBAN_HOME={self.home} DUBAN_DATA_DIR={DEMO_DATA} "
            ".venv/bin/duban tickets list"
        )
        self.say(
            "  网页工作台：.venv/bin/duban web --demo  （打开 http://127.0.0.1:8000/ ，"
            "演示账号在启动时列出）"
        )

    def setup(self) -> None:
        self.scene("建库，导入单位和人员")
        schema.upgrade(self.rt.engine)
        with self.rt.session() as session:
            loaded = load_directory(session, self.rt.settings.data_dir / "units.yaml")
            units = session.exec(select(Unit).where(Unit.kind != "desk")).all()
        self.say(
            f"演示台账 {self.home / 'duban.db'}（SQLite，示例区县数据 {DEMO_DATA}），"
            f"{loaded.units_created} 个单位，"
            f"{loaded.people_created} 名人员。责任单位：" + "、".join(u.short_name for u in units)
        )

    def train(self) -> None:
        self.scene("用本区历史留言训练分办模型")
        from classifier.registry import Registry
        from classifier.train import train_from_csv

        data = self.rt.settings.data_dir / "messages.csv"
        started = time.monotonic()
        registry = Registry(self.rt.settings.models_path)
        result = train_from_csv(data, label_col="单位代码", registry=registry, promote=True)
        from routing.training import record_promotion  # the ledger keeps the model's sha256

        with self.rt.session() as session:
            record_promotion(session, registry, result["version"], by="demo", now=self.rt.now())
        self.say(
            f"训练完成：{result['rows']} 条样本，{len(result['labels'])} 个单位，"
            f"交叉验证准确率 {result['metrics']['accuracy']:.1%}，"
            f"自动分办阈值 {result['threshold']:.2f}（{time.monotonic() - started:.0f} 秒），"
            f"模型版本 {result['version']}"
        )

    def export_by_day(self) -> dict[date, list[IntakeItem]]:
        path = self.rt.settings.data_dir / "inbox.csv"
        by_day: dict[date, list[IntakeItem]] = defaultdict(list)
        for item in read_file(path, ImportOptions(tz=TZ, channel="留言板", submitter="luru1")):
            day = item.received_at.astimezone(TZ).date() if item.received_at else WEEK[2]
            by_day[min(max(day, WEEK[0]), WEEK[4])].append(item)
        return by_day

    def import_day(self, items: list[IntakeItem]) -> IntakeSummary:
        self.say(f"录入员 王晓燕 导入当日留言板导出（data/inbox.csv 中 {len(items)} 条）：")
        summary = file_items(self.rt.routing, items, keep_outcomes=True)
        self.say("  " + summary_text(summary))
        for outcome in summary.outcomes:
            text, _ = outcome_text(outcome, row_word="行")
            self.say("  " + text.replace("\n", "\n    "))
        self.deliver()
        return summary

    def chat(self, *lines: tuple[str, str, str]) -> None:
        self.player.play(lines)

    def deliver(self) -> None:
        self.player.deliver()

    def reminders(self) -> None:
        result = run_reminders(self.rt.routing)
        self.say(
            f"定时任务：临期提醒 {result.reminders}，超期催办 {result.overdue}，"
            f"通报 {result.escalated}，待分办超期 {result.triage_overdue}"
        )
        self.deliver()

    # -- helpers over the ledger ---------------------------------------------------------------

    def tickets(
        self, *states: TicketState, unit: str | None = None, by_due: bool = False
    ) -> list[tuple[str, str]]:
        """(number, unit code) of tickets in ``states``, oldest (or soonest due) first."""
        with self.rt.session() as session:
            units = {u.id: u.code for u in session.exec(select(Unit))}
            query = select(Ticket).where(col(Ticket.state).in_([s.value for s in states]))
            order = (col(Ticket.due_at), col(Ticket.id)) if by_due else (col(Ticket.id),)
            rows = [(t.number, units.get(t.unit_id)) for t in session.exec(query.order_by(*order))]
        return [(n, u) for n, u in rows if unit is None or u == unit]

    # What the desk knows better than a model trained on a small sample: a person
    # correcting the first suggestion is part of the story.
    DESK_KNOWS = (
        ("低保", "民政局"),
        ("养老", "民政局"),
        ("工资", "人社局"),
        ("社保", "人社局"),
        ("学区", "教育局"),
        ("电梯", "住建局"),
        ("医院", "卫健局"),
        ("食品", "市场监管局"),
    )

    def desk_knows(self, number: str) -> str | None:
        with self.rt.session() as session:
            ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
            message = session.get(Message, ticket.message_id)
            excluded = set(ticket.excluded_units or [])
            text = message.text if message else ""
            for word, unit in self.DESK_KNOWS:
                if word in text:
                    chosen = session.exec(select(Unit).where(Unit.short_name == unit)).first()
                    if chosen is not None and chosen.id not in excluded:
                        return unit
        return None

    def suggestions(self, number: str) -> list[dict[str, Any]]:
        with self.rt.session() as session:
            ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
            return list(ticket.suggestions)

    def member_of(self, unit: str) -> str:
        return {"zjj": "zjj-1", "cgj": "cgj-2", "bjjd": "bjjd-2"}.get(unit, f"{unit}-1")

    # -- the days ------------------------------------------------------------------------------

    LIFT = "金色家园7栋电梯长期停运"  # the leader's 批示件 (限2个工作日)
    SNACKS = "学府路小学门口早上有人卖烤肠"  # a phone note the desk first gives to 城管局
    REPLIES: ClassVar[list[str]] = [
        "已到现场核实，责令当事人立即整改，并电话回访了反映人。",
        "已约谈相关责任方，明确整改时限，将持续跟踪并向反映人反馈。",
        "经现场查看，问题属实，已协调相关部门处置完毕，群众表示满意。",
        "已安排专人跟进，本周内完成处置，处理情况已告知反映人。",
    ]

    def monday(self, items: list[IntakeItem]) -> None:
        self.clock.set(WEEK[0], 9)
        self.scene("周一：导入留言，自动分办")
        self.import_day(items)
        self.clock.set(WEEK[0], 10)
        self.scene("录入台：粘贴领导批示和来电")
        self.chat(
            (
                "luru1",
                "",
                f"批示件：请区住建局牵头，对{self.LIFT}问题限2个工作日内拿出维修方案并反馈。",
            ),
            (
                "luru1",
                "",
                "批示件：请区城管局对东湖菜市场周边占道经营开展专项整治，"
                "限3个工作日内反馈整治情况。\n---\n批示件：请区生态环境分局核查高新"
                "产业园夜间异味问题，限3个工作日内报告监测结果。\n---\n批示件：请区交警"
                "大队在学府路小学上下学时段加强疏导，限4个工作日内反馈。",
            ),
            (
                "luru1",
                "",
                "来电记录：东湖新城南门外的人行道被共享单车堵死了，推婴儿车根本过不去，"
                "已经一个多月了。\n---\n来电记录：学府路小学门口早上有人卖烤肠和辣条，"
                "油烟很大，孩子们围着买，食品安全让人担心。",
            ),
        )
        snacks = self.ticket_of_text(self.SNACKS)
        self.triage_all("luru1", override={snacks: "城管局"} if snacks else None)
        self.clock.set(WEEK[0], 15)
        self.scene("各单位签收")
        self.acknowledge_all()

    def triage_all(self, staff: str, override: dict[str, str] | None = None) -> None:
        """The desk picks a unit for every ticket in triage: the model's first suggestion
        (or ``override``'s unit for a ticket)."""
        waiting = self.tickets(TicketState.REGISTERED, TicketState.RETURNED)
        if not waiting:
            return
        self.say(f"录入台：{len(waiting)} 件待人工分办，逐件选定责任单位")
        lines = []
        for number, _ in waiting:
            suggestions = self.suggestions(number)
            unit = (
                (override or {}).get(number)
                or self.desk_knows(number)
                or (suggestions[0]["unit_name"] if suggestions else "城管局")
            )
            lines.append((staff, "", f"/分办 {number} {unit}"))
        self.chat(*lines)

    def acknowledge_all(self) -> None:
        lines = [
            (self.member_of(unit), "", f"/签收 {number}")
            for number, unit in self.tickets(TicketState.ASSIGNED)
            if unit
        ]
        self.quietly(lines, shown=4, what="由各单位经办人签收")

    def quietly(self, lines: list[tuple[str, str, str]], *, shown: int, what: str) -> None:
        """Play every line; print the first ``shown`` of them, summarise the rest."""
        self.chat(*lines[:shown])
        rest = lines[shown:]
        if rest:
            self.say(f"（其余 {len(rest)} 件{what}，过程从略）")
            saved, self.player.adapter.out = self.player.adapter.out, _Quiet()
            try:
                self.chat(*rest)
            finally:
                self.player.adapter.out = saved

    def tuesday(self, items: list[IntakeItem]) -> None:
        self.clock.set(WEEK[1], 9)
        self.scene("周二：导入、分办、退回错派件")
        self.import_day(items)
        self.reminders()
        self.triage_all("luru2")
        self.acknowledge_all()
        snacks = self.ticket_of_text(self.SNACKS)
        holder = self.unit_of(snacks) if snacks else None
        if snacks and holder:
            self.clock.set(WEEK[1], 10)
            self.chat(
                (
                    self.member_of(holder),
                    "",
                    f"/退回 {snacks} 校门口流动摊贩售卖的食品安全问题属市场监管部门职责，请改派",
                )
            )
            self.clock.set(WEEK[1], 10, 30)
            target = "市场监管局" if holder != "scjg" else "城管局"
            self.triage_all("luru2", override={snacks: target})
            self.acknowledge_all()
        self.clock.set(WEEK[1], 11)
        self.scene("单位反馈、申请延期，督查室审批")
        lift = self.ticket_of_text(self.LIFT)
        first_cgj = next((n for n, _ in self.tickets(TicketState.ACKNOWLEDGED, unit="cgj")), None)
        lines = self.reply_lines(exclude={n for n in (lift, first_cgj) if n}, limit=2)
        if first_cgj:
            lines.append(
                (
                    "cgj-2",
                    "",
                    f"/延期 {first_cgj} 5 涉及多个部门联合执法，需协调交警、市场监管共同整治",
                )
            )
        if lift:
            lines.append(("zjj-1", "", f"/延期 {lift} 3 电梯主板需向厂家订货，到货约需一周"))
        self.chat(*lines)
        self.clock.set(WEEK[1], 16)
        decisions = []
        if first_cgj:
            decisions.append(("ducha1", "", f"/批准延期 {first_cgj}"))
        if lift:
            decisions.append(
                ("ducha1", "", f"/驳回延期 {lift} 领导批示件须按时反馈方案，可先反馈阶段性进展")
            )
        self.chat(*decisions)

    def reply_lines(self, *, exclude: set[str], limit: int) -> list[tuple[str, str, str]]:
        """Units answer the acknowledged tickets due soonest (not those in ``exclude``)."""
        open_ones = [
            (n, u)
            for n, u in self.tickets(TicketState.ACKNOWLEDGED, by_due=True)
            if n not in exclude and u
        ]
        return [
            (self.member_of(unit), "", f"/回复 {number} {self.REPLIES[index % len(self.REPLIES)]}")
            for index, (number, unit) in enumerate(open_ones[:limit])
        ]

    def unit_of(self, number: str) -> str | None:
        with self.rt.session() as session:
            ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
            unit = session.get(Unit, ticket.unit_id) if ticket.unit_id else None
            return unit.code if unit else None

    def ticket_of_text(self, needle: str) -> str | None:
        with self.rt.session() as session:
            message = session.exec(
                select(Message).where(col(Message.text).contains(needle))
            ).first()
            if message is None:
                return None
            ticket = session.exec(
                select(Ticket).where(Ticket.message_id == (message.duplicate_of_id or message.id))
            ).first()
            return ticket.number if ticket else None

    def wednesday(self, items: list[IntakeItem]) -> None:
        self.clock.set(WEEK[2], 9)
        self.scene("周三：导入、临期提醒、核查（一件不通过，续办）")
        self.import_day(items)
        self.reminders()
        self.triage_all("luru1")
        self.acknowledge_all()
        self.clock.set(WEEK[2], 15)
        self.verify_replied(fail_first=True)

    def verify_replied(self, *, fail_first: bool = False) -> None:
        lines = []
        for index, (number, _) in enumerate(self.tickets(TicketState.REPLIED)):
            if fail_first and index == 0:
                lines.append(
                    ("ducha1", "", f"/核查 {number} 不通过 2 答复未说明整改措施和完成时间，请补充")
                )
            else:
                lines.append(("ducha1", "", f"/核查 {number} 通过 {5 - index % 2}"))
        self.chat(*lines)

    def thursday(self, items: list[IntakeItem]) -> None:
        self.clock.set(WEEK[3], 9)
        self.scene("周四：导入、超期催办、续办件重新反馈")
        self.import_day(items)
        self.reminders()
        self.triage_all("luru2")
        self.acknowledge_all()
        self.clock.set(WEEK[3], 14)
        lines = [
            (
                self.member_of(unit or ""),
                "",
                f"/回复 {number} 补充：已责令责任方于11月25日"
                "前完成整改，届时现场复查并回访反映人。",
            )
            for number, unit in self.tickets(TicketState.REOPENED)
        ]
        lift = self.ticket_of_text(self.LIFT)
        lines += self.reply_lines(exclude={lift} if lift else set(), limit=8)
        self.quietly(lines, shown=3, what="由各单位经办人反馈")

    def friday(self, items: list[IntakeItem]) -> None:
        self.clock.set(WEEK[4], 9)
        self.scene("周五：导入、核查、归档")
        self.import_day(items)
        self.reminders()
        self.triage_all("luru1")
        self.acknowledge_all()
        self.clock.set(WEEK[4], 16)
        self.chat(("ducha1", "", "/待办"))
        self.verify_replied()
        verified = self.tickets(TicketState.VERIFIED)
        self.quietly(
            [("ducha1", "", f"/归档 {number}") for number, _ in verified],
            shown=2,
            what="由督查室归档",
        )

    def next_monday(self) -> None:
        monday = WEEK[0] + timedelta(days=7)
        self.clock.set(monday, 9)
        self.scene("下周一：超期通报与督查周报")
        self.reminders()
        lift = self.ticket_of_text(self.LIFT)
        if lift and self.unit_of(lift):
            self.clock.set(monday, 10)
            self.chat(
                (
                    "zjj-ld",
                    "",
                    f"/回复 {lift} 已督促物业更换电梯主板，11月24日恢复运行，"
                    "后续纳入老旧电梯更新计划。",
                )
            )
        from reports.post import weekly_chat

        with self.rt.session() as session:
            report = weekly_chat(
                session,
                now=self.rt.now(),
                rules=self.rt.rules,
                policy=self.rt.policy.ranking,
                out_dir=self.rt.settings.reports_path,
                office=self.rt.policy.office,
                task_policy=self.rt.policy.tasks,
            )
        self.say()
        self.say(report.text)
        self.say()
        self.say(f"周报文件已写入 {Path(report.files['md']).parent}：")
        for path in [*report.files.values(), *report.charts]:
            self.say(f"  {path}")


class _Quiet:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        return None


def run_demo(home: Path | None = None, out: TextIO | None = None) -> Path:
    """Run the whole story on a fresh ledger under ``home`` (default var/demo)."""
    home = home or REPO_ROOT / "var" / "demo"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    Demo(home, out or sys.stdout).run()
    return home
