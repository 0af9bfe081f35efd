"""Numbers and dates no office means, typed into the web desk: a 400 in Chinese, never a 500."""

from __future__ import annotations

import pytest

from tests.web.conftest import Desk

BIG = "99999999999999999999"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        # each was an OverflowError (a 500)
        (f"/tickets?page={BIG}", "页码"),
        (f"/audit?before={BIG}", "before"),
        ("/audit?from=0001-01-01&to=9999-12-31", "1900–2999"),
    ],
)
def test_out_of_range_queries_are_a_bad_form(site: Desk, url: str, needle: str) -> None:
    response = site.client("ducha1").get(url)
    assert response.status_code == 400, response.text[:300]
    assert needle in response.text


def test_the_api_refuses_a_page_beyond_any_ledger(site: Desk) -> None:
    from ledger.directory import get_person
    from web.auth import issue_token

    with site.rt.session() as session:
        token = issue_token(session, get_person(session, "zjj-ld"), by="t", now=site.rt.now())
    api = site.anonymous()
    response = api.get(f"/api/v1/tickets?page={BIG}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and "page" in response.json()["error"]


def test_a_step_with_a_huge_number_is_a_bad_form(site: Desk) -> None:
    number = site.ticket("acknowledged")
    leader = site.client("zjj-ld")
    response = leader.post(
        f"/tickets/{number}/step/request_extension",
        data={"csrf": leader.csrf, "version": BIG, "days": BIG, "reason": "需协调供电公司"},
    )
    assert response.status_code == 400 and "超出范围" in response.text
    assert site.snapshot(number)[0] == "acknowledged"


def test_bulk_with_a_garbled_version_refuses_that_ticket_only(site: Desk) -> None:
    done, other = site.ticket("verified"), site.ticket("verified")
    supervisor = site.client("ducha1")
    response = supervisor.post(
        "/tickets/bulk",
        data={
            "csrf": supervisor.csrf,
            "step": "archive",
            "ticket": [f"{done}@abc", f"{other}@{site.version(other)}"],
        },
    )  # int("abc") was a 500 that archived nothing
    assert response.status_code == 200
    assert "版本号有误" in response.text and f"{other} 已归档" in response.text
    assert site.snapshot(done)[0] == "verified" and site.snapshot(other)[0] == "archived"
