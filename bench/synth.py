"""Synthetic messages for benchmarks, recombined from the bundled sample (data/messages.csv).

Each synthetic message takes 2–4 sentences from different sample messages of one unit,
swaps in other place names of the district, varies numbers, and sometimes adds a greeting
or a closing. A controlled share are reposts of an earlier synthetic message (another
greeting, a changed number, an added sentence) so the duplicate detector has work to do.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
GREETINGS = ["", "", "", "领导您好！", "您好，", "尊敬的领导：", "各位领导好，", "你好，"]
CLOSINGS = ["", "", "", "谢谢！", "望尽快处理。", "盼复。", "麻烦了，谢谢。"]
SITUATIONS = [
    "我家住在{place}{n}号楼{m}单元。",
    "{mo}月{d}日晚上{h}点左右又是这样。",
    "这个问题已经持续{n}天了。",
    "{place}附近的{n}户居民都受到影响。",
    "上周{wd}我拨打过热线，工单号{code}。",
    "我是{place}的住户，姓{surname}。",
    "从{mo}月初到现在前后反映了{m}次。",
    "早上{h}点到{h2}点之间最严重。",
    "涉及的门面在{place}{n}号。",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
WEEKDAYS = "一二三四五六日"
START = datetime(2024, 1, 1, 7, 0)
REPOST_OPENERS = ["您好，再反映一次：", "再次反映：", "领导您好！", "之前反映过，至今没人管："]


@dataclass
class Synthetic:
    external_id: str
    user: str
    title: str
    time: str
    text: str
    unit: str
    repost_of: str | None = None


def load_sample(path: Path | None = None) -> dict[str, list[str]]:
    """Distinct sentences of the sample messages by unit code, without the boilerplate
    (greetings, 此致敬礼, "写这封信之前…") that several units' messages share."""
    path = path or REPO / "data" / "messages.csv"
    by_unit: dict[str, set[str]] = {}
    units_of: dict[str, set[str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            for sentence in SENTENCE.findall(row["留言详情"]):
                sentence = sentence.strip()
                if len(sentence) > 6:
                    by_unit.setdefault(row["单位代码"], set()).add(sentence)
                    units_of.setdefault(sentence, set()).add(row["单位代码"])
    return {
        unit: sorted(s for s in sentences if len(units_of[s]) == 1)
        for unit, sentences in by_unit.items()
    }


def places() -> list[str]:
    document = yaml.safe_load((REPO / "data" / "units.yaml").read_text(encoding="utf-8"))
    found = document["district"]["places"]
    return [name for group in found.values() for name in group]


def generate(count: int, *, seed: int = 7, repost_rate: float = 0.03) -> Iterator[Synthetic]:
    rng = random.Random(seed)
    by_unit = load_sample()
    units = sorted(by_unit)
    weights = [len(by_unit[u]) for u in units]
    names = places()
    place_pattern = re.compile("|".join(sorted(map(re.escape, names), key=len, reverse=True)))
    recent: list[Synthetic] = []
    used_pairs: set[tuple[str, str]] = set()
    for index in range(count):
        # About 100 messages a day, the load of a large district, from 2024-01-01 on: a
        # 100,000-row import is three years of history.
        moment = START + timedelta(minutes=index * 14 + rng.randrange(14))
        stamp = f"{moment.year}/{moment.month}/{moment.day} {moment:%H:%M:%S}"
        if recent and rng.random() < repost_rate:
            base = rng.choice(recent)
            yield Synthetic(
                f"S{index:07d}",
                base.user,
                base.title,
                stamp,
                _repost(base.text, rng, by_unit[base.unit]),
                base.unit,
                repost_of=base.external_id,
            )
            continue
        unit = rng.choices(units, weights)[0]
        parts = _fresh_parts(rng, by_unit[unit], used_pairs)
        text = "".join(parts)
        text = place_pattern.sub(lambda _m: rng.choice(names), text)
        text = re.sub(
            r"\d+",
            lambda m: (
                m.group()
                if len(m.group()) >= 8
                else str(rng.randint(1, 30 if len(m.group()) < 3 else 999))
            ),
            text,
        )
        for situation in rng.sample(SITUATIONS, k=rng.randint(1, 2)):  # what makes it one's own
            text += situation.format(
                place=rng.choice(names),
                n=rng.randint(1, 60),
                m=rng.randint(1, 9),
                mo=rng.randint(1, 12),
                d=rng.randint(1, 28),
                h=rng.randint(5, 11),
                h2=rng.randint(12, 23),
                wd=rng.choice(WEEKDAYS),
                surname=rng.choice(SURNAMES),
                code=f"{rng.randrange(10**8):08d}",
            )
        text = rng.choice(GREETINGS) + text + rng.choice(CLOSINGS)
        item = Synthetic(
            f"S{index:07d}",
            f"网友{rng.randrange(16**4):04x}",
            text[: rng.randint(8, 16)] if rng.random() < 0.6 else "",
            stamp,
            text,
            unit,
        )
        recent.append(item)
        if len(recent) > 500:
            recent.pop(0)
        yield item


def _fresh_parts(
    rng: random.Random, sentences: list[str], used: set[tuple[str, str]], tries: int = 20
) -> list[str]:
    """2–4 sentences, no two of which appeared together in an earlier message (while the
    unit has unused pairs left): distinct complaints do not share whole sentence pairs."""
    parts = rng.sample(sentences, k=min(len(sentences), rng.randint(2, 4)))
    for _ in range(tries):
        pairs = {tuple(sorted((a, b))) for i, a in enumerate(parts) for b in parts[i + 1 :]}
        if not pairs & used:
            break
        parts = rng.sample(sentences, k=min(len(sentences), rng.randint(2, 4)))
    used.update(tuple(sorted((a, b))) for i, a in enumerate(parts) for b in parts[i + 1 :])
    return parts


def _repost(text: str, rng: random.Random, sentences: list[str]) -> str:
    change = rng.random()
    body = re.sub(r"^(领导您好！|您好，|尊敬的领导：|各位领导好，|你好，)", "", text)
    if change < 0.4:
        return rng.choice(REPOST_OPENERS) + body
    if change < 0.7:
        return re.sub(r"\d+", lambda m: str(int(m.group()) + 1), body, count=1)
    return body + rng.choice(sentences)


def write_csv(path: Path, count: int, *, seed: int = 7) -> int:
    """A 留言板-style export of ``count`` synthetic messages; returns the reposts written."""
    reposts = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "单位代码"])
        for item in generate(count, seed=seed):
            reposts += item.repost_of is not None
            writer.writerow(
                [item.external_id, item.user, item.title, item.time, item.text, item.unit]
            )
    return reposts
