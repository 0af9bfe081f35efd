"""The desk in real Chromium (Debian's package, driven by Playwright for Python).

A live uvicorn server on a free port serves a fresh ledger; each test waits for selectors,
never for a fixed time. Screenshots of the main pages are kept in the test's tmp dir.
Chromium missing: skipped locally, a failure under CI=true.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import unavailable
from tests.web.conftest import PASSWORD, Desk

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=zh-CN",  # date fields as the office sees them (年/月/日)
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("no chromium (apt install chromium, or make system-deps)")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(site: Desk) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(site.app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the web server did not start")
        time.sleep(0.05)  # polling for start-up, not a wait in a test step
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


def login(browser: Any, base: str, site: Desk, code: str) -> Any:
    site.set_password(code)
    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/")
    page.wait_for_selector("form[action='/login']")
    page.fill("input[name=code]", code)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_selector("h1:has-text('工作台')")
    return page


def shot(page: Any, tmp_path: Path, name: str) -> None:
    (tmp_path / "screenshots").mkdir(exist_ok=True)
    page.screenshot(path=str(tmp_path / "screenshots" / f"{name}.png"), full_page=True)


def test_triage_answer_extension_verify_and_export_in_chromium(
    site: Desk, server: str, browser: Any, tmp_path: Path
) -> None:
    number = site.ticket("registered")
    # 录入员 triages from 待分办 with one click on the model's first choice
    desk = login(browser, server, site, "luru1")
    shot(desk, tmp_path, "desk-intake")
    desk.click("nav >> text=待分办")
    desk.wait_for_selector(f"#t-{number} button.choice")
    shot(desk, tmp_path, "triage")
    desk.click(f"#t-{number} button.choice:has-text('住建局')")
    desk.wait_for_selector(".notice:has-text('已交办「住建局」')")
    assert site.snapshot(number)[0] == "assigned"

    # the unit leader acknowledges, asks for more days
    leader = login(browser, server, site, "zjj-ld")
    leader.wait_for_selector(f"a:has-text('{number}')")
    leader.click(f"a:has-text('{number}')")
    leader.click("#step-acknowledge button")
    leader.wait_for_selector(".notice:has-text('已签收')")
    # htmx swapped the page's main part: the address is still the ticket's, not the form's
    assert leader.url.endswith(f"/tickets/{number}")
    assert leader.evaluate("typeof htmx") == "object"
    leader.fill("#step-request_extension input[name=days]", "3")
    leader.fill("#step-request_extension textarea[name=reason]", "需协调供电公司更换电缆")
    leader.click("#step-request_extension button")
    leader.wait_for_selector(".notice:has-text('延期申请')")

    # the supervisor approves the extension
    supervisor = login(browser, server, site, "ducha1")
    shot(supervisor, tmp_path, "desk-supervisor")
    supervisor.goto(f"{server}/tickets/{number}")
    supervisor.click("#step-approve_extension button")
    supervisor.wait_for_selector(".notice:has-text('延期已批准')")

    # the leader answers
    leader.reload()
    leader.fill("#step-reply textarea[name=text]", "已更换电缆，路灯恢复照明")
    leader.click("#step-reply button")
    leader.wait_for_selector(".notice:has-text('已收到反馈')")
    shot(leader, tmp_path, "ticket-leader")

    # the supervisor verifies with a score
    supervisor.reload()
    supervisor.select_option("#step-verify select[name=score]", "4")
    supervisor.click("#step-verify button")
    supervisor.wait_for_selector(".notice:has-text('核查通过')")
    shot(supervisor, tmp_path, "ticket-verified")
    assert site.snapshot(number)[0] == "verified"

    # the 台账 with a filter, and its export downloads
    supervisor.click("nav >> text=台账")
    supervisor.fill("input[name=q]", "路灯")
    supervisor.click("form.filters button[type=submit]")
    supervisor.wait_for_selector(f"#results a:has-text('{number}')")
    shot(supervisor, tmp_path, "tickets")
    with supervisor.expect_download() as download:
        supervisor.click("a:has-text('CSV')")
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    text = saved.read_text("utf-8-sig")
    assert text.startswith("编号,状态") and number in text
    supervisor.click(f"a:has-text('{number}')")
    supervisor.click("#complainant button")
    supervisor.wait_for_selector("#complainant:has-text('13800001111')")
    supervisor.goto(f"{server}/audit")
    supervisor.wait_for_selector("td:has-text('查看来信人信息')")
    shot(supervisor, tmp_path, "audit")


def test_a_unit_member_cannot_open_another_units_ticket_in_chromium(
    site: Desk, server: str, browser: Any, tmp_path: Path
) -> None:
    theirs = site.ticket("assigned", unit="城管局")
    member = login(browser, server, site, "zjj-1")
    response = member.goto(f"{server}/tickets/{theirs}")
    assert response is not None and response.status == 404
    member.wait_for_selector("text=找不到该页面或督办件")
    shot(member, tmp_path, "not-found")
    member.goto(f"{server}/tickets")
    member.wait_for_selector("h1:has-text('台账')")
    assert theirs not in member.content()
