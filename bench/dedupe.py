"""Duplicate detection: precision and recall, with hard negatives.

    .venv/bin/python bench/dedupe.py [--reposts 400] [--roads 6] [--seed 5]

The 816 hand-written sample messages are the distinct complaints. To make them hard to
tell apart, every place name in them is replaced by one of only a few roads, so hundreds of
different complaints are about "the same road". Reposts are then made of random samples
the way people repost: another greeting (or none), a changed number, an added sentence, a
dropped closing, traditional characters, full-width digits, extra spaces. A flagged
duplicate is right when it points at the message it repeats.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlmodel import select  # noqa: E402

from duban.runtime import Runtime  # noqa: E402
from duban.settings import Settings  # noqa: E402
from intake.items import IntakeItem  # noqa: E402
from ledger import schema  # noqa: E402
from ledger.directory import load_directory  # noqa: E402
from ledger.models import Message  # noqa: E402
from routing.pipeline import file_items  # noqa: E402

GREETINGS = ["领导您好！", "您好，再反映一次：", "尊敬的领导：", "各位领导好，", "", "再次反映："]
ADDED = [
    "已经反映过好几次了，一直没有解决。",
    "希望这次能有人管一管。",
    "附近居民都很有意见。",
    "我们已经在群里收集了很多住户的签名。",
]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def repost(text: str, rng: random.Random) -> str:
    body = re.sub(r"^(领导您好！|您好[，,]|尊敬的领导[：:]|各位领导好[，,]|你好[，,])", "", text)
    body = re.sub(r"(谢谢！|谢谢。|此致\s*敬礼[！!。]?)$", "", body.strip())
    change = rng.random()
    if change < 0.25:
        body = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), body, count=1)
    elif change < 0.5:
        body = body + rng.choice(ADDED)
    elif change < 0.65:
        import opencc

        body = opencc.OpenCC("s2t").convert(body)
    elif change < 0.8:
        body = body.translate(FULL_WIDTH).replace("，", " ， ")
    return rng.choice(GREETINGS) + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reposts", type=int, default=400)
    parser.add_argument("--roads", type=int, default=6)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--show", action="store_true", help="print the false links")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    import yaml

    places = yaml.safe_load((REPO / "data" / "units.yaml").read_text(encoding="utf-8"))
    names = [n for group in places["district"]["places"].values() for n in group]
    pattern = re.compile("|".join(sorted(map(re.escape, names), key=len, reverse=True)))
    roads = places["district"]["places"]["roads"][: args.roads]
    with (REPO / "data" / "messages.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    stream: list[tuple[str, str, str | None]] = []  # (id, text, true original id)
    first_of_text: dict[str, str] = {}
    for row in rows:
        road = rng.choice(roads)
        text = pattern.sub(road, row["留言详情"])
        original = first_of_text.setdefault(text, row["留言编号"])
        stream.append((row["留言编号"], text, None if original == row["留言编号"] else original))
    originals = [(mid, text) for mid, text, truth in stream if truth is None]
    for index in range(args.reposts):
        mid, text = rng.choice(originals)
        stream.append((f"R{index:05d}", repost(text, rng), mid))
    with tempfile.TemporaryDirectory() as home:
        rt = Runtime(settings=Settings(home=Path(home)))
        schema.upgrade(rt.engine)
        with rt.session() as session:
            load_directory(session, REPO / "data" / "units.yaml")
        rt.__dict__["_predictor"] = None  # routing is not measured here
        items = [IntakeItem(text=text, external_id=mid, channel="bench") for mid, text, _ in stream]
        started = time.perf_counter()
        file_items(rt.routing, items, keep_outcomes=False)
        seconds = time.perf_counter() - started
        with rt.session() as session:
            found = list(
                session.exec(select(Message.id, Message.external_id, Message.duplicate_of_id))
            )
    external = {mid: ext for mid, ext, _ in found}
    truth = {mid: original for mid, _, original in stream}
    flagged = [(ext, external[dup]) for _, ext, dup in found if dup is not None]
    right = sum(1 for ext, original in flagged if truth[ext] == original)
    positives = sum(1 for original in truth.values() if original is not None)
    wrong = [(ext, original) for ext, original in flagged if truth[ext] != original]
    precision = right / len(flagged) if flagged else 1.0
    recall = right / positives if positives else 1.0
    print(f"distinct complaints   {len(originals):>6}  (all on {args.roads} roads)")
    print(f"true duplicates       {positives:>6}")
    print(f"flagged duplicates    {len(flagged):>6}")
    print(f"correct links         {right:>6}")
    print(f"false links           {len(wrong):>6}")
    print(f"precision             {precision:>6.4f}")
    print(f"recall                {recall:>6.4f}")
    print(f"intake rate           {len(stream) / seconds:>6.0f} msg/s")
    if "--show" in sys.argv:
        texts = {mid: text for mid, text, _ in stream}
        for ext, original in wrong[:10]:
            print("-", ext, texts[ext][:90], "\n ", original, texts[original][:90])


if __name__ == "__main__":
    main()
