"""Colours on the working-day calendar: holidays and 调休 days count as the office counts."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.models import Task, TaskMilestone
from ledger.policy import TaskPolicy
from tasks.colours import Colour, last_workday_of_month, status_of
from tests.helpers import local, rules_for

RULES = rules_for()
POLICY = TaskPolicy()  # warn_days 3, a report every 5 working days


def task(
    *,
    due: date | None = date(2026, 10, 12),
    state: str = "progressing",
    assigned=None,
    last_report=None,
    ongoing: bool = False,
) -> Task:
    return Task(
        number="RW-2026-0001",
        title="t",
        source_kind="key",
        lead_unit_id=1,
        state=state,
        ongoing=ongoing,
        report_monthly=ongoing,
        due_date=due,
        due_at=RULES.end_of_day(due) if due else None,
        created_at=local(2026, 9, 1),
        assigned_at=assigned or local(2026, 9, 28, 9),
        last_report_at=last_report,
    )


@pytest.mark.parametrize(
    ("now", "colour", "left"),
    [
        # due Mon 12 Oct; the National Day holiday (1–7 Oct) is not counted,
        # Thu 8, Fri 9 and the 调休 Saturday 10 Oct are
        (local(2026, 9, 29), Colour.GREEN, 5),  # 30 Sep, 8, 9, 10, 12 Oct
        (local(2026, 9, 30), Colour.GREEN, 4),
        (local(2026, 10, 7), Colour.GREEN, 4),  # a week of holiday later: still 4 left
        (local(2026, 10, 8), Colour.BLUE, 3),  # within warn_days (3)
        (local(2026, 10, 9), Colour.BLUE, 2),
        (local(2026, 10, 10, 17), Colour.BLUE, 1),  # the working Saturday
        (local(2026, 10, 12, 23, 59), Colour.BLUE, 0),  # the due day itself
        (local(2026, 10, 13, 0, 1), Colour.RED, -1),
    ],
)
def test_deadline_colours_across_the_national_day_holiday(now, colour, left) -> None:
    fresh = task(last_report=now)  # reporting on time: only the deadline speaks
    status = status_of(fresh, [], rules=RULES, policy=POLICY, now=now)
    assert (status.colour, status.workdays_left) == (colour, left)


def test_the_report_cadence_counts_working_days_not_calendar_days() -> None:
    reported = task(due=date(2026, 12, 31), last_report=local(2026, 9, 29, 10))
    # 30 Sep, 8, 9, 10 Oct: four working days in two weeks of calendar: still green
    assert status_of(reported, [], rules=RULES, policy=POLICY, now=local(2026, 10, 10)).colour == (
        Colour.GREEN
    )
    # 12 Oct is the 5th: still allowed; 13 Oct the 6th: yellow
    assert status_of(reported, [], rules=RULES, policy=POLICY, now=local(2026, 10, 12)).colour == (
        Colour.GREEN
    )
    late = status_of(reported, [], rules=RULES, policy=POLICY, now=local(2026, 10, 13))
    assert late.colour == Colour.YELLOW and "6 个工作日未报送进展" in late.text


def test_before_any_report_the_cadence_counts_from_assignment() -> None:
    fresh = task(due=date(2026, 12, 31), assigned=local(2026, 11, 2, 9))
    assert status_of(fresh, [], rules=RULES, policy=POLICY, now=local(2026, 11, 9)).colour == (
        Colour.GREEN
    )
    assert status_of(fresh, [], rules=RULES, policy=POLICY, now=local(2026, 11, 10)).colour == (
        Colour.YELLOW
    )


def test_a_missed_milestone_is_yellow_and_red_wins_over_it() -> None:
    stone = TaskMilestone(
        task_id=1,
        seq=1,
        title="完成方案",
        due_date=date(2026, 9, 30),
        due_at=RULES.end_of_day(date(2026, 9, 30)),
    )
    now = local(2026, 10, 8)
    fresh = task(due=date(2026, 12, 31), last_report=now)
    status = status_of(fresh, [stone], rules=RULES, policy=POLICY, now=now)
    assert status.colour == Colour.YELLOW and "节点1「完成方案」" in status.text
    stone.done_at = local(2026, 9, 30)
    assert status_of(fresh, [stone], rules=RULES, policy=POLICY, now=now).colour == Colour.GREEN
    stone.done_at = None
    overdue = task(due=date(2026, 10, 8), last_report=now)
    assert status_of(
        overdue, [stone], rules=RULES, policy=POLICY, now=local(2026, 10, 9)
    ).colour == (Colour.RED)


def test_ongoing_tasks_report_monthly_by_the_last_working_day() -> None:
    # last report 15 Sep: October's report is due by Fri 30 Oct (31 Oct is a Saturday)
    assert last_workday_of_month(RULES, 2026, 10) == date(2026, 10, 30)
    # and September's last working day is Wed 30 Sep (the holiday starts on 1 Oct)
    assert last_workday_of_month(RULES, 2026, 9) == date(2026, 9, 30)
    ongoing = task(due=None, ongoing=True, last_report=local(2026, 9, 15))
    on_time = status_of(ongoing, [], rules=RULES, policy=POLICY, now=local(2026, 10, 30, 18))
    assert (on_time.colour, on_time.workdays_left) == (Colour.GREEN, None)
    late = status_of(ongoing, [], rules=RULES, policy=POLICY, now=local(2026, 11, 2))
    assert late.colour == Colour.YELLOW and "未按月报送" in late.text


@pytest.mark.parametrize(
    ("state", "colour"),
    [
        ("finished", Colour.DONE),
        ("verified", Colour.DONE),
        ("closed", Colour.CLOSED),
        ("archived", Colour.CLOSED),
    ],
)
def test_finished_tasks_have_no_traffic_light(state: str, colour: Colour) -> None:
    late = task(due=date(2026, 9, 1), state=state)
    assert status_of(late, [], rules=RULES, policy=POLICY, now=local(2026, 12, 1)).colour == colour


def test_a_registered_task_owes_no_report_yet() -> None:
    fresh = task(due=date(2026, 12, 31), state="registered")
    fresh.assigned_at = None
    assert status_of(fresh, [], rules=RULES, policy=POLICY, now=local(2026, 11, 30)).colour == (
        Colour.GREEN
    )
