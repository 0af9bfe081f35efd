"""/晒 with a picture on Matrix: a member sends ``m.image`` (uploaded to the real Synapse's
media repository, ``/晒 …`` as its caption); the adapter downloads it through the media API
and the post keeps it."""

from __future__ import annotations

import asyncio
import io

import nio
import pytest
from sqlmodel import select

from checkins.photos import photo_folder
from ledger.models import CheckinPost
from ledger.policy import CheckinGroup, CheckinPolicy
from routing.context import RoutingContext
from tests.bots import test_matrix as M
from tests.bots.test_matrix import Cast, close_desk, invite_code, open_desk, until
from tests.checkins.conftest import png

pytestmark = [pytest.mark.synapse, pytest.mark.slow]
cast = M.cast  # the Matrix tests' fixtures: users on the real Synapse, a SQLite ledger
db_url = M.db_url


def test_a_picture_with_a_caption_is_a_post_with_its_photo(cast: Cast, runtime) -> None:
    ctx = runtime.routing
    ctx.policy = ctx.policy.model_copy(
        update={
            "checkins": CheckinPolicy(groups={"zjj": CheckinGroup(label="住建局", units=["zjj"])})
        }
    )
    asyncio.run(_picture(cast, ctx))


async def _picture(cast: Cast, ctx: RoutingContext) -> None:
    desk = await open_desk(cast, ctx, roles=("member",), rooms={"zjj": ("member",)})
    member, room = desk.humans["member"], desk.rooms["zjj"]
    picture = png(5, size=3)
    try:
        await member.say(room, f"/绑定 {invite_code(ctx, 'zjj-1')}")
        await member.expect(room, "绑定成功", sender=cast.bot)
        upload, _ = await member.client.upload(
            io.BytesIO(picture),
            content_type="image/png",
            filename="site.png",
            filesize=len(picture),
        )
        assert isinstance(upload, nio.UploadResponse), upload
        content = {
            "msgtype": "m.image",
            "body": "/晒 东湖路工地现场，排查隐患3处",
            "filename": "site.png",
            "url": upload.content_uri,
            "info": {"mimetype": "image/png", "size": len(picture)},
        }
        sent = await member.client.room_send(room, "m.room.message", content)
        assert isinstance(sent, nio.RoomSendResponse), sent
        answer = await member.expect(room, "已记录", sender=cast.bot)
        assert "照片1张" in answer.body
    finally:
        await close_desk(desk)

    def post() -> CheckinPost | None:
        with ctx.session() as session:
            return session.exec(select(CheckinPost)).first()

    row = await until(post, "the post")
    assert isinstance(row, CheckinPost)
    assert row.text == "东湖路工地现场，排查隐患3处"
    assert ctx.home is not None
    assert (photo_folder(ctx.home) / row.photos[0]["path"]).read_bytes() == picture
