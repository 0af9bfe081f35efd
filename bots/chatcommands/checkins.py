"""一日三晒 in chat: /晒 (or #晒 in a message) with text and photos; /抽查 for supervisors."""

from __future__ import annotations

import logging
import re

from bots.chat import Chat, ChatCommand, Section, refused
from bots.identity import Speaker
from bots.messages import Command, IncomingMessage, Outcome, Reply, Response
from desk import checkins as D
from ledger.errors import DubanError, user_text
from ledger.tickets import Actor

logger = logging.getLogger(__name__)

TRUE_WORDS = frozenset({"属实", "真实", "true"})
FALSE_WORDS = frozenset({"不实", "不属实", "虚假", "false"})
POST_NUMBER = re.compile(r"^(?:晒)?\s*(\d{1,9})$")


def post(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    person = who.person
    assert person is not None
    text = " ".join(part for part in (cmd.number, cmd.args) if part)
    photos = [a.data for a in msg.attachments if a.kind == "photo"]
    if not text.strip() and not photos:
        return refused("请写明晒的内容，例如：/晒 上午到东湖路工地督导安全生产（可附照片）")
    location = (
        {"latitude": msg.location.latitude, "longitude": msg.location.longitude}
        if msg.location is not None
        else None
    )
    try:
        result = D.post(chat.ctx, actor=Actor.of(person), platform=msg.platform,
                        chat_id=msg.chat_id, message_id=msg.message_id, text=text,
                        photos=photos, location=location)  # fmt: skip
    except DubanError as exc:
        logger.info("check-in by %s refused: %s", person.code, type(exc).__name__)
        return refused(user_text(exc))
    if not result.created:
        return Response(Outcome.DUPLICATE)
    return Response(Outcome.DONE, [Reply(result.text)])


def spot_check(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    person = who.person
    assert person is not None
    usage = "用法：/抽查 晒编号（列入抽查），或 /抽查 晒编号 属实|不实 说明"
    words = cmd.args.split(maxsplit=2)
    found = POST_NUMBER.match(words[0]) if words else None
    if found is None:
        return refused(usage)
    post_id = int(found.group(1))
    actor = Actor.of(person)
    try:
        if len(words) == 1:
            result = D.mark(chat.ctx, post_id, actor=actor)
        elif words[1].lower() in TRUE_WORDS | FALSE_WORDS:
            note = words[2] if len(words) > 2 else None
            truthful = words[1].lower() in TRUE_WORDS
            result = D.check(chat.ctx, post_id, truthful=truthful, note=note, actor=actor)
        else:
            return refused(usage)
    except DubanError as exc:
        return refused(user_text(exc))
    return Response(Outcome.DONE, [Reply(result.text)])


COMMANDS = (
    ChatCommand("晒", ("shai", "checkin"), "/晒 内容",
                "一日三晒：晒计划、进展、成效（可附照片；写 RW-/DB- 编号即记入该事项；"
                "消息中带 #晒 亦可）", Section.UNIT, post),
    ChatCommand("抽查", ("spotcheck",), "/抽查 晒编号 [属实|不实 说明]",
                "抽查晒工作内容：先列入抽查，核实后记录属实或不实（不实计入单位）",
                Section.SUPERVISOR, spot_check),
)  # fmt: skip
