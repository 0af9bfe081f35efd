"""Text for people to read: the normalised text with Chinese punctuation given back.

Normalisation makes full-width punctuation half-width (good for the model and for
matching); in a sentence of Chinese, "，" reads better than ",". Only punctuation that
follows a Chinese character is turned back, so "3.5元" and "http://…" stay as they are.
"""

from __future__ import annotations

import re

_HALF_TO_FULL = {",": "，", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}
# A run of punctuation after a Chinese character ("砸人??" -> "砸人？？").
_AFTER_CJK = re.compile(
    r"(?<=[\u3400-\u9fff\u3000-\u303f\uff08\uff09\uff01\uff1f])"
    r"([,!?:;()]+)"
)
_OPEN_BEFORE_CJK = re.compile(r"\((?=[\u3400-\u9fff])")
# The close of a parenthesis opened the Chinese way: "（编号91059)" -> "（编号91059）".
_CLOSE_OF_FULL = re.compile(r"（([^()（）\n]*)\)")


def for_reading(text: str | None) -> str:
    if not text:
        return text or ""
    text = _OPEN_BEFORE_CJK.sub("（", text)
    text = _AFTER_CJK.sub(lambda m: "".join(_HALF_TO_FULL[c] for c in m.group(1)), text)
    return _CLOSE_OF_FULL.sub(r"（\1）", text)
