"""Run stores behind one interface (:class:`Store`), opened from a URL (:func:`open_store`). SQLite is the
default (one file); a shared PostgreSQL store (:class:`PostgresStore`, psycopg imported only when one is
opened) implements the same interface on the same tables."""

from ._base import TABLES, Store, open_store
from ._copy import CopyReport, copy_store
from ._lease import Lease
from .postgres import PostgresStore
from .sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "CopyReport",
    "Lease",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "copy_store",
    "open_store",
]
