"""Schema upgrades keep an office's ledger: a database made by the first migration upgrades."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from ledger import schema
from ledger.db import make_engine


def test_upgrade_from_the_first_migration_keeps_the_ledger(db_url: str) -> None:
    engine = make_engine(db_url)
    first = schema.revisions()[0]
    assert schema.upgrade(engine, first) == first
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO unit (code, name, short_name, aliases, kind, active) "
                "VALUES ('zjj', '滨河区住房和城乡建设局', '住建局', '[]', 'department', true)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO message (source_kind, channel, received_at, raw_text, text, "
                "content_hash, has_time_limit, status, created_at) VALUES ('online', 'test', "
                "'2026-11-16 02:00:00+00', '路灯不亮', '路灯不亮', 'h', false, 'routed', "
                "'2026-11-16 02:00:00+00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ticket (number, message_id, unit_id, state, source_kind, opened_at, "
                "due_date, due_at, original_due_date, original_due_at, limit_days, "
                "deadline_provisional, extension_days, suggestions, excluded_units, reopen_count, "
                "return_count, duplicate_count, version) VALUES ('DB-2026-000001', 1, 1, "
                "'assigned', 'online', '2026-11-16 02:00:00+00', '2026-12-07', "
                "'2026-12-07 15:59:59+00', '2026-12-07', '2026-12-07 15:59:59+00', 15, false, 0, "
                "'[]', '[]', 0, 0, 0, 1)"
            )
        )
    assert schema.upgrade(engine) == schema.head_revision()
    with engine.connect() as conn:
        number = conn.execute(text("SELECT number FROM ticket")).scalar_one()
        unit = conn.execute(text("SELECT short_name FROM unit")).scalar_one()
    assert (number, unit) == ("DB-2026-000001", "住建局")
    engine.dispose()


def test_models_and_migrations_agree(db_url: str) -> None:
    """``alembic check``: the head schema is exactly what the tables declare."""
    engine = make_engine(db_url)
    schema.upgrade(engine)
    config = schema.alembic_config(db_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.check(config)
    engine.dispose()


def test_upgrade_is_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    assert schema.upgrade(engine) == schema.upgrade(engine) == schema.head_revision()
    engine.dispose()
