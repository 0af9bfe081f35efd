"""年度考评 in chat: /评议 — a rater sends the grades of every unit at once, in private."""

from __future__ import annotations

import logging
import re

from bots.chat import Chat, ChatCommand, Section, refused
from bots.identity import Speaker
from bots.messages import Command, IncomingMessage, Outcome, Reply, Response
from desk import review as D
from ledger.errors import DubanError, user_text
from review.rounds import parse_entries

logger = logging.getLogger(__name__)

YEAR = re.compile(r"^(\d{4})(?:年度?)?\s+")
USAGE = "用法：/评议 [年度] 单位=等次 …，须一次评定全部单位，如 /评议 住建局=优秀 城管局=称职"


def rate(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    person = who.person
    assert person is not None
    if not msg.private:
        return refused("评议不记名，请私聊机器人提交评议（不要在群里发送）")
    text = " ".join(part for part in (cmd.number, cmd.args) if part).strip()
    year = None
    found = YEAR.match(text + " ")
    if found is not None:
        year, text = int(found.group(1)), text[found.end() :].strip()
    if not text:
        return refused(USAGE)
    try:
        entries = parse_entries(text)
        result = D.rate(chat.ctx, year=year, entries=entries, person=person)
    except DubanError as exc:
        logger.info("review rating by %s refused: %s", person.code, type(exc).__name__)
        return refused(user_text(exc))
    return Response(Outcome.DONE, [Reply(result.text)])


COMMANDS = (
    ChatCommand("评议", ("pingyi", "rate"), "/评议 [年度] 单位=等次 …",
                "年度评议：评议人私聊一次提交对全部单位的评定（优秀/称职/基本称职/不称职"
                "或 1–100 分，评语写在括号里），评议结束前可重新提交",
                Section.COMMON, rate),
)  # fmt: skip
