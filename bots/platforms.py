"""Chat platforms by name: each name resolves to the factory that builds its adapter.

``duban bot --telegram --matrix`` asks this registry for ``telegram`` and ``matrix``;
a fourth platform is one adapter module with a ``make_adapter(setup)`` function and one
line in :data:`PLATFORM_ALIASES` (rq's ``SERIALIZER_ALIASES`` / ``resolve_serializer``
is the model). The factories are named by dotted path, so asking for one platform never
imports another platform's library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.engine import Engine

from bots.adapter import ChatAdapter
from bots.errors import NotConfigured


@dataclass(frozen=True, slots=True)
class PlatformSetup:
    """What a factory may use to build its adapter."""

    settings: Any  # duban.settings.Settings (DUBAN_TELEGRAM_*, DUBAN_MATRIX_* …)
    engine: Engine
    now: Callable[[], datetime]
    stdin: TextIO | None = None  # the console reads and writes the terminal
    stdout: TextIO | None = None


PlatformFactory = Callable[[PlatformSetup], ChatAdapter]

PLATFORM_ALIASES: dict[str, str] = {
    "console": "bots.console.make_adapter",
    "telegram": "bots.telegram.make_adapter",
    "matrix": "bots.matrix.make_adapter",
    "dingtalk": "bots.dingtalk.make_adapter",
}


def resolve_platform(name: str) -> PlatformFactory:
    """The factory of platform ``name`` (an alias above, or a dotted path to a factory)."""
    path = PLATFORM_ALIASES.get(name, name)
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise NotConfigured(
            f"未知的聊天平台「{name}」，可选：{'、'.join(PLATFORM_ALIASES)} (unknown platform)"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):  # the path itself
            raise NotConfigured(
                f"未知的聊天平台「{name}」，可选：{'、'.join(PLATFORM_ALIASES)} (no {module_name})"
            ) from exc
        raise  # the platform's own library is missing: a broken installation, say so
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise NotConfigured(f"聊天平台「{name}」没有 {path} (no factory)")
    return factory


def build(names: list[str], setup: PlatformSetup) -> list[ChatAdapter]:
    """One adapter per platform name, in order; an unknown or unconfigured one is refused."""
    if len(set(names)) != len(names):
        raise NotConfigured("同一平台只能选择一次 (a platform was given twice)")
    return [resolve_platform(name)(setup) for name in names]
