"""The web desk (督查工作台): server-rendered pages and the ``/api/v1`` JSON API.

Every action goes through ``desk.tickets`` and every visibility rule through
``desk.permissions``, the same functions chat and CLI call; the web never writes the
ledger another way. ``web.auth`` keeps passwords, sessions, API tokens and one-time login
links (only hashes of secrets are stored); ``web.app.create_app`` wires the views.
"""
