"""A tiny model trained once per session on a slice of data/messages.csv (no binary committed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from classifier.dataset import LabelledData, read_labelled
from classifier.registry import Registry
from classifier.segment import Segmenter
from classifier.train import TrainedModel, train, user_dictionary
from duban.settings import REPO_ROOT, Settings
from ledger import schema
from ledger.db import make_engine, session_scope
from ledger.directory import load_directory

DATA_DIR = REPO_ROOT / "data"
MESSAGES = DATA_DIR / "messages.csv"
UNITS = ("jyj", "swj", "jjdd", "rsj")  # four units whose messages differ clearly
PER_UNIT = 16


def small_sample(
    units: tuple[str, ...] = UNITS, per_unit: int = PER_UNIT, skip: int = 0
) -> LabelledData:
    """``per_unit`` rows of each of ``units`` from data/messages.csv (after ``skip`` each)."""
    data = read_labelled(MESSAGES, label_col="单位代码")
    taken: dict[str, int] = {}
    sample = LabelledData(sources=data.sources)
    for text, label, row in zip(data.texts, data.labels, data.rows, strict=True):
        if label not in units:
            continue
        seen = taken.get(label, 0)
        taken[label] = seen + 1
        if skip <= seen < skip + per_unit:
            sample.texts.append(text)
            sample.labels.append(label)
            sample.rows.append(row)
    return sample


@pytest.fixture(scope="session")
def sample() -> LabelledData:
    return small_sample()


@pytest.fixture(scope="session")
def segmenter() -> Segmenter:
    return Segmenter("rjieba", user_dictionary(DATA_DIR))


@pytest.fixture(scope="session")
def trained(sample: LabelledData, segmenter: Segmenter) -> TrainedModel:
    return train(sample.texts, sample.labels, segmenter=segmenter, seed=0)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "models")


@pytest.fixture
def saved(registry: Registry, trained: TrainedModel) -> Path:
    """A version folder of the tiny model in a fresh registry."""
    return registry.save(trained)


def make_office(url: str, units: Path = DATA_DIR / "units.yaml") -> Engine:
    """A ledger at ``url`` with the units and people of ``units``."""
    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, units)
    return engine


@pytest.fixture
def office() -> Iterator[Engine]:
    """The ledger of the settings (DUBAN_HOME, see tests/conftest.py) with the sample units."""
    engine = make_office(Settings().db_url)
    yield engine
    engine.dispose()
