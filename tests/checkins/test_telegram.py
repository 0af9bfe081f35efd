"""/晒 over Telegram: the real python-telegram-bot stack against the fake Bot API, fed real
Update JSON — a text post, a photo post (``photo`` array, ``caption`` with #晒, a
``location``) whose largest size is fetched with getFile and downloaded."""

from __future__ import annotations

from sqlmodel import select

from checkins.photos import photo_folder
from ledger.models import CheckinPost
from routing.context import RoutingContext
from tests.bots.conftest import bind_all
from tests.bots.test_telegram import CHAT_IDS, USER_IDS, World, run, telegram_bot
from tests.checkins.conftest import png
from tests.fakes.telegram_api import FakeBotAPI
from tests.helpers import Clock, local


def test_posts_with_and_without_photos_over_telegram(ctx: RoutingContext, clock: Clock) -> None:
    bind_all(
        ctx,
        "telegram",
        chats={k: str(v) for k, v in CHAT_IDS.items()},
        people={k: str(v) for k, v in USER_IDS.items()},
    )
    clock.now = local(2026, 11, 16, 8, 30)
    thumb, full = png(1, size=1), png(2, size=4)

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        async with telegram_bot(ctx, api):
            w.say("zjj", "zjj-1", "/晒 今日计划：东湖路工地督导安全生产")
            await api.wait_for(lambda: any("已记录" in t for t in w.texts("zjj")))
            message = api.photo_message(
                w.chats["zjj"],
                w.users["zjj-ld"],
                "排查隐患3处 #晒",
                [thumb, full],
                date=int(clock().timestamp()),
            )
            api.push(message=api.with_location(message, 30.5928, 114.3055))
            await api.wait_for(lambda: sum("已记录" in t for t in w.texts("zjj")) == 2)
            assert any("照片1张" in t for t in w.texts("zjj"))
            downloads = api.called("download")
            assert len(downloads) == 1 and str(message["photo"][-1]["file_id"]) in str(
                downloads[0].params["path"]
            )
            assert not api.called("sendPhoto")  # photos are never sent on

    run(scenario)
    with ctx.session() as session:
        posts = session.exec(select(CheckinPost).order_by(CheckinPost.id)).all()
    assert [(p.window, p.late, len(p.photos)) for p in posts] == [
        ("早晒", False, 0),
        ("早晒", False, 1),
    ]
    assert posts[1].text == "排查隐患3处"
    assert posts[1].location == {"latitude": 30.5928, "longitude": 114.3055}
    assert ctx.home is not None
    stored = photo_folder(ctx.home) / posts[1].photos[0]["path"]
    assert stored.read_bytes() == full  # the largest size, not the thumbnail
