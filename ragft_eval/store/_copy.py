"""Copying a store into another, whatever their backends (a team moving its SQLite history into
PostgreSQL): every run, result and artifact, row for row, so the copy reports exactly what the source did.

Each run is copied in one transaction of the destination, so a copy cut short leaves whole runs; a row
already in the destination is skipped, so running the copy again completes it and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._base import RUN_TABLES, TABLES, Store


@dataclass(frozen=True)
class CopyReport:
    """What a copy did: the runs copied (in the source's order) and the rows inserted and skipped per table."""

    runs: tuple[str, ...]
    inserted: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def copy_store(src: Store, dst: Store) -> CopyReport:
    """Copy every run of ``src`` (its case and metric results with it) and every artifact into ``dst``."""
    inserted, total = dict.fromkeys(TABLES, 0), dict.fromkeys(TABLES, 0)

    def counted(table: str, rows):
        for row in rows:
            total[table] += 1
            yield row

    runs = tuple(r["run_id"] for r in src.runs())
    for run_id in runs:
        got = dst.import_rows({t: counted(t, src.export_rows(t, run_id)) for t in RUN_TABLES})
        for table, n in got.items():
            inserted[table] += n
    for table, n in dst.import_rows({"artifacts": counted("artifacts", src.export_rows("artifacts"))}).items():
        inserted[table] += n
    return CopyReport(runs=runs, inserted=inserted, skipped={t: total[t] - inserted[t] for t in TABLES})
