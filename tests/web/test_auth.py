"""Login, sessions, CSRF, throttling, deactivation, API tokens, and the two CLI commands."""

from __future__ import annotations

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from desk.logins import digest
from duban.cli import app as cli
from ledger.directory import get_person
from ledger.models import ApiToken, LoginAttempt, WebPassword, WebSession
from tests.web.conftest import PASSWORD, Desk
from web.app import create_app
from web.auth import MAX_FAILURES_PER_PERSON


def test_login_sets_an_httponly_samesite_cookie_and_logout_ends_the_session(site: Desk) -> None:
    site.set_password("ducha1")
    client = site.anonymous()
    assert client.get("/").headers["location"].startswith("/login")
    response = client.post(
        "/login", data={"csrf": site.login_form(client), "code": "ducha1", "password": PASSWORD}
    )
    assert response.status_code == 303
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "duban_session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "工作台" in page.text and "陈立新" in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/").status_code == 303  # the cookie no longer opens anything


def test_wrong_password_is_refused_in_chinese_without_saying_which(site: Desk) -> None:
    site.set_password("ducha1")
    client = site.anonymous()
    for code in ("ducha1", "nobody"):
        refused = client.post(
            "/login", data={"csrf": site.login_form(client), "code": code, "password": "wrong-pw-1"}
        )
        assert refused.status_code == 401
        assert "编号或密码不正确" in refused.text
    assert "duban_session" not in client.cookies


def test_login_without_the_forms_token_is_refused(site: Desk) -> None:
    site.set_password("ducha1")
    client = site.anonymous()
    refused = client.post("/login", data={"code": "ducha1", "password": PASSWORD})
    assert refused.status_code == 400 and "表单已失效" in refused.text


def test_failed_logins_are_throttled_per_person_across_processes(site: Desk) -> None:
    site.set_password("ducha1")
    client = site.anonymous()
    for _ in range(MAX_FAILURES_PER_PERSON):
        client.post(
            "/login", data={"csrf": site.login_form(client), "code": "ducha1", "password": "x" * 9}
        )
    # another web process on the same ledger refuses too, even the right password
    other = Desk(site.rt)
    fresh = other.anonymous()
    refused = fresh.post(
        "/login", data={"csrf": other.login_form(fresh), "code": "ducha1", "password": PASSWORD}
    )
    assert refused.status_code == 429 and "登录失败次数过多" in refused.text
    # the throttle is per person: someone else logs in from the same address
    assert other.client("luru1").get("/").status_code == 200
    with site.rt.session() as session:
        failures = session.exec(select(LoginAttempt).where(LoginAttempt.ok == False)).all()  # noqa: E712
    assert len(failures) == MAX_FAILURES_PER_PERSON
    # fifteen minutes later the person may try again
    site.rt.clock.advance(minutes=16)  # type: ignore[attr-defined]
    assert Desk(site.rt).client("ducha1").get("/").status_code == 200


def test_a_deactivated_person_is_logged_out_at_once(site: Desk) -> None:
    client = site.client("zjj-1")
    assert client.get("/").status_code == 200
    with site.rt.session() as session:
        person = get_person(session, "zjj-1")
        person.active = False
        session.add(person)
    assert client.get("/").status_code == 303
    with site.rt.session() as session:
        rows = session.exec(select(WebSession)).all()
    assert rows and all(r.revoked_at is not None for r in rows)


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(site: Desk) -> None:
    number = site.ticket("assigned")
    client = site.client("zjj-ld")
    before = site.snapshot(number)
    for data in ({"version": before[1]}, {"version": before[1], "csrf": "forged"}):
        refused = client.post(f"/tickets/{number}/step/acknowledge", data=data)
        assert refused.status_code == 403 and "表单已失效" in refused.text
    assert site.snapshot(number) == before


def test_passwords_are_stored_as_argon2_hashes(site: Desk) -> None:
    site.set_password("luru1")
    with site.rt.session() as session:
        stored = session.exec(select(WebPassword)).one()
    assert stored.password_hash.startswith("$argon2") and PASSWORD not in stored.password_hash


@pytest.fixture
def cli_env(site: Desk, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DUBAN_DATABASE_URL", site.rt.settings.db_url)
    return CliRunner()


def test_cli_sets_a_password_from_stdin_and_prints_a_token_as_the_last_line(
    site: Desk, cli_env: CliRunner
) -> None:
    done = cli_env.invoke(
        cli, ["people", "set-password", "ducha1", "--password-stdin"], input="long-enough-pw\n"
    )
    assert done.exit_code == 0, done.output
    client = site.anonymous()
    ok = client.post(
        "/login",
        data={"csrf": site.login_form(client), "code": "ducha1", "password": "long-enough-pw"},
    )
    assert ok.status_code == 303
    short = cli_env.invoke(
        cli, ["people", "set-password", "ducha1", "--password-stdin"], input="abc\n"
    )
    assert short.exit_code == 2 and "至少" in short.output
    issued = cli_env.invoke(cli, ["people", "token", "ducha1"])
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    with site.rt.session() as session:
        row = session.exec(select(ApiToken)).one()
    assert row.token_hash == digest(token) and token not in row.token_hash
    me = site.anonymous().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["code"] == "ducha1"


def test_api_needs_a_valid_token_and_serves_its_openapi(site: Desk) -> None:
    client = site.anonymous()
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert "/tickets/{number}/steps/{step}" in paths and "/todo" in paths


def test_a_deactivated_persons_token_stops_working(site: Desk) -> None:
    from web.auth import issue_token

    with site.rt.session() as session:
        token = issue_token(session, get_person(session, "cgj-1"), by="test", now=site.rt.now())
    headers = {"Authorization": f"Bearer {token}"}
    client = site.anonymous()
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with site.rt.session() as session:
        person = get_person(session, "cgj-1")
        person.active = False
        session.add(person)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_one_time_login_link_works_once(site: Desk) -> None:
    from desk.logins import issue_login_link

    with site.rt.session() as session:
        secret = issue_login_link(
            session, get_person(session, "zjj-ld"), by="bot", now=site.rt.now()
        )
    client = site.anonymous()
    form = client.get(f"/login/link/{secret}")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    assert client.post(f"/login/link/{secret}", data={"csrf": csrf}).status_code == 303
    again = site.anonymous()
    form = again.get(f"/login/link/{secret}")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    used = again.post(f"/login/link/{secret}", data={"csrf": csrf})
    assert used.status_code == 401 and "已使用或已过期" in used.text
    with site.rt.session() as session:
        assert (
            len(session.exec(select(WebSession).where(col(WebSession.revoked_at).is_(None))).all())
            == 1
        )
    _ = create_app


def test_demo_logins_give_a_few_people_a_password_that_logs_in(site: Desk) -> None:
    from duban.cli.web import DEMO_LOGINS, demo_logins

    lines = demo_logins(site.rt)
    assert lines[0].startswith("演示账号") and len(lines) == len(DEMO_LOGINS) + 1
    code, _, password = lines[1].split()[:3]
    client = site.anonymous()
    done = client.post(
        "/login", data={"csrf": site.login_form(client), "code": code, "password": password}
    )
    assert done.status_code == 303


def test_duban_web_refuses_a_demo_without_the_demo_ledger(
    tmp_path, cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from duban.cli import web as web_cmd

    monkeypatch.setattr(web_cmd, "DEMO_HOME", tmp_path / "no-demo")
    result = cli_env.invoke(cli, ["web", "--demo"])
    assert result.exit_code == 1 and "make demo" in result.output


def test_failed_logins_are_throttled_per_address(site: Desk) -> None:
    from web.auth import MAX_FAILURES_PER_ADDRESS

    client = site.anonymous()
    for i in range(MAX_FAILURES_PER_ADDRESS):
        client.post(
            "/login",
            data={"csrf": site.login_form(client), "code": f"guess{i}", "password": "x" * 9},
        )
    site.set_password("admin")
    refused = client.post(
        "/login", data={"csrf": site.login_form(client), "code": "admin", "password": PASSWORD}
    )
    assert refused.status_code == 429 and "请 15 分钟后再试" in refused.text


def test_old_login_attempts_and_long_expired_sessions_are_forgotten(site: Desk) -> None:
    site.client("luru1")
    client = site.anonymous()
    client.post("/login", data={"csrf": site.login_form(client), "code": "x", "password": "y" * 9})
    site.rt.clock.advance(days=40)  # type: ignore[attr-defined]
    site.client("ducha1")
    with site.rt.session() as session:
        attempts = session.exec(select(LoginAttempt)).all()
        sessions = session.exec(select(WebSession)).all()
    assert [a.person_code for a in attempts] == ["ducha1"]
    assert len(sessions) == 1
