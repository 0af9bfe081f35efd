"""Every role × page: what opens, what is refused, and that a refused request changes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import func, select

from ledger.models import Event, Message, SourceKind, Ticket
from tests.web.conftest import Desk

ROLES = ("luru1", "ducha1", "admin", "zjj-ld", "zjj-1")
STAFF = {"luru1", "ducha1", "admin"}
# page -> who opens it (others get 403, or 404 for tickets)
PAGES = {
    "/": set(ROLES),
    "/tickets": set(ROLES),
    "/me": set(ROLES),
    "/triage": STAFF,
    "/intake": STAFF,
    "/audit": {"ducha1", "admin"},
    "/reports": STAFF | {"zjj-ld"},
    "/people": {"admin"},
    "/models": {"admin"},
}


@pytest.mark.parametrize("code", ROLES)
def test_each_role_opens_its_pages_and_is_refused_the_others(site: Desk, code: str) -> None:
    client = site.client(code)
    for path, allowed in PAGES.items():
        response = client.get(path)
        expected = 200 if code in allowed else 403
        assert response.status_code == expected, (code, path, response.status_code)
        assert 'lang="zh-CN"' in response.text
        if expected == 403:
            assert "仅供" in response.text
    nav = client.get("/").text
    assert ('href="/triage"' in nav) == (code in PAGES["/triage"])


def test_a_unit_sees_only_its_tickets_and_another_units_is_answered_as_missing(
    site: Desk,
) -> None:
    ours = site.ticket("assigned", unit="住建局")
    theirs = site.ticket("assigned", unit="城管局", text="解放路占道经营，摊贩堵塞人行道")
    member = site.client("zjj-1")
    listed = member.get("/tickets").text
    assert ours in listed and theirs not in listed
    assert member.get(f"/tickets/{ours}").status_code == 200
    missing = member.get("/tickets/DB-2026-999999")
    hidden = member.get(f"/tickets/{theirs}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text == missing.text  # nothing tells the ticket exists
    # a step on it, a comment, the complainant: the same 404 and nothing changes
    before = site.snapshot(theirs)
    for path, data in (
        (f"/tickets/{theirs}/step/comment", {"note": "看看", "version": before[1]}),
        (f"/tickets/{theirs}/step/acknowledge", {"version": before[1]}),
        (f"/tickets/{theirs}/complainant", {}),
    ):
        refused = member.post(path, data={**data, "csrf": member.csrf})
        assert refused.status_code == 404 and refused.text == missing.text
    assert site.snapshot(theirs) == before
    # a filter for the other unit shows nothing either
    assert theirs not in member.get("/tickets?unit=cgj").text
    staff = site.client("ducha1").get("/tickets").text
    assert ours in staff and theirs in staff


def test_the_desk_lists_what_each_role_owes_overdue_first(site: Desk) -> None:
    early = site.ticket("assigned")
    site.rt.clock.advance(days=30)  # type: ignore[attr-defined]
    late_open = site.ticket("assigned")
    leader = site.client("zjj-ld").get("/").text
    assert "住建局待办" in leader and leader.index(early) < leader.index(late_open)
    assert "超期" in leader and "个工作日" in leader
    triage = site.ticket("registered")
    replied = site.ticket("replied")
    supervisor = site.client("ducha1").get("/").text
    assert "待核查" in supervisor and replied in supervisor
    assert "待分办" in supervisor and triage in supervisor


def test_a_unit_leader_acknowledges_and_replies_with_the_version_the_page_showed(
    site: Desk,
) -> None:
    number = site.ticket("assigned")
    leader = site.client("zjj-ld")
    page = leader.get(f"/tickets/{number}").text
    assert 'id="step-acknowledge"' in page and 'id="step-verify"' not in page
    version = site.version(number)
    done = leader.post(
        f"/tickets/{number}/step/acknowledge", data={"csrf": leader.csrf, "version": version}
    )
    assert done.status_code == 200 and "已签收" in done.text
    done = leader.post(
        f"/tickets/{number}/step/reply",
        data={"csrf": leader.csrf, "version": version + 1, "text": "已更换路灯"},
    )
    assert done.status_code == 200 and "已收到反馈" in done.text
    assert site.snapshot(number)[0] == "replied"


def test_a_stale_page_is_refused_in_chinese_and_changes_nothing(site: Desk) -> None:
    number = site.ticket("assigned")
    leader = site.client("zjj-ld")
    seen = site.version(number)
    other = site.client("zjj-1")
    other.post(f"/tickets/{number}/step/acknowledge", data={"csrf": other.csrf, "version": seen})
    before = site.snapshot(number)
    stale = leader.post(
        f"/tickets/{number}/step/reply",
        data={"csrf": leader.csrf, "version": seen, "text": "已处理"},
    )
    assert stale.status_code == 409
    assert "已有新的办理进展" in stale.text and "请刷新后再操作" in stale.text
    assert site.snapshot(number) == before


def test_a_step_the_role_may_not_take_is_refused_and_changes_nothing(site: Desk) -> None:
    number = site.ticket("replied")
    member = site.client("zjj-1")
    before = site.snapshot(number)
    refused = member.post(
        f"/tickets/{number}/step/verify",
        data={"csrf": member.csrf, "version": before[1], "passed": "1", "score": "5"},
    )
    assert refused.status_code == 403 and "督查人员" in refused.text
    assert site.snapshot(number) == before
    missing = member.post(
        f"/tickets/{number}/step/verify",
        data={"csrf": member.csrf, "version": before[1], "passed": "1", "score": "9"},
    )
    assert missing.status_code == 400 and "1 到 5" in missing.text
    assert site.snapshot(number) == before


def test_a_supervisor_approves_an_extension_and_verifies_with_a_score(site: Desk) -> None:
    number = site.ticket("extension")
    supervisor = site.client("ducha1")
    page = supervisor.get(f"/tickets/{number}").text
    assert 'id="step-approve_extension"' in page and "需协调供电公司" in page
    approved = supervisor.post(
        f"/tickets/{number}/step/approve_extension",
        data={"csrf": supervisor.csrf, "version": site.version(number)},
    )
    assert approved.status_code == 200 and "延期已批准" in approved.text
    leader = site.client("zjj-ld")
    leader.post(
        f"/tickets/{number}/step/reply",
        data={"csrf": leader.csrf, "version": site.version(number), "text": "已修复"},
    )
    verified = supervisor.post(
        f"/tickets/{number}/step/verify",
        data={
            "csrf": supervisor.csrf,
            "version": site.version(number),
            "passed": "1",
            "score": "4",
        },
    )
    assert verified.status_code == 200 and "核查通过" in verified.text
    with site.rt.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
    assert (ticket.state, ticket.quality_score) == ("verified", 4)


def test_triage_offers_the_models_top_three_but_never_the_unit_that_returned_it(
    site: Desk,
) -> None:
    number = site.ticket("acknowledged")
    leader = site.client("zjj-ld")
    leader.post(
        f"/tickets/{number}/step/return",
        data={"csrf": leader.csrf, "version": site.version(number), "reason": "不属于本单位职责"},
    )
    fresh = site.ticket("registered")
    desk = site.client("luru1")
    page = desk.get("/triage").text
    row_returned = page.split(f'id="t-{number}"')[1].split("</tr>")[0]
    row_fresh = page.split(f'id="t-{fresh}"')[1].split("</tr>")[0]
    assert 'value="zjj"' not in row_returned.split('class="other"')[0]
    assert "住建局退回" in row_returned
    assert row_fresh.split('class="other"')[0].count('class="choice"') == 3
    done = desk.post(
        f"/triage/{fresh}",
        data={"csrf": desk.csrf, "version": site.version(fresh), "unit": "cgj"},
    )
    assert done.status_code == 200 and "已交办「城管局」" in done.text
    assert site.snapshot(fresh)[0] == "assigned"
    # a unit leader may not triage: refused, nothing changes
    before = site.snapshot(number)
    refused = leader.post(
        f"/triage/{number}", data={"csrf": leader.csrf, "version": before[1], "unit": "cgj"}
    )
    assert refused.status_code in (403, 404)
    assert site.snapshot(number) == before


def _views(site: Desk, number: str) -> int:
    with site.rt.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        return session.exec(
            select(func.count())
            .select_from(Event)
            .where(Event.ticket_id == ticket.id, Event.action == "view_complainant")
        ).one()


def test_complainant_data_only_for_staff_on_a_click_and_every_view_audited(site: Desk) -> None:
    number = site.ticket("assigned")
    supervisor = site.client("ducha1")
    page = supervisor.get(f"/tickets/{number}").text
    assert "13800001111" not in page and "查看来信人信息" in page
    shown = supervisor.post(f"/tickets/{number}/complainant", data={"csrf": supervisor.csrf})
    assert shown.status_code == 200 and "13800001111" in shown.text and "张三" in shown.text
    assert _views(site, number) == 1
    audit = supervisor.get("/audit?action=view_complainant").text
    assert number in audit and "陈立新" in audit
    leader = site.client("zjj-ld")
    assert "将记入审计日志" not in leader.get(f"/tickets/{number}").text
    refused = leader.post(f"/tickets/{number}/complainant", data={"csrf": leader.csrf})
    assert refused.status_code == 404 and "13800001111" not in refused.text
    assert _views(site, number) == 1


def test_export_streams_the_current_view_with_chinese_headers(site: Desk) -> None:
    ours = site.ticket("replied")
    theirs = site.ticket("assigned", unit="城管局", text="解放路占道经营，摊贩堵塞人行道")
    supervisor = site.client("ducha1")
    data = supervisor.get("/tickets/export.csv?unit=zjj")
    assert data.status_code == 200 and "attachment" in data.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(data.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["编号", "状态", "来源", "标题", "内容"]
    assert [r[0] for r in rows[1:]] == [ours]
    assert "已更换路灯" in rows[1][rows[0].index("答复内容")]
    member = site.client("cgj-1").get("/tickets/export.csv").content.decode("utf-8-sig")
    assert theirs in member and ours not in member
    xlsx = supervisor.get("/tickets/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_import_by_paste_lists_each_row_and_a_unit_may_not_import(site: Desk) -> None:
    def count() -> int:
        with site.rt.session() as session:
            return session.exec(select(func.count()).select_from(Message)).one()

    leader = site.client("zjj-ld")
    refused = leader.post("/intake", data={"csrf": leader.csrf, "text": "柳岸路井盖缺失，很危险"})
    assert refused.status_code == 403 and count() == 0
    desk = site.client("luru1")
    done = desk.post(
        "/intake",
        data={"csrf": desk.csrf, "text": "柳岸路井盖缺失，很危险\n\n学府路噪音扰民，夜间施工"},
    )
    assert done.status_code == 200 and "DB-" in done.text and count() == 2


def test_bulk_archive_checks_and_logs_each_ticket(site: Desk) -> None:
    done, open_ = site.ticket("verified"), site.ticket("assigned")
    supervisor = site.client("ducha1")
    result = supervisor.post(
        "/tickets/bulk",
        data={
            "csrf": supervisor.csrf,
            "step": "archive",
            "ticket": [f"{done}@{site.version(done)}", f"{open_}@{site.version(open_)}"],
        },
    )
    assert result.status_code == 200
    assert f"{done} 已归档" in result.text and "不能归档" in result.text
    assert site.snapshot(done)[0] == "archived" and site.snapshot(open_)[0] == "assigned"


def test_the_api_takes_the_same_steps_and_hides_other_units_tickets(site: Desk) -> None:
    from ledger.directory import get_person
    from web.auth import issue_token

    ours = site.ticket("assigned")
    theirs = site.ticket("assigned", unit="城管局")
    with site.rt.session() as session:
        token = issue_token(session, get_person(session, "zjj-ld"), by="t", now=site.rt.now())
    api = site.anonymous()
    headers = {"Authorization": f"Bearer {token}"}
    listed = api.get("/api/v1/tickets", headers=headers).json()["rows"]
    assert [r["number"] for r in listed] == [ours]
    assert api.get(f"/api/v1/tickets/{theirs}", headers=headers).status_code == 404
    detail = api.get(f"/api/v1/tickets/{ours}", headers=headers).json()
    assert "acknowledge" in detail["steps"]
    stale = api.post(
        f"/api/v1/tickets/{ours}/steps/acknowledge",
        headers=headers,
        json={"expected_version": detail["version"] - 1},
    )
    assert stale.status_code == 409 and "已有新的办理进展" in stale.json()["error"]
    ok = api.post(
        f"/api/v1/tickets/{ours}/steps/acknowledge",
        headers=headers,
        json={"expected_version": detail["version"]},
    )
    assert ok.status_code == 200 and ok.json()["state"] == "acknowledged"
    before = site.snapshot(theirs)
    hidden = api.post(
        f"/api/v1/tickets/{theirs}/steps/acknowledge",
        headers=headers,
        json={"expected_version": before[1]},
    )
    assert hidden.status_code == 404 and site.snapshot(theirs) == before
    assert api.post(f"/api/v1/tickets/{ours}/complainant", headers=headers).status_code == 404


def test_list_filters_sorting_and_paging(site: Desk) -> None:
    numbers = [site.ticket("assigned", text=f"东湖路第{i}盏路灯不亮") for i in range(5)]
    other = site.ticket("registered", text="学府路噪音扰民")
    client = site.client("ducha1")
    page1 = client.get("/tickets?size=20&q=路灯&order=old").text
    assert all(n in page1 for n in numbers) and other not in page1
    assert page1.index(numbers[0]) < page1.index(numbers[-1])
    assert client.get("/tickets?state=registered").text.count(other) >= 1
    bad = client.get("/tickets?received_from=昨天")
    assert bad.status_code == 200 and "不是日期" in bad.text
    first = client.get("/tickets?size=20").text
    assert "下一页" not in first


def test_a_keyword_search_says_when_it_left_older_tickets_out(
    site: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desk import queries as Q

    old = site.ticket("assigned", text="东湖路路灯不亮（早）")
    new = [site.ticket("assigned", text=f"东湖路第{i}盏路灯不亮") for i in range(2)]
    monkeypatch.setattr(Q, "KEYWORD_WINDOW", 2)
    page = site.client("ducha1").get("/tickets?q=路灯").text
    assert all(n in page for n in new) and old not in page
    assert "关键词只在最近 2 件中检索" in page
    assert "关键词只在" not in site.client("ducha1").get("/tickets").text


def test_reports_page_and_a_download(site: Desk) -> None:
    site.ticket("replied")
    client = site.client("ducha1")
    page = client.get("/reports?kind=weekly&period=2026-W47")
    assert page.status_code == 200 and "督查周报" in page.text
    md = client.get("/reports/weekly/2026-W47.md")
    assert md.status_code == 200 and "attachment" in md.headers["content-disposition"]
    assert "督查" in md.content.decode("utf-8")
    assert site.client("zjj-1").get("/reports/weekly/2026-W47.md").status_code == 403


def test_saved_views_are_the_owners_or_shared(site: Desk) -> None:
    supervisor = site.client("ducha1")
    saved = supervisor.post(
        "/tickets/views",
        data={"csrf": supervisor.csrf, "name": "超期件", "query": "overdue=1", "shared": "1"},
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/tickets?overdue=1"
    supervisor.post(
        "/tickets/views", data={"csrf": supervisor.csrf, "name": "我的", "query": "state=replied"}
    )
    mine = supervisor.get("/tickets").text
    assert "超期件（共享）" in mine and "我的" in mine
    other = site.client("luru1").get("/tickets").text
    assert "超期件" in other and "state=replied" not in other
    bad = supervisor.post(
        "/tickets/views", data={"csrf": supervisor.csrf, "name": "坏", "query": "state=nope"}
    )
    assert bad.status_code == 400 and "未知状态" in bad.text


def test_import_of_an_uploaded_csv_lists_each_row(site: Desk) -> None:
    export = (
        "留言编号,留言用户,留言主题,留言时间,留言详情\n"
        "W-1,网友甲,东湖路积水,2026/11/16 8:12:33,东湖路与学府路交叉口一下雨就积水，车辆熄火\n"
        "W-2,网友乙,,2026/11/16 9:01:00,\n"
    ).encode()
    desk = site.client("luru1")
    done = desk.post(
        "/intake",
        data={"csrf": desk.csrf, "source": "网民留言"},
        files={"file": ("export.csv", export, "text/csv")},
    )
    assert done.status_code == 200, done.text
    assert "第2行" in done.text or "第3行" in done.text  # the empty row, named by its number
    assert "DB-" in done.text
    wrong = desk.post(
        "/intake",
        data={"csrf": desk.csrf},
        files={"file": ("export.pdf", b"%PDF", "application/pdf")},
    )
    assert wrong.status_code == 400 and "不支持的文件类型" in wrong.text


def test_bulk_assign_from_triage_checks_each_ticket(site: Desk) -> None:
    first, second = site.ticket("registered"), site.ticket("registered")
    stale = site.version(second)
    supervisor = site.client("ducha1")
    moved = supervisor.post(
        f"/triage/{second}", data={"csrf": supervisor.csrf, "version": stale, "unit": "cgj"}
    )
    assert moved.status_code == 200
    desk = site.client("luru1")
    result = desk.post(
        "/tickets/bulk",
        data={
            "csrf": desk.csrf,
            "step": "assign",
            "unit": "jtj",
            "ticket": [f"{first}@{site.version(first)}", f"{second}@{stale}"],
        },
    )
    assert result.status_code == 200
    assert "已交办「交通运输局」" in result.text and "请刷新后再操作" in result.text
    assert site.snapshot(first)[0] == "assigned"
    with site.rt.session() as session:
        unit_of = dict(session.exec(select(Ticket.number, Ticket.unit_id)).all())
    assert unit_of[first] != unit_of[second]


def test_a_unit_reads_the_masked_text_in_lists_desk_api_and_export(site: Desk) -> None:
    from ledger.directory import get_person
    from web.auth import issue_token

    number = site.ticket("assigned", text="东湖路路灯不亮，我是王五，电话13912345678")
    with site.rt.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        message = session.get(Message, ticket.message_id)
        assert message is not None
        message.unit_text = "东湖路路灯不亮，我是王*，电话139****5678"
        session.add(message)
        token = issue_token(session, get_person(session, "zjj-ld"), by="t", now=site.rt.now())
    leader = site.client("zjj-ld")
    api = site.anonymous()
    headers = {"Authorization": f"Bearer {token}"}
    seen = {
        "list": leader.get("/tickets").text,
        "desk": leader.get("/").text,
        "detail": leader.get(f"/tickets/{number}").text,
        "export": leader.get("/tickets/export.csv").content.decode("utf-8-sig"),
        "api list": api.get("/api/v1/tickets", headers=headers).text,
        "api todo": api.get("/api/v1/todo", headers=headers).text,
        "api detail": api.get(f"/api/v1/tickets/{number}", headers=headers).text,
    }
    for where, text in seen.items():
        assert "13912345678" not in text and "王五" not in text, where
        assert "139****5678" in text, where
    staff = site.client("ducha1").get("/tickets").text
    assert "13912345678" in staff


def test_an_admin_hands_out_a_login_link_and_ends_sessions(site: Desk) -> None:
    leader = site.client("zjj-ld")
    admin = site.client("admin")
    page = admin.get("/people").text
    assert "李建国" in page and "已设置" in page
    ended = admin.post("/people/zjj-ld/revoke-sessions", data={"csrf": admin.csrf})
    assert ended.status_code == 200 and "已结束 李建国 的 1 个网页会话" in ended.text
    assert leader.get("/").status_code == 303
    issued = admin.post("/people/zjj-ld/link", data={"csrf": admin.csrf})
    link = issued.text.split('<code class="link">')[1].split("</code>")[0]
    path = "/" + link.split("/", 3)[3]
    fresh = site.anonymous()
    csrf = fresh.get(path).text.split('name="csrf" value="')[1].split('"')[0]
    assert fresh.post(path, data={"csrf": csrf}).status_code == 303
    assert "李建国" in fresh.get("/").text
    refused = leader.post("/people/admin/link", data={"csrf": leader.csrf})
    assert refused.status_code == 303  # logged out above: nothing issued
    member = site.client("zjj-1")
    refused = member.post("/people/admin/link", data={"csrf": member.csrf})
    assert refused.status_code == 403 and "登录链接" not in refused.text


def test_an_admin_promotes_and_rolls_back_a_model_version(site: Desk) -> None:
    from classifier.registry import Registry
    from classifier.segment import Segmenter
    from classifier.train import train, user_dictionary
    from duban.settings import REPO_ROOT
    from tests.classifier.conftest import small_sample

    sample = small_sample()
    model = train(
        sample.texts,
        sample.labels,
        segmenter=Segmenter("rjieba", user_dictionary(REPO_ROOT / "data")),
        seed=0,
    )
    registry = Registry(site.rt.settings.models_path)
    first, second = registry.save(model).name, registry.save(model).name
    admin = site.client("admin")
    assert "还没有模型版本" not in admin.get("/models").text
    for version in (first, second):
        done = admin.post("/models/promote", data={"csrf": admin.csrf, "version": version})
        assert done.status_code == 200 and f"已启用模型版本 {version}" in done.text
    back = admin.post("/models/rollback", data={"csrf": admin.csrf})
    assert back.status_code == 200 and f"当前启用模型版本 {first}" in back.text
    assert registry.current() == first
    unknown = admin.post("/models/promote", data={"csrf": admin.csrf, "version": "nope"})
    assert unknown.status_code == 409 and registry.current() == first
    supervisor = site.client("ducha1")
    refused = supervisor.post("/models/rollback", data={"csrf": supervisor.csrf})
    assert refused.status_code == 403 and registry.current() == first


def test_the_progress_of_an_import_routed_by_jobs(site: Desk) -> None:
    from ledger.messages import add_message
    from ledger.models import MessageStatus

    with site.rt.session() as session:
        ids = [
            add_message(
                session,
                source_kind=SourceKind.ONLINE,
                channel="import",
                received_at=site.rt.now(),
                raw_text=f"柳岸路第{i}个井盖缺失",
                text=f"柳岸路第{i}个井盖缺失",
                content_hash=f"h{i}",
                now=site.rt.now(),
            ).id
            for i in range(3)
        ]
    desk = site.client("luru1")
    url = f"/intake/progress?first={min(ids)}&last={max(ids)}"
    waiting = desk.get(url).text
    assert "排队中 3 条" in waiting and 'hx-trigger="every 2s"' in waiting
    with site.rt.session() as session:
        for message_id in ids:
            message = session.get(Message, message_id)
            assert message is not None
            message.status = MessageStatus.ROUTED.value
            session.add(message)
    done = desk.get(url).text
    assert "分办完成" in done and "hx-trigger" not in done
    assert site.client("zjj-ld").get(url).status_code == 403


def _ledger_counts(site: Desk) -> tuple[int, ...]:
    from ledger.models import ApiToken, Extension, LoginLink, Reply, SavedView

    with site.rt.session() as session:
        return tuple(
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Event, Message, Ticket, Reply, Extension, LoginLink, ApiToken, SavedView)
        )


@pytest.mark.parametrize("code", ["zjj-1", "zjj-ld"])
def test_every_refused_post_of_a_unit_person_changes_nothing(site: Desk, code: str) -> None:
    triage = site.ticket("registered")
    replied = site.ticket("replied")
    theirs = site.ticket("extension", unit="城管局")
    client = site.client(code)
    before = _ledger_counts(site)
    posts = [
        (f"/triage/{triage}", {"unit": "cgj", "version": site.version(triage)}),
        (f"/tickets/{triage}/step/assign", {"unit": "cgj", "version": site.version(triage)}),
        (f"/tickets/{replied}/step/verify", {"passed": "1", "score": "5", "version": 4}),
        (f"/tickets/{replied}/step/archive", {"version": site.version(replied)}),
        (f"/tickets/{theirs}/step/approve_extension", {"version": site.version(theirs)}),
        (f"/tickets/{theirs}/step/reply", {"text": "x", "version": site.version(theirs)}),
        (f"/tickets/{replied}/complainant", {}),
        ("/tickets/bulk", {"step": "archive", "ticket": f"{replied}@{site.version(replied)}"}),
        ("/intake", {"text": "柳岸路井盖缺失"}),
        ("/people/admin/link", {}),
        ("/models/rollback", {}),
    ]
    for path, data in posts:
        response = client.post(path, data={**data, "csrf": client.csrf})
        assert response.status_code in (200, 400, 403, 404, 409), (path, response.status_code)
        if path == "/tickets/bulk":
            assert "未办理" in response.text
        else:
            assert response.status_code >= 400, path
    assert _ledger_counts(site) == before


def test_the_models_page_names_the_version_the_ledger_routes_with(site: Desk) -> None:
    """A version promoted on another machine is the current one here too, though this
    machine's registry has never seen it."""
    from datetime import UTC, datetime

    from ledger.models import ModelPromotion

    with site.rt.session() as session:
        session.add(
            ModelPromotion(
                version="20261201-0900-elsewhere",
                sha256="0" * 64,
                promoted_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
                promoted_by="admin@another-host",
            )
        )
    text = site.client("admin").get("/models").text
    assert "20261201-0900-elsewhere" in text and "在其他机器上训练" in text
    assert "还没有模型版本" not in text
