"""``/api/v1``: the desk as JSON for scripts and the office's other systems.

``Authorization: Bearer <token>`` (``duban people token CODE``); the same functions as the
pages, the same visibility (a ticket one may not see is 404, like one that does not exist).
OpenAPI at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from desk import queries as Q
from desk.permissions import sees_complainant, visible_ticket
from duban.runtime import Runtime
from ledger.errors import DubanError, user_text
from reports.render import to_jsonable
from web import actions as W
from web.context import LoginRequired, PageNotFound, PageRefused, Who, bearer
from web.errors import BadForm, status_of
from web.views.desk import todo_sections
from web.views.tickets import list_rows
from web.views.triage import require_triage, triage_rows


class StepBody(BaseModel):
    """A workflow step: the version you saw and the step's fields."""

    expected_version: int = Field(description="督办件版本号（详情中的 version）；已变化则拒绝")
    unit: str | None = Field(default=None, description="交办单位（代码、名称或简称）")
    text: str | None = Field(default=None, description="反馈内容")
    days: int | None = Field(default=None, description="延期工作日 / 批准天数")
    reason: str | None = Field(default=None, description="理由（延期、退回、续办）")
    note: str | None = Field(default=None, description="意见、说明或备注")
    passed: bool | None = Field(default=None, description="核查是否通过")
    score: int | None = Field(default=None, description="质量评分 1-5")


def create_api(rt: Runtime) -> FastAPI:
    api = FastAPI(
        title="督查工作台 API",
        version="1",
        description="督办台账的 JSON 接口；以个人令牌认证：Authorization: Bearer <令牌>",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.state.rt = rt

    @api.exception_handler(LoginRequired)
    async def _401(request: Request, exc: LoginRequired) -> JSONResponse:
        return JSONResponse(
            {"error": "需要有效的个人令牌（Authorization: Bearer …）"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @api.exception_handler(PageNotFound)
    async def _404(request: Request, exc: PageNotFound) -> JSONResponse:
        return JSONResponse({"error": "找不到该督办件"}, status_code=404)

    @api.exception_handler(PageRefused)
    async def _403(request: Request, exc: PageRefused) -> JSONResponse:
        return JSONResponse({"error": exc.text}, status_code=403)

    @api.exception_handler(DubanError)
    async def _refused(request: Request, exc: DubanError) -> JSONResponse:
        return JSONResponse({"error": user_text(exc)}, status_code=status_of(exc))

    @api.get("/me", summary="我是谁")
    def me(who: Who = Depends(bearer)) -> dict[str, Any]:
        p = who.person
        return {"code": p.code, "name": p.name, "roles": p.roles, "unit_id": p.unit_id}

    @api.get("/todo", summary="工作台：我的待办")
    def todo(who: Who = Depends(bearer)) -> list[dict[str, Any]]:
        return [
            {"title": s.title, "rows": [to_jsonable(r.as_dict()) for r in s.rows]}
            for s in todo_sections(rt, who)
        ]

    @api.get("/tickets", summary="台账：督办件列表（与页面相同的筛选参数）")
    def tickets(request: Request, who: Who = Depends(bearer)) -> dict[str, Any]:
        params = request.query_params
        try:
            page_no = max(1, int(params.get("page") or 1))
            size = min(200, max(1, int(params.get("size") or 50)))
        except ValueError:
            raise BadForm("page 和 size 须为整数", "bad paging") from None
        if page_no > 1_000_000:  # beyond SQLite's integers: was a 500
            raise BadForm("page 须在 1 到 1000000 之间", "page out of range")
        rows, more, note = list_rows(rt, who, params, page_no=page_no, size=size)
        out = {"page": page_no, "more": more, "rows": [to_jsonable(r.as_dict()) for r in rows]}
        if note is not None:
            out["note"] = note
        return out

    @api.get("/tickets/{number}", summary="督办件详情")
    def ticket(number: str, who: Who = Depends(bearer)) -> dict[str, Any]:
        with rt.session() as session:
            found = visible_ticket(session, who.viewer, number)
            if found is None:
                raise PageNotFound()
            detail = Q.ticket_detail(
                session, found, viewer=who.viewer, rules=rt.rules, now=rt.now(), with_events=True
            )
            steps = W.offered(session, found, who)
        data = detail.as_dict()
        data["events"] = [to_jsonable(e) for e in detail.events]
        data["steps"] = steps
        out: dict[str, Any] = to_jsonable(data)
        return out

    @api.post(
        "/tickets/{number}/steps/{step}", summary="办理：交办、签收、反馈、延期、退回、核查……"
    )
    def take_step(
        number: str, step: str, body: StepBody, who: Who = Depends(bearer)
    ) -> dict[str, Any]:
        fields = body.model_dump(exclude_none=True)
        if body.passed is not None:
            fields["passed"] = "1" if body.passed else "0"
        result = W.run(rt, who, number, step, fields, body.expected_version)
        return {"text": result.text, **to_jsonable(result.row.as_dict())}

    @api.post("/tickets/{number}/complainant", summary="来信人信息（仅录入员、督查人员；留痕）")
    def complainant(number: str, who: Who = Depends(bearer)) -> dict[str, Any]:
        with rt.session() as session:
            found = visible_ticket(session, who.viewer, number)
            if found is None or not sees_complainant(who.person):
                raise PageNotFound()
            shown = Q.reveal_complainant(
                session, found, viewer=who.viewer, actor=who.actor, now=rt.now()
            )
        return (
            shown.as_dict() if shown is not None else {"name": None, "contact": None, "extra": {}}
        )

    @api.get("/triage", summary="待分办队列（含模型建议的前三个单位）")
    def triage(who: Who = Depends(bearer)) -> list[dict[str, Any]]:
        require_triage(who)
        with rt.session() as session:
            rows = triage_rows(session)
        from dataclasses import asdict

        return [asdict(r) for r in rows]

    return api
