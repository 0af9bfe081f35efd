"""The one normalisation used by training, prediction and intake."""

from __future__ import annotations

import pytest

from classifier.normalise import normalise_text, normalise_texts


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("滨河區的路燈壞了，請儘快維修", "滨河区的路灯坏了,请尽快维修"),  # traditional
        ("ＡＢＣ１２３！？（）", "ABC123!?()"),  # full-width ASCII
        ("東湖路　路燈", "东湖路 路灯"),  # ideographic space
        ("<p>路灯不亮</p><br/>已经<b>三天</b>了", "路灯不亮\n已经三天了"),  # HTML tags
        ("水压&nbsp;太低&amp;水质发黄&lt;急&gt;", "水压 太低&水质发黄<急>"),  # entities
        ("路灯不亮_x000D_\n已经三天_x000D_", "路灯不亮\n已经三天"),  # Excel escapes
        ("路\u200b灯\u200d不\ufeff亮\u2060", "路灯不亮"),  # zero-width
        ("路灯\x00不\x07亮\x1f", "路灯不亮"),  # control characters
        ("\n\t\t\t路灯   不亮\r\n\r\n\r\n  三天了  ", "路灯 不亮\n三天了"),  # whitespace runs
        ("温度<30度, a & b", "温度<30度, a & b"),  # not tags, not entities
        ("", ""),
        (None, ""),
        ("  \u3000\u200b ", ""),
    ],
)
def test_normalise_text(raw: str | None, expected: str) -> None:
    assert normalise_text(raw) == expected


def test_normalising_twice_changes_nothing() -> None:
    text = "<div>滨河區&nbsp;ＡＢＣ_x000D_\n\n東湖路\u200b</div>"
    once = normalise_text(text)
    assert normalise_text(once) == once


def test_many_texts_keep_their_order() -> None:
    assert normalise_texts(["甲", None, "乙"]) == ["甲", "", "乙"]
