"""Run stores behind one interface (:class:`Store`), opened from a URL (:func:`open_store`). SQLite is the
default (one file); a shared PostgreSQL store implements the same interface."""

from ._base import Store, open_store
from .sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore", "Store", "open_store"]
