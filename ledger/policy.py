"""The office's configurable rules (``data/policy.yaml``): deadlines, reminders, ranking."""

from __future__ import annotations

from datetime import time
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger.errors import BadInput
from ledger.models import SourceKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


MAX_TIME_LIMIT_DAYS = 365  # a stated limit beyond a year of working days is a typo
MAX_TRAINING_ROWS_DEFAULT = 20_000  # as classifier.train.MAX_TRAINING_ROWS
MAX_TRAINING_ROWS_RANGE = (100, 200_000)


class DeadlinePolicy(_Strict):
    instruction_with_limit: int = Field(default=7, ge=1, le=365)
    instruction: int = Field(default=15, ge=1, le=365)
    online: int = Field(default=15, ge=1, le=365)
    letter: int = Field(default=15, ge=1, le=365)
    other: int = Field(default=15, ge=1, le=365)
    max_extension_days: int = Field(default=15, ge=1, le=365)

    def limit_for(self, kind: SourceKind, *, explicit_days: int | None, has_limit: bool) -> int:
        """Working days for a message: an explicit limit wins, then 限期, then the kind."""
        if explicit_days is not None:
            if not 1 <= explicit_days <= MAX_TIME_LIMIT_DAYS:
                raise BadInput(
                    f"限办时限须在 1 到 {MAX_TIME_LIMIT_DAYS} 个工作日之间 "
                    f"(time limit {explicit_days} working days)"
                )
            return explicit_days
        if kind is SourceKind.INSTRUCTION:
            return self.instruction_with_limit if has_limit else self.instruction
        return {
            SourceKind.ONLINE: self.online,
            SourceKind.LETTER: self.letter,
            SourceKind.OTHER: self.other,
            SourceKind.QUESTION: self.other,  # 一问 gives its own limit (review.answer_days)
        }[kind]


class ReminderPolicy(_Strict):
    before_due_workdays: list[Annotated[int, Field(ge=1, le=365)]] = Field(
        default_factory=lambda: [2]
    )
    due_day_hour: int = Field(default=9, ge=0, le=23)
    overdue_every_workday: bool = True
    escalate_after_overdue_workdays: int = Field(default=3, ge=0)


class RoutingPolicy(_Strict):
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    duplicate_window_days: int = Field(default=90, ge=0)
    near_duplicate_similarity: float = Field(default=0.82, gt=0, le=1)
    # The classifier: a model trained on fewer labelled rows (in total, or for any of its
    # units) only suggests; a candidate replaces the promoted model only when it has them,
    # its held-out macro-F1 is not lower and no unit's recall drops by more than the margin.
    min_labelled_rows: int = Field(default=200, ge=0, le=10_000_000)
    min_labelled_rows_per_unit: int = Field(default=20, ge=0, le=1_000_000)
    max_recall_drop: float = Field(default=0.05, ge=0, le=1)
    # The most rows one training run learns from (above it, a stratified subsample): bounds
    # training's memory and time (classifier.train.subsample; MAX_TRAINING_ROWS there).
    max_training_rows: int = MAX_TRAINING_ROWS_DEFAULT

    @field_validator("max_training_rows", mode="before")
    @classmethod
    def _training_rows(cls, value: Any) -> Any:
        low, high = MAX_TRAINING_ROWS_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(
                f"训练行数上限须为 {low} 到 {high} 之间的整数，现为 {value!r}"
                f" (max_training_rows: an integer from {low} to {high})"
            )
        return value


class IntakePolicy(_Strict):
    max_message_chars: int = Field(default=20_000, ge=100)
    redact_for_units: bool = True
    # Limits on imported files, checked while reading (memory stays bounded whatever a
    # file holds); a row over a limit is refused by its number, the rest is read.
    max_rows: int = Field(default=500_000, ge=1, le=100_000_000)
    max_cell_chars: int = Field(default=1_000_000, ge=1_000, le=100_000_000)
    max_columns: int = Field(default=256, ge=8, le=16_384)
    max_json_depth: int = Field(default=32, ge=2, le=1_000)
    max_unzipped_mb: int = Field(default=200, ge=1, le=10_000)
    max_xlsx_part_mb: int = Field(default=8, ge=1, le=1_000)
    max_empty_rows: int = Field(default=10_000, ge=10, le=1_048_576)
    # A file most of whose rows are junk (no Chinese text) stops before anything is stored.
    junk_share: float = Field(default=0.5, gt=0, le=1)
    junk_min_rows: int = Field(default=20, ge=1)


class GroupFlags(_Strict):
    """One unit group's flags in the 月讲评: 红旗 for the top N, 黄旗 for the bottom N."""

    label: str | None = Field(default=None, max_length=32)  # 区直部门, 乡镇（街道）
    red_flags: int = Field(default=2, ge=0)
    yellow_flags: int = Field(default=1, ge=0)


class TaskPolicy(_Strict):
    """督办事项 (leaders' key tasks): colours, reporting cadence, extensions, scores."""

    warn_days: int = Field(default=3, ge=0, le=60)  # 蓝: deadline within N working days
    report_every_days: int = Field(default=5, ge=1, le=250)  # 黄: no 进展 for N working days
    max_extension_days: int = Field(default=30, ge=1, le=365)
    # 时效分 of a task = 100 - missed_report_penalty x missed cadence reports, 0 when finished
    # late (or not finished when due); quality from 核查 scores, combined like tickets.
    missed_report_penalty: float = Field(default=10.0, ge=0, le=100)
    remind_hour: int = Field(default=9, ge=0, le=23)  # reminders on working days, office time


class RankingPolicy(_Strict):
    """月讲评: score = time_weight x time score + quality_weight x quality score.

    time score = 100 x (time_on_time_weight x 按期率 + time_reply_weight x 回复率)
                 - overdue_penalty x tickets overdue at the month's end, kept within 0..100.
    """

    time_weight: float = Field(default=0.3, ge=0, le=1)
    quality_weight: float = Field(default=0.7, ge=0, le=1)
    time_on_time_weight: float = Field(default=0.7, ge=0, le=1)
    time_reply_weight: float = Field(default=0.3, ge=0, le=1)
    overdue_penalty: float = Field(default=2.0, ge=0, le=100)
    min_tickets: int = Field(default=3, ge=0)
    red_flags: int = Field(default=2, ge=0)
    yellow_flags: int = Field(default=2, ge=0)
    extensions_count_on_time: bool = True
    # By unit group (``kind`` in units.yaml): each group's own 红旗 / 黄旗 counts; a group
    # not listed uses red_flags / yellow_flags above.
    groups: dict[str, GroupFlags] = Field(default_factory=dict)
    # The month's unit score = ticket_weight x ticket score + task_weight x task score
    # (a unit with only one of the two is scored on that one).
    ticket_weight: float = Field(default=0.5, ge=0, le=1)
    task_weight: float = Field(default=0.5, ge=0, le=1)
    accountability_months: int = Field(default=2, ge=1, le=12)  # last this many months running

    @model_validator(mode="after")
    def _weights_add_up(self) -> RankingPolicy:
        for first, second in (
            ("time_weight", "quality_weight"),
            ("time_on_time_weight", "time_reply_weight"),
            ("ticket_weight", "task_weight"),
        ):
            if abs(getattr(self, first) + getattr(self, second) - 1) > 1e-9:
                raise ValueError(f"{first} + {second} must add up to 1")
        return self


PERIOD_WEEK_RE = r"^\d{4}-W\d{2}$"
PERIOD_MONTH_RE = r"^\d{4}-\d{2}$"


class OfficeFonts(_Strict):
    """Fonts of the printed documents, each a preferred font then its stand-ins."""

    title: list[str] = Field(
        default_factory=lambda: ["方正小标宋简体", "华文中宋", "宋体", "Noto Serif CJK SC"],
        min_length=1,
    )
    body: list[str] = Field(
        default_factory=lambda: ["仿宋_GB2312", "仿宋", "FangSong", "Noto Serif CJK SC"],
        min_length=1,
    )
    heading: list[str] = Field(
        default_factory=lambda: ["黑体", "SimHei", "Noto Sans CJK SC"], min_length=1
    )
    subheading: list[str] = Field(
        default_factory=lambda: ["楷体_GB2312", "楷体", "KaiTi", "Noto Serif CJK SC"],
        min_length=1,
    )


class OfficePolicy(_Strict):
    """The office as its printed reports name it: header, 文号, 期号, 署名, fonts."""

    name: str = Field(default="督查室", min_length=1, max_length=64)
    short_name: str | None = Field(default=None, max_length=32)
    issuer: str | None = Field(default=None, max_length=64)  # 发文机关署名; default: name
    recipients: str | None = Field(default=None, max_length=200)  # 主送机关
    weekly_title: str = Field(default="督查周报", min_length=1, max_length=40)
    monthly_title: str = Field(default="月讲评", min_length=1, max_length=40)
    weekly_code: str = Field(default="督周", min_length=1, max_length=20)  # 文号的机关代字
    monthly_code: str = Field(default="督评", min_length=1, max_length=20)
    # 期号: "period" = the ISO week's / the month's number; "count" = counted on from
    # first_week / first_month (that period is 第1期).
    numbering: Literal["period", "count"] = "period"
    first_week: str | None = Field(default=None, pattern=PERIOD_WEEK_RE)
    first_month: str | None = Field(default=None, pattern=PERIOD_MONTH_RE)
    time_label: str | None = Field(default=None, max_length=20)  # default: from the zone
    fonts: OfficeFonts = Field(default_factory=OfficeFonts)

    @model_validator(mode="after")
    def _count_needs_a_start(self) -> OfficePolicy:
        if self.numbering == "count" and not (self.first_week and self.first_month):
            raise ValueError(
                "numbering: count 须同时填写 first_week（如 2026-W01）和 first_month（如 2026-01）"
            )
        return self


class CheckinWindow(_Strict):
    """One window of 一日三晒: its name (早晒), when it opens and closes (office time)."""

    name: str = Field(min_length=1, max_length=16)
    opens: time
    closes: time

    @field_validator("opens", "closes", mode="before")
    @classmethod
    def _sexagesimal(cls, value: Any) -> Any:
        """YAML 1.1 reads an unquoted 12:00 as the number 720 (minutes): read it back."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            return time(value // 60, value % 60)
        return value

    @model_validator(mode="after")
    def _opens_first(self) -> CheckinWindow:
        if self.opens >= self.closes:
            raise ValueError(f"{self.name}: opens must be before closes")
        return self


def _default_windows() -> list[CheckinWindow]:
    return [
        CheckinWindow(name="早晒", opens=time(8, 0), closes=time(9, 30)),
        CheckinWindow(name="午晒", opens=time(12, 0), closes=time(14, 0)),
        CheckinWindow(name="晚晒", opens=time(17, 0), closes=time(18, 30)),
    ]


class CheckinGroup(_Strict):
    """A group of people who check in together: units (code or name) and people (code),
    and the chats (``platform:chat_id``) the group talks in."""

    label: str = Field(min_length=1, max_length=64)
    units: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    chats: list[str] = Field(default_factory=list)

    @field_validator("chats")
    @classmethod
    def _platform_and_chat(cls, value: list[str]) -> list[str]:
        for chat in value:
            if ":" not in chat.strip(":"):
                raise ValueError(f"{chat!r}: write a chat as platform:chat_id")
        return value


class CheckinPolicy(_Strict):
    """一日三晒: the windows, the groups, reminders, photos and the 要情快讯 digest."""

    windows: list[CheckinWindow] = Field(default_factory=_default_windows, min_length=1)
    groups: dict[str, CheckinGroup] = Field(default_factory=dict)
    remind_before_minutes: int = Field(default=30, ge=0, le=600)  # private reminder
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    digest_title: str = Field(default="要情快讯", min_length=1, max_length=40)
    digest_groups: list[str] = Field(default_factory=list)  # the groups a digest goes to
    digest_hour: int = Field(default=19, ge=0, le=23)  # the day's draft compiled from then
    # 月讲评 加分 / 扣分 from the month's check-ins (``checkins.figures.points``)
    bonus_full_rate: float = Field(default=0.0, ge=0, le=100)  # every owed window posted
    penalty_per_missed: float = Field(default=0.0, ge=0, le=100)  # per window not posted
    penalty_per_late: float = Field(default=0.0, ge=0, le=100)  # per window posted late
    penalty_per_false: float = Field(default=2.0, ge=0, le=100)  # per post found 不实

    @model_validator(mode="after")
    def _known_groups(self) -> CheckinPolicy:
        names = [w.name for w in self.windows]
        if len(set(names)) != len(names):
            raise ValueError("windows: each window needs its own name")
        ordered = sorted(self.windows, key=lambda w: w.opens)
        for before, after in pairwise(ordered):
            if after.opens < before.closes:
                raise ValueError(f"windows: {before.name} and {after.name} overlap")
        unknown = [g for g in self.digest_groups if g not in self.groups]
        if unknown:
            raise ValueError(f"digest_groups: no group named {', '.join(unknown)}")
        return self


REVIEW_GRADES = ("优秀", "称职", "基本称职", "不称职")  # 评议等次, best first
FAIL_GRADE = "不达标"  # the annual grade below every threshold


class ReviewPolicy(_Strict):
    """年度考评: how raters grade (等次 or 1–100), what a grade counts for, the 一问 answer
    deadline, and the annual score = ledger_weight x 台账得分 + rating_weight x 评议得分
    graded by thresholds (per unit group where given)."""

    scale: Literal["grade", "score"] = "grade"
    grade_points: dict[str, float] = Field(
        default_factory=lambda: {"优秀": 95.0, "称职": 80.0, "基本称职": 65.0, "不称职": 40.0}
    )
    answer_days: int = Field(default=10, ge=1, le=365)  # 一问: working days to answer
    ledger_weight: float = Field(default=0.4, ge=0, le=1)
    rating_weight: float = Field(default=0.6, ge=0, le=1)
    grades: dict[str, float] = Field(
        default_factory=lambda: {"优秀": 90.0, "良好": 80.0, "达标": 60.0}
    )
    group_grades: dict[str, dict[str, float]] = Field(default_factory=dict)  # by unit kind

    @model_validator(mode="after")
    def _consistent(self) -> ReviewPolicy:
        if set(self.grade_points) != set(REVIEW_GRADES):
            raise ValueError(f"grade_points: 须且只须为 {'、'.join(REVIEW_GRADES)} 给出分数")
        if abs(self.ledger_weight + self.rating_weight - 1) > 1e-9:
            raise ValueError("ledger_weight + rating_weight 须等于 1")
        for name, table in {"grades": self.grades, **self.group_grades}.items():
            if not table:
                raise ValueError(f"{name}: 至少要有一个等次")
            if FAIL_GRADE in table:
                raise ValueError(f"{name}: 「{FAIL_GRADE}」是低于所有分数线的等次，不能设分数线")
        return self

    def thresholds(self, group: str) -> list[tuple[str, float]]:
        """(grade, lowest score) of ``group``, the highest line first."""
        table = self.group_grades.get(group) or self.grades
        return sorted(table.items(), key=lambda item: -item[1])


class Policy(_Strict):
    deadlines: DeadlinePolicy = Field(default_factory=DeadlinePolicy)
    reminders: ReminderPolicy = Field(default_factory=ReminderPolicy)
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy)
    intake: IntakePolicy = Field(default_factory=IntakePolicy)
    ranking: RankingPolicy = Field(default_factory=RankingPolicy)
    tasks: TaskPolicy = Field(default_factory=TaskPolicy)
    office: OfficePolicy = Field(default_factory=OfficePolicy)
    checkins: CheckinPolicy = Field(default_factory=CheckinPolicy)
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)


def load_policy(path: Path | None) -> Policy:
    """The policy in ``path``; defaults for a missing file; a clear error for a bad one."""
    if path is None or not path.exists():
        return Policy()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Policy.model_validate(document)
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text: {exc}") from exc
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(the file)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise BadInput(f"{path}: {problems}") from exc
