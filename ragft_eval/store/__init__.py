"""Run stores. SQLite is the default (one file); the interface leaves room for a shared PostgreSQL store."""

from .sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore"]
