"""The office's policy file: a bad one is refused with the field named, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.errors import BadInput
from ledger.policy import load_policy


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        # 0 or a negative number of days before the due day never reminds anyone
        ("reminders:\n  before_due_workdays: [2, 0]\n", "reminders.before_due_workdays.1"),
        ("reminders:\n  before_due_workdays: [-1]\n", "reminders.before_due_workdays.0"),
        ("- deadlines\n", "(the file)"),
    ],
)
def test_bad_policy_names_the_field(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(BadInput, match=re.escape(needle)):
        load_policy(path)


def test_policy_not_in_utf8_is_bad_input(tmp_path: Path) -> None:
    # Saved as GBK by an editor: was an uncaught UnicodeDecodeError.
    path = tmp_path / "policy.yaml"
    path.write_bytes("deadlines:  # 办理时限\n  online: 10\n".encode("gbk"))
    with pytest.raises(BadInput, match="not UTF-8"):
        load_policy(path)


def test_several_reminder_days_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("reminders:\n  before_due_workdays: [3, 1]\n", encoding="utf-8")
    assert load_policy(path).reminders.before_due_workdays == [3, 1]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        # timedelta(days=99999999999): every intake ended in an OverflowError
        ("routing:\n  duplicate_window_days: 99999999999\n", "routing.duplicate_window_days"),
        ("reminders:\n  escalate_after_overdue_workdays: 99999999999\n", "reminders.escalate"),
        ("intake:\n  max_message_chars: 99999999999999\n", "intake.max_message_chars"),
        ("ranking:\n  red_flags: 99999999999999999999\n", "ranking.red_flags"),
    ],
)
def test_numbers_beyond_any_office_name_their_key(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(BadInput, match=re.escape(needle) + ".*不能大于"):
        load_policy(path)
