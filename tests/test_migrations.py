"""Migrations: every one applies from empty to head and back down, on SQLite and PostgreSQL,
and no model change is left without a migration."""

from __future__ import annotations

from tortoise.context import TortoiseContext
from tortoise.models import Model

from communepol.db import models
from communepol.db.orm import (
    applied_migrations,
    migrate,
    open_database,
    pending_model_changes,
    unapplied_migrations,
)

EXPECTED_TABLES = {
    "unit",
    "tip_route",
    "rumour_cluster",
    "staff",
    "staff_identity",
    "api_token",
    "duty_shift",
    "link_code",
    "page",
    "channel_account",
    "page_channel",
    "contact",
    "consent_record",
    "conversation_state",
    "follow",
    "household",
    "household_group",
    "household_group_member",
    "household_relay_confirmation",
    "post",
    "post_translation",
    "post_attachment",
    "publication",
    "alert",
    "alert_target",
    "delivery",
    "inbound_event",
    "community_group",
    "group_message",
    "tip",
    "tip_message",
    "tip_attachment",
    "tip_event",
    "sla_policy",
    "routing_rule",
    "alias_vault_entry",
    "reveal_request",
    "audit_event",
    "web_session",
    "lease",
}


async def _tables(ctx: TortoiseContext) -> set[str]:
    db = ctx.db()
    if db.capabilities.dialect == "sqlite":
        rows = await db.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
    else:
        rows = await db.execute_query_dict(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        )
    return {row["name"] for row in rows} - {"tortoise_migrations", "sqlite_sequence"}


async def test_the_fixture_database_is_at_head(db: TortoiseContext) -> None:
    assert await unapplied_migrations(db) == []
    assert await _tables(db) == EXPECTED_TABLES


async def _indexes(ctx: TortoiseContext) -> set[str]:
    db = ctx.db()
    if db.capabilities.dialect == "sqlite":
        rows = await db.execute_query_dict("SELECT name FROM sqlite_master WHERE type='index'")
    else:
        rows = await db.execute_query_dict(
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'"
        )
    return {row["name"] for row in rows}


async def _foreign_keys(ctx: TortoiseContext, table: str) -> int:
    db = ctx.db()
    if db.capabilities.dialect == "sqlite":
        return len(await db.execute_query_dict(f"PRAGMA foreign_key_list({table})"))
    rows = await db.execute_query_dict(
        "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::regclass",
        [table],
    )
    return len(rows)


async def test_every_declared_index_exists(db: TortoiseContext) -> None:
    """Each model's named indexes are in the database, on both engines (a SQLite table rebuild
    once lost two of the outbox's)."""
    declared = {
        index.name
        for model in vars(models).values()
        if isinstance(model, type) and issubclass(model, Model) and model is not Model
        for index in model._meta.indexes
        if getattr(index, "name", None)
    }
    assert "delivery_publication_idx" in declared
    assert declared - await _indexes(db) == set()


async def test_the_outbox_has_no_foreign_keys_on_postgresql(db: TortoiseContext) -> None:
    dialect = db.db().capabilities.dialect
    assert await _foreign_keys(db, "follow") > 0  # the others keep theirs
    assert await _foreign_keys(db, "delivery") == (0 if dialect == "postgres" else 5)


async def test_down_to_zero_and_up_again(db: TortoiseContext) -> None:
    head = await applied_migrations(db)
    steps = await migrate(db, "zero")
    assert steps == ["-" + name for name in reversed(head)]
    assert await _tables(db) == set()
    assert await applied_migrations(db) == []
    steps = await migrate(db)
    assert steps == ["+" + name for name in head]
    assert await _tables(db) == EXPECTED_TABLES


async def test_from_an_empty_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with open_database(f"sqlite://{tmp_path}/empty.sqlite3") as ctx:
        assert await _tables(ctx) == set()
        assert await unapplied_migrations(ctx) != []
        await migrate(ctx)
        assert await unapplied_migrations(ctx) == []


async def test_every_model_change_has_a_migration(db: TortoiseContext) -> None:
    assert await pending_model_changes(db) == []


def test_make_migrations_is_wired_to_the_same_migrations() -> None:
    """`make migrations` runs the `tortoise` command with pyproject's config: it must see the
    migration files the service applies."""
    import subprocess
    import sys
    from pathlib import Path

    from communepol.db import migrations

    on_disk = sorted(
        p.stem for p in Path(migrations.__file__).parent.glob("[0-9][0-9][0-9][0-9]_*.py")
    )
    result = subprocess.run(
        [str(Path(sys.executable).parent / "tortoise"), "heads"],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"communepol.{on_disk[-1]}" in result.stdout
