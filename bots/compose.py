"""The messages that carry one text: split under a platform's limit, buttons, images.

Used by the hub (answers) and the outbox (notifications) alike, so a card looks the same
whichever way it goes out.
"""

from __future__ import annotations

from pathlib import Path

from bots.messages import Action, OutgoingMessage
from bots.text import split_text


def compose(
    chat_id: str,
    text: str,
    *,
    limit: int,
    reply_to: str | None = None,
    actions: tuple[Action, ...] = (),
    images: tuple[Path, ...] = (),
    key: str | None = None,
) -> list[OutgoingMessage]:
    """The messages that carry ``text`` (split and numbered), buttons on the last text part,
    then one message per image. ``key`` makes each part's idempotency key (``key-p0`` …)."""
    parts = split_text(text, limit)
    out = [
        OutgoingMessage(
            chat_id=chat_id,
            text=part,
            reply_to=reply_to if index == 0 else None,
            actions=actions if index == len(parts) - 1 else (),
            idempotency_key=f"{key}-p{index}" if key else None,
        )
        for index, part in enumerate(parts)
    ]
    for number, image in enumerate(images, start=1):
        index = len(out)
        out.append(
            OutgoingMessage(
                chat_id=chat_id,
                text=f"图 {number}/{len(images)}",
                images=(image,),
                idempotency_key=f"{key}-p{index}" if key else None,
            )
        )
    return out
