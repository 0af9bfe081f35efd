"""模型 (admin): the classifier's versions with their metrics, which one routing uses;
promote a version or roll back, as ``duban model promote|rollback`` does (the sha256 is
recorded in the ledger and the triage queue's suggestions are recomputed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from classifier.errors import ClassifierError
from ledger.models import Role
from web.context import PageRefused, Who, current, form_of, runtime_of
from web.render import page

router = APIRouter()


def require_admin(who: Who) -> None:
    if not who.has(Role.ADMIN):
        raise PageRefused("模型管理仅供管理员使用")


def versions(request: Request) -> list[dict[str, Any]]:
    from classifier.registry import Registry
    from routing.training import current_version

    rt = runtime_of(request)
    registry = Registry(rt.settings.models_path)
    # the ledger says which version routes (another machine may have promoted it), not this
    # machine's registry pointer
    with rt.session() as session:
        current = current_version(session, registry)
    known = registry.versions() if registry.root.is_dir() else []
    rows: list[dict[str, Any]] = []
    if current is not None and current not in known:
        rows.append(
            {
                "version": current,
                "current": True,
                "elsewhere": True,
                "created_at": None,
                "rows": None,
                "labels": "—",
                "macro_f1": None,
                "coverage_at_97": None,
                "threshold": None,
            }
        )
    for version in reversed(known):
        manifest = registry.manifest(version)
        cv = manifest.get("metrics", {}).get("cv", {})
        rows.append(
            {
                "version": version,
                "current": version == current,
                "created_at": _local(manifest.get("created_at"), request),
                "rows": manifest.get("data", {}).get("rows"),
                "labels": len(manifest.get("labels", [])),
                "macro_f1": cv.get("macro_f1"),
                "coverage_at_97": cv.get("coverage_at_97"),
                "threshold": manifest.get("threshold"),
            }
        )
    return rows


def _local(value: str | None, request: Request) -> str:
    """A manifest's ISO timestamp in the office's zone, to the minute."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return value or ""
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(runtime_of(request).tz).strftime("%Y-%m-%d %H:%M")


@router.get("/models")
def models_page(request: Request) -> Response:
    who = current(request)
    require_admin(who)
    return page(request, "models.html", who, rows=versions(request))


@router.post("/models/{action}")
async def models_action(request: Request, action: str) -> Response:
    from classifier.registry import Registry
    from routing.training import promote_version

    who = current(request)
    form = await form_of(request)
    require_admin(who)
    rt = runtime_of(request)
    notice, error, status = None, None, 200
    try:
        if action not in ("promote", "rollback"):
            raise ClassifierError("未知操作")
        version = str(form.get("version") or "") if action == "promote" else ""
        with rt.session() as session:
            state = promote_version(
                session,
                Registry(rt.settings.models_path),
                version,
                by=who.person.code,
                now=rt.now(),
                action="manual" if action == "promote" else "rollback",
            )
        rt.forget_predictor()
        notice = (
            f"{'已启用' if action == 'promote' else '已回滚，当前启用'}模型版本 {state['version']}"
            f"（校验值已记入台账）；已重新计算 {state['resuggested']} 件待分办的建议单位"
        )
    except ClassifierError as exc:
        error, status = str(exc), 409
    return page(
        request,
        "models.html",
        who,
        status=status,
        rows=versions(request),
        notice=notice,
        error=error,
    )
