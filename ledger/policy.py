"""The office's configurable rules (``data/policy.yaml``): deadlines, reminders, ranking."""

from __future__ import annotations

from datetime import date, time
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger import yamlfile
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
    overdue_every_workday: StrictBool = True
    escalate_after_overdue_workdays: int = Field(default=3, ge=0, le=365)


class RoutingPolicy(_Strict):
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    duplicate_window_days: int = Field(default=90, ge=0, le=3650)
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
    max_message_chars: int = Field(default=20_000, ge=100, le=1_000_000)
    redact_for_units: StrictBool = True
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
    junk_min_rows: int = Field(default=20, ge=1, le=1_000_000)


class GroupFlags(_Strict):
    """One unit group's flags in the 月讲评: 红旗 for the top N, 黄旗 for the bottom N."""

    label: str | None = Field(default=None, max_length=32)  # 区直部门, 乡镇（街道）
    red_flags: int = Field(default=2, ge=0, le=1_000)
    yellow_flags: int = Field(default=1, ge=0, le=1_000)


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
    min_tickets: int = Field(default=3, ge=0, le=1_000_000)
    red_flags: int = Field(default=2, ge=0, le=1_000)
    yellow_flags: int = Field(default=2, ge=0, le=1_000)
    extensions_count_on_time: StrictBool = True
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
                raise ValueError(f"{first} + {second} 须等于 1 (must add up to 1)")
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

    @field_validator("first_week")
    @classmethod
    def _a_real_week(cls, value: str | None) -> str | None:
        if value is not None:
            year, week = value.split("-W")
            try:
                date.fromisocalendar(int(year), int(week), 1)
            except ValueError:
                raise ValueError(
                    f"「{value}」不是实有的周：{year} 年没有第 {int(week)} 周 (no such ISO week)"
                ) from None
        return value

    @field_validator("first_month")
    @classmethod
    def _a_real_month(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= int(value[5:]) <= 12:
            raise ValueError(f"「{value}」不是实有的月份，月份须为 01—12 (no such month)")
        return value

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
            raise ValueError(f"{self.name}: opens 须早于 closes (opens must be before closes)")
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
                raise ValueError(
                    f"{chat!r}: 聊天须写成 平台:群号 (write a chat as platform:chat_id)"
                )
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
            raise ValueError("windows: 各时段的 name 不能重复 (each window needs its own name)")
        ordered = sorted(self.windows, key=lambda w: w.opens)
        for before, after in pairwise(ordered):
            if after.opens < before.closes:
                raise ValueError(f"windows: {before.name} 与 {after.name} 时间重叠 (overlap)")
        unknown = [g for g in self.digest_groups if g not in self.groups]
        if unknown:
            raise ValueError(f"digest_groups: groups 中没有 {'、'.join(unknown)} (no such group)")
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
    text = yamlfile.read_text(path, error=BadInput, limit=MAX_POLICY_BYTES)
    document = yamlfile.parse(text, path, error=BadInput) or {}
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(the file)'}: {_problem(err)}"
            for err in exc.errors()[:5]
        )
        more = len(exc.errors()) - 5
        if more > 0:
            problems += f"；另有 {more} 处错误"
        raise BadInput(f"{path}: {problems}") from exc


MAX_POLICY_BYTES = 1024 * 1024

# pydantic's error types, told in Chinese (its English message follows in parentheses)
_PROBLEMS = {
    "int_parsing": "须为整数（半角数字），现为 {input}",
    "int_type": "须为整数，现为 {input}",
    "int_from_float": "须为整数，现为 {input}",
    "float_parsing": "须为数字（半角），现为 {input}",
    "float_type": "须为数字，现为 {input}",
    "finite_number": "须为有限的数字，现为 {input}",
    "bool_type": "须为 true 或 false（不加引号），现为 {input}",
    "bool_parsing": "须为 true 或 false（不加引号），现为 {input}",
    "string_type": "须为文字，现为 {input}",
    "list_type": "须为列表，如 [1, 2]，现为 {input}",
    "dict_type": "须为映射（下一级的键: 值），现为 {input}",
    "model_type": "须为映射（下一级的键: 值），现为 {input}",
    "model_attributes_type": "须为映射（下一级的键: 值），现为 {input}",
    "extra_forbidden": "未知的键（拼写有误？）",
    "missing": "缺少此项",
    "greater_than_equal": "不能小于 {ge}，现为 {input}",
    "greater_than": "须大于 {gt}，现为 {input}",
    "less_than_equal": "不能大于 {le}，现为 {input}",
    "less_than": "须小于 {lt}，现为 {input}",
    "too_short": "至少要有 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "string_too_short": "不能为空",
    "string_too_long": "最多 {max_length} 个字",
    "string_pattern_mismatch": "格式不对，现为 {input}",
    "literal_error": "须为 {expected} 之一，现为 {input}",
    "time_parsing": '须为时刻，如 "08:30"（加引号），现为 {input}',
    "time_type": '须为时刻，如 "08:30"（加引号），现为 {input}',
}


def _problem(err: Any) -> str:
    template = _PROBLEMS.get(err["type"])
    if template is None:  # our own validators already speak Chinese (or name the field)
        return str(err["msg"]).removeprefix("Value error, ")
    try:
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "…"
        text = template.format(input=shown, **(err.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        text = template.split("，现为")[0]
    return f"{text} ({err['msg']})"
