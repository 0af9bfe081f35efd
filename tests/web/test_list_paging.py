"""The 台账's 下一页 / 上一页 carry the ticket a page starts after or ends before (keyset
paging), and walk the whole list, either way, exactly as page numbers with OFFSET did."""

from __future__ import annotations

import re
from html import unescape

from tests.web.conftest import Desk

NUMBER = re.compile(r"<a href=\"/tickets/(DB-\d{4}-\d{6})\">")
LINK = re.compile(r'<a href="/tickets\?([^"]*)">(上一页|下一页)</a>')


def listed(html: str) -> list[str]:
    return NUMBER.findall(html)


def links(html: str) -> dict[str, str]:
    return {label: unescape(query) for query, label in LINK.findall(html)}


def test_next_and_previous_walk_the_list_by_keyset(site: Desk) -> None:
    numbers = [site.ticket("registered", text=f"东湖路第{i}盏路灯不亮") for i in range(45)]
    client = site.client("ducha1")
    for order, expected in (("new", numbers[::-1]), ("old", numbers)):
        html = client.get(f"/tickets?size=20&order={order}").text
        pages = [listed(html)]
        while "下一页" in links(html):
            query = links(html)["下一页"]
            assert "after=" in query and "page=" in query
            html = client.get(f"/tickets?{query}").text
            pages.append(listed(html))
        assert [len(p) for p in pages] == [20, 20, 5]
        assert [n for p in pages for n in p] == expected
        assert "第 3 页" in html
        # back from the last page: before its first ticket, then page 1 plainly
        back = links(html)["上一页"]
        assert "before=" in back and "page=2" in back
        html = client.get(f"/tickets?{back}").text
        assert listed(html) == pages[1] and links(html)["下一页"].count("after=") == 1
        assert "after" not in links(html)["上一页"] and "before" not in links(html)["上一页"]
        assert listed(client.get(f"/tickets?{links(html)['上一页']}").text) == pages[0]
        # a bare page number still works (OFFSET)
        assert listed(client.get(f"/tickets?size=20&order={order}&page=2").text) == pages[1]


def test_an_unknown_page_cursor_is_named(site: Desk) -> None:
    site.ticket("registered")
    html = site.client("ducha1").get("/tickets?after=DB-2099-000001&page=2")
    assert html.status_code == 200 and "翻页位置「DB-2099-000001」" in html.text


def test_the_api_pages_after_a_ticket(site: Desk) -> None:
    from ledger.directory import get_person
    from web.auth import issue_token

    numbers = [site.ticket("registered", text=f"学府路第{i}处噪音扰民") for i in range(7)]
    with site.rt.session() as session:
        token = issue_token(session, get_person(session, "ducha1"), by="t", now=site.rt.now())
    api = site.anonymous()
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[str] = []
    query = "size=3&order=old"
    while True:
        body = api.get(f"/api/v1/tickets?{query}", headers=headers).json()
        seen += [r["number"] for r in body["rows"]]
        if not body["more"]:
            break
        query = f"size=3&order=old&after={seen[-1]}"
    assert seen == numbers
    bad = api.get("/api/v1/tickets?after=DB-2099-000001", headers=headers)
    assert bad.status_code == 400 and "翻页位置" in bad.text
