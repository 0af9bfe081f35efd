"""Chat: one bot core for Telegram, Matrix and the console.

Adapters (``bots.telegram``, ``bots.matrix``, ``bots.console``, ``bots.memory``) only
translate between a platform and :class:`bots.messages.IncomingMessage` /
:class:`bots.messages.OutgoingMessage`; every behaviour is written once in
:mod:`bots.handlers` and reached through :class:`bots.hub.ChatHub`. Workers never talk to a
platform: they write ``Notification`` rows and :mod:`bots.outbox` delivers them.

Imports run one way: ``bots -> routing -> intake -> ledger``. Only ``bots.telegram``
imports ``telegram``; only ``bots.matrix`` imports ``nio``.
"""
