"""Everyone's commands: 帮助, 身份, 绑定, 取消."""

from __future__ import annotations

import logging

from bots import identity
from bots.chat import Chat, ChatCommand, Section, refused
from bots.errors import BotError
from bots.identity import Speaker
from bots.messages import Command, IncomingMessage, Outcome, Reply, Response
from desk.logins import issue_login_link, login_url
from ledger.errors import user_text
from ledger.models import ROLE_LABELS, Person, Role, Unit

logger = logging.getLogger(__name__)


def roles_label(person: Person) -> str:
    return "、".join(ROLE_LABELS[Role(r)] for r in person.roles if r in Role._value2member_map_)


def help_(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    roles = set(who.person.roles) if who.person is not None else None
    text = chat.help_text(roles)
    if who.binding is None and not msg.private:
        text = chat.unbound_text(msg) + "\n\n" + text
    elif who.person is None:
        text = chat.stranger_text(msg) + "\n\n" + text
    return Response(Outcome.ANSWERED, [Reply(text)])


def whoami(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    place = "私聊" if msg.private else "未绑定的群"
    if who.binding is not None:
        place = identity.ROLE_LABELS[who.binding.role] + (
            f"（{who.unit.short_name}）" if who.unit is not None else ""
        )
    if who.person is None:
        person = "未绑定"
    else:
        with chat.ctx.session() as session:
            unit = session.get(Unit, who.person.unit_id) if who.person.unit_id else None
        person = (
            f"{who.person.name}（{who.person.code}）"
            + (f" {unit.short_name}" if unit is not None else "")
            + f" {roles_label(who.person)}"
        )
    return Response(
        Outcome.ANSWERED,
        [
            Reply(
                f"您：{person}\n账号：{msg.platform}:{msg.sender_id}\n"
                f"本聊天：{place}（{msg.platform}:{msg.chat_id}）"
            )
        ],
    )


def bind(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    """``/绑定 CODE`` (and Telegram's deep link ``/start CODE``): link this account."""
    code = cmd.args.strip()
    if not code:
        return refused("请发送：/绑定 绑定码（绑定码由督查室用 duban people invite 生成）")
    try:
        with chat.ctx.session() as session:
            person = identity.redeem_invite(
                session, code, platform=msg.platform, account_id=msg.sender_id,
                now=chat.ctx.now(), private_chat_id=msg.chat_id if msg.private else None,
            )  # fmt: skip
            unit = session.get(Unit, person.unit_id) if person.unit_id else None
    except BotError as exc:
        return refused(user_text(exc))
    logger.info("linked %s account to person %s", msg.platform, person.code)
    where = f"（{unit.short_name}）" if unit is not None else ""
    return Response(
        Outcome.DONE,
        [Reply(f"绑定成功：{person.name}{where} {roles_label(person)}。发送 /帮助 查看可用命令。")],
    )


def login(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    """``/登录``: a one-time link to the web desk, only in a private chat (it is a key)."""
    person = who.person
    assert person is not None
    if not msg.private:
        return refused("登录链接只在与本助手的私聊中发送，请私聊我发送 /登录")
    if not chat.web_url:
        return refused("网页工作台的地址尚未配置（DUBAN_WEB_URL），请联系管理员")
    with chat.ctx.session() as session:
        secret = issue_login_link(session, person, by=f"chat:{msg.platform}", now=chat.ctx.now())
    logger.info("login link issued in chat to %s", person.code)
    return Response(
        Outcome.ANSWERED,
        [
            Reply(
                f"网页工作台登录链接（10 分钟内有效，只能使用一次，请勿转发）：\n"
                f"{login_url(chat.web_url, secret)}"
            )
        ],
    )


def cancel(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    dropped = chat.drop_draft(msg)
    return Response(Outcome.ANSWERED, [Reply("已取消" if dropped else "没有进行中的操作")])


COMMANDS = (
    ChatCommand("身份", ("whoami", "我"), "/身份", "我的绑定信息", Section.COMMON, whoami,
                anyone=True),
    ChatCommand("绑定", ("bind", "link"), "/绑定 绑定码", "绑定本人账号", Section.COMMON, bind,
                anyone=True),
    ChatCommand("取消", ("cancel",), "/取消", "放弃正在编写的内容", Section.COMMON, cancel),
    ChatCommand("登录", ("login", "web"), "/登录", "获取网页工作台的一次性登录链接（私聊）",
                Section.COMMON, login),
    ChatCommand("帮助", ("help", "start"), "/帮助", "本说明", Section.COMMON, help_,
                anyone=True),
)  # fmt: skip
