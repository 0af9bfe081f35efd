"""``duban retrain`` end to end on a large ledger against a small one, in the same run (issue 14).

    .venv/bin/python bench/retrain_scale.py --data ../shared/data/teddy2020c
        [--large var/scale/sqlite-100000-s7.db] [--small var/scale/sqlite-10000-s7.db] [--json]

The ledgers are the ones ``bench/scale.py`` builds and caches (bench/ledgerbuild.py; built
now when missing). Each is *copied* to a temporary folder first (with its ``-wal`` and
``-shm``), so the cached ledger is never written; the copy is what ``retrain`` reads.

Labels. ``retrain`` (routing/training.py) labels a message with the unit that kept its
ticket (acknowledged, replied, verified, archived, reopened) or, failing that, with the
latest staff decision (``TrainingLabel``), and adds the base sample (data/messages.csv, 816
rows). A ledgerbuild ledger has such labels for most tickets (97 % at 100k; 10k spans only
ten days, so more of its tickets are still open), but its texts are 3,000 synthetic texts
(bench/synth.py) repeated with a unique 编号 appended, and each ticket's unit is drawn at
random, independent of its text: labels a model cannot learn, and a vocabulary that stops
growing after 3,000 messages. So, with ``--data``, every message of the copy is given a
realistic text and its ticket (and staff decisions) the matching unit: the real messages of
``labelled.csv`` and recombinations of them (each keeps a real title and about half its
sentences, the rest swapped for sentences of other messages with the same label;
``bench/classifier.py``'s ``recombined``, as its training scale figures use), its 7 labels
mapped onto the 7 district units that handle such messages (``UNIT_OF``); each ends with its
own 工单号, so no two repeat (a repeated text is one labelled row). Without ``--data`` the
ledgers are trained on as built (figures for the random labels; not a realistic training
run).

The copy is brought to the current schema first (``duban db upgrade``, not measured). Each
run is the real command in a child process: ``python -m duban retrain --json`` with
DUBAN_HOME, DUBAN_DATABASE_URL and DUBAN_MODEL_DIR pointing at the copy and an empty model
folder, under ``/usr/bin/time -v``: its peak resident memory (the CLI process's maximum
RSS; GNU time itself is a few MB, so nothing of this process is inherited) and CPU seconds
(user + sys, every thread). Printed with the ratios large / small, per run and per labelled
row. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

VAR = REPO / "var" / "scale"
TIME = Path("/usr/bin/time")
# labelled.csv's labels -> the demo district's units that would handle such messages (the
# base sample, data/messages.csv, which retrain also reads, labels its messages the same way)
UNIT_OF = {
    "城乡建设": "zjj",
    "劳动和社会保障": "rsj",
    "教育文体": "jyj",
    "商贸旅游": "swj",
    "卫生计生": "wjj",
    "环境保护": "sthj",
    "交通运输": "jtj",
}
_TIME_FIELDS = {
    "peak_mb": re.compile(r"Maximum resident set size \(kbytes\): (\d+)"),
    "user": re.compile(r"User time \(seconds\): ([\d.]+)"),
    "system": re.compile(r"System time \(seconds\): ([\d.]+)"),
    "wall": re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)"),
}


def cached_ledger(path: Path | None, tickets: int, seed: int = 7) -> Path:
    """The given ledger file, or bench/scale.py's cached one (built when missing)."""
    if path is not None:
        if not path.exists():
            sys.exit(f"{path}: no such ledger")
        return path
    from bench.scale import sqlite_ledger

    with contextlib.redirect_stdout(sys.stderr):  # its progress lines, not --json's output
        url, _ = sqlite_ledger(tickets, seed)
    return Path(url.removeprefix("sqlite:///"))


def copy_ledger(source: Path, folder: Path) -> Path:
    """A copy of a SQLite ledger and its WAL files: reads only, never opens the source."""
    target = folder / source.name
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{source}{suffix}")
        if part.exists():
            shutil.copyfile(part, Path(f"{target}{suffix}"))
    return target


def realistic(db: Path, data: Path, seed: int) -> dict[str, Any]:
    """Give every message of the copy a text from ``data`` and its tickets and staff
    decisions the unit of that text's label (see the module docstring)."""
    from bench.classifier import load, recombined

    labelled = load(data)
    con = sqlite3.connect(db)
    try:
        ids = [row[0] for row in con.execute("SELECT id FROM message ORDER BY id")]
        units = dict(
            con.execute("SELECT code, id FROM unit WHERE active AND kind != 'desk' ORDER BY code")
        )
        labels = sorted(set(labelled.labels))
        missing = sorted({UNIT_OF.get(label) for label in labels} - set(units), key=str)
        if missing:
            sys.exit(f"{db}: no unit for the labels' units {missing}")
        unit_of = {label: units[UNIT_OF[label]] for label in labels}
        texts, text_labels = recombined(labelled.texts, labelled.labels, len(ids), seed=seed)
        order = list(range(len(ids)))
        random.Random(seed).shuffle(order)  # the real messages spread over the ledger's time
        # a message's own detail (as real ones carry a 工单号, an address, a phone number), so
        # that recombined texts do not repeat: retrain would count a repeat once
        unique = [f"{texts[j]}（工单号{ids[i]:08d}）" for i, j in enumerate(order)]
        rows = [(None, text, text, text, ids[i]) for i, text in enumerate(unique)]
        con.execute("PRAGMA synchronous = OFF")
        con.executemany(
            "UPDATE message SET title = ?, raw_text = ?, text = ?, unit_text = ? WHERE id = ?",
            rows,
        )
        assigned = [(unit_of[text_labels[j]], ids[i]) for i, j in enumerate(order)]
        con.executemany("UPDATE ticket SET unit_id = ? WHERE message_id = ?", assigned)
        con.executemany("UPDATE traininglabel SET unit_id = ? WHERE message_id = ?", assigned)
        con.commit()
    finally:
        con.close()
    return {"messages": len(ids), "labels": len(labels), "units": len(unit_of)}


def parse_time(report: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, pattern in _TIME_FIELDS.items():
        match = pattern.search(report)
        if match is None:
            continue
        if key == "wall":
            seconds = 0.0
            for part in match.group(1).split(":"):
                seconds = seconds * 60 + float(part)
            found[key] = seconds
        else:
            found[key] = float(match.group(1))
    found["peak_mb"] = found.get("peak_mb", 0.0) / 1024
    found["cpu"] = found.get("user", 0.0) + found.get("system", 0.0)
    return found


def run_retrain(db: Path, folder: Path) -> dict[str, Any]:
    """``duban retrain --json`` on ``db`` in a child process under /usr/bin/time -v."""
    home, models, report = folder / "home", folder / "models", folder / "time.txt"
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")},
        "DUBAN_HOME": str(home),
        "DUBAN_DATABASE_URL": f"sqlite:///{db}",
        "DUBAN_MODEL_DIR": str(models),
    }
    upgrade = [sys.executable, "-m", "duban", "db", "upgrade"]  # as an office would, first
    done = subprocess.run(upgrade, env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"db upgrade of {db} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    argv = [str(TIME), "-v", "-o", str(report), sys.executable, "-m", "duban", "retrain", "--json"]
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"retrain on {db} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        **parse_time(report.read_text(encoding="utf-8")),
        "ledger_rows": result["ledger_rows"],
        "labelled_rows": result["labelled_rows"],
        "holdout_rows": result["holdout_rows"],
        "trained_rows": result["rows"],
        "train_seconds": result["train_seconds"],
        "macro_f1_cv": result["metrics"]["macro_f1"],
        "promoted": result["promoted"],
        "reason": result["reason"],
        "version": result["version"],
    }


def measure(source: Path, data: Path | None, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="retrain-scale-") as name:
        folder = Path(name)
        db = copy_ledger(source, folder)
        rewritten = realistic(db, data, seed) if data is not None else None
        run = run_retrain(db, folder)
    return {"ledger": str(source), "rewritten": rewritten, **run}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="teddy2020c folder: realistic texts and labels")
    parser.add_argument("--large", type=Path, help="default: var/scale/sqlite-100000-s7.db")
    parser.add_argument("--small", type=Path, help="default: var/scale/sqlite-10000-s7.db")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rewritten texts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not TIME.exists():
        sys.exit(f"{TIME} is needed (GNU time: apt-get install time)")
    small = measure(cached_ledger(args.small, 10_000), args.data, args.seed)
    large = measure(cached_ledger(args.large, 100_000), args.data, args.seed)
    ratios = {
        "peak_mb": large["peak_mb"] / small["peak_mb"],
        "cpu": large["cpu"] / small["cpu"],
        "labelled_rows": large["labelled_rows"] / small["labelled_rows"],
        "cpu_per_labelled_row": (large["cpu"] / large["labelled_rows"])
        / (small["cpu"] / small["labelled_rows"]),
    }
    figures = {"small": small, "large": large, "ratios": ratios}
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    texts = "realistic (--data)" if args.data else "as built (random units: not learnable)"
    print(f"duban retrain, each in a fresh process under /usr/bin/time -v; texts {texts}")
    print(
        f"{'ledger':<26}{'labelled':>9}{'trained':>9}{'peak MB':>9}{'CPU s':>8}{'wall s':>8}"
        f"{'train s':>9}{'CV F1':>8}"
    )
    for run in (small, large):
        print(
            f"{Path(run['ledger']).name:<26}{run['labelled_rows']:>9}{run['trained_rows']:>9}"
            f"{run['peak_mb']:>9.0f}{run['cpu']:>8.1f}{run['wall']:>8.1f}"
            f"{run['train_seconds']:>9.1f}{run['macro_f1_cv']:>8.4f}"
        )
    print(
        f"large / small: labelled rows ×{ratios['labelled_rows']:.2f}, peak memory"
        f" ×{ratios['peak_mb']:.2f}, CPU ×{ratios['cpu']:.2f}"
        f" (per labelled row ×{ratios['cpu_per_labelled_row']:.2f})"
    )


if __name__ == "__main__":
    main()
