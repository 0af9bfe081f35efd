"""Complainant protection: personal data is masked in anything a unit receives.

The ledger keeps the original text for staff; ``Message.unit_text`` holds the masked one.
Masks keep just enough to tell two numbers apart in a conversation (138****5678).
"""

from __future__ import annotations

import re

_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])([1-9]\d{5})(?:19|20)\d{2}(?:0[1-9]|1[0-2])"
    r"(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{7,8})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_BANK_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")
_QQ = re.compile(r"(?i)(qq|微信|wechat|vx)[号:： ]*([A-Za-z0-9_-]{5,20})")
# Cheap tests first: each number pattern above needs ten characters of digits, spaces and
# hyphens in a row starting with a digit (a mobile number is 11 digits, a landline with its
# area code at least 10), so a text without such a run is left as it is without trying them.
_NUMBERS = re.compile(r"\d[\d -]{9}")
_QQ_CUE = re.compile(r"(?i)qq|微信|wechat|vx")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _bank(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    if not 16 <= len(digits) <= 19 or not _luhn_ok(digits):
        return match.group()
    return "**** **** **** " + digits[-4:]


def redact(text: str, *, names: list[str] | None = None, contacts: list[str] | None = None) -> str:
    """``text`` with ID-card, bank-card, phone numbers, e-mails, chat ids, the given names
    and contact strings, and names the writer gives in the text (我叫…, 姓名：…) masked."""
    if not text:
        return text
    names = [*(names or []), *names_in_text(text)]
    for value in sorted(
        {v.strip() for v in (contacts or []) if v and len(v.strip()) >= 5}, key=len, reverse=True
    ):
        text = text.replace(value, "[联系方式已隐去]")
    if _NUMBERS.search(text):
        text = _ID_CARD.sub(lambda m: m.group(1)[:3] + "*" * 13 + m.group()[-2:], text)
        text = _BANK_CARD.sub(_bank, text)
        text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
        text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(2)[-2:]}", text)
    if "@" in text:
        text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    if _QQ_CUE.search(text):
        text = _QQ.sub(lambda m: f"{m.group(1)} [已隐去]", text)
    for name in sorted(
        {n.strip() for n in (names or []) if n and len(n.strip()) >= 2}, key=len, reverse=True
    ):
        if _looks_like_a_name(name):
            text = text.replace(name, name[0] + "*" * (len(name) - 1))
    return text


def _looks_like_a_name(value: str) -> bool:
    """A personal name worth masking: 2–4 Chinese characters, not a handle like 网友A3f9."""
    return bool(re.fullmatch(r"[\u4e00-\u9fff·]{2,6}", value)) and not value.startswith(
        ("网友", "市民", "群众", "匿名")
    )


# -- names written in the text ----------------------------------------------------------------
#
# Precision first: a name is masked only after a cue that introduces the writer's own name
# (我叫, 本人, 姓名, 联系人), when it starts with a common surname, is 2–3 characters
# (4 with a two-character surname) and is followed by a boundary — punctuation, the end,
# or a word that follows a name (电话, 反映, 家住, 先生 …). Place names and ordinary words
# after a cue (本人家住东湖路, 本人向社区反映, 联系人：物业) are left alone.

_SINGLE_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙"
    "史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳"
    "翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路"
    "游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党"
    "宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明"
    "佘池查麻苑迟邝洪萧赖贝蔺"
)
_DOUBLE_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "令狐",
    "夏侯",
    "长孙",
    "宇文",
    "司徒",
    "端木",
)
# After 本人 these are words, not surnames: 本人向社区反映, 本人于昨日, 本人全家, 本人和邻居.
_NOT_AFTER_BENREN = set("于向在对从因已曾及和与为全时常明成安应单查管解关华文多方石万")
# Characters that end a place or an organisation, not a person's name.
_PLACE_ENDINGS = set("路街巷道区县市镇村乡省州城湖桥园楼栋室号局委办厅院所站馆店司厂场")
_HAN = "\u4e00-\u9fff"
_CUES = re.compile(f"(我叫|本人|姓名\\s*[:：]?\\s*|联系人\\s*[:：]?\\s*)(?=[{_HAN}])")
_STRONG_BOUNDARY = re.compile(
    f"$|[^{_HAN}·]|电话|手机|联系|身份证|反映|投诉|举报|家住|住在|现住|居住|今年|男|女|"
    "先生|同志|师傅|老师|来电|求助|咨询"
)
_WEAK_BOUNDARY = re.compile("是|的|在|住|家|系|从|向|因|今|于|想|要|希望|请|和|与|也|就|已")


def names_in_text(text: str) -> list[str]:
    """Personal names the writer introduces in ``text`` (我叫张三丰, 姓名：张三, 联系人 李四,
    本人王五), for masking."""
    found: list[str] = []
    for cue in _CUES.finditer(text):
        name = _name_at(text, cue.end(), benren=cue.group(1) == "本人")
        if name:
            found.append(name)
    return found


def _name_at(text: str, start: int, *, benren: bool) -> str | None:
    head = text[start : start + 2]
    if head in _DOUBLE_SURNAMES:
        lengths: tuple[int, ...] = (4, 3)
    elif text[start] in _SINGLE_SURNAMES and not (benren and text[start] in _NOT_AFTER_BENREN):
        lengths = (3, 2)
    else:
        return None
    for length in lengths:
        name = text[start : start + length]
        if len(name) < length or not re.fullmatch(f"[{_HAN}]+", name):
            continue
        if set(name[1:]) & _PLACE_ENDINGS:
            continue
        end = start + length
        if _STRONG_BOUNDARY.match(text, end) or (not benren and _WEAK_BOUNDARY.match(text, end)):
            return name
    return None
