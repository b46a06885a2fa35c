"""``ragft-eval store copy`` and ``store migrate``: a team moves its SQLite history into PostgreSQL (and
back) without losing a run, verified by each run's summary being equal in both stores."""

from __future__ import annotations

import shutil
from pathlib import Path

from ragft_eval.cli import main
from ragft_eval.exit_codes import ExitCode
from ragft_eval.store import TABLES, open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "main_v1_store"


def test_a_sqlite_history_copies_into_postgresql_and_back_unchanged(pg_url, tmp_path, capsys):
    src = tmp_path / "judged.sqlite"
    shutil.copy(FIXTURES / "judged.sqlite", src)
    back = f"sqlite:///{tmp_path / 'back.sqlite'}"
    assert main(["store", "copy", str(src), pg_url]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "copied 1 run(s)" in out and "verified: all 1 run summaries are equal in both stores" in out
    assert main(["store", "copy", pg_url, back]) == ExitCode.OK
    assert main(["store", "copy", str(src), pg_url]) == ExitCode.OK  # again: nothing new, still equal
    out = capsys.readouterr().out
    assert "copied 1 run(s)" in out and "0 runs, 0 case_results" in out and "already there, skipped" in out
    with open_store(src) as a, open_store(pg_url) as b, open_store(back) as c:
        for table in TABLES:  # row for row, the timestamps and the stored JSON included
            assert list(a.export_rows(table)) == list(b.export_rows(table)) == list(c.export_rows(table)), table


def test_a_copy_that_does_not_verify_fails(tmp_path, capsys, monkeypatch):
    src = tmp_path / "demo.sqlite"
    shutil.copy(FIXTURES / "demo.sqlite", src)
    import ragft_eval.stats as stats

    real = stats.build_summary
    monkeypatch.setattr(stats, "build_summary", lambda db, run_id: real(db, run_id) if "src" in db.url else None)
    dst = tmp_path / "dst.sqlite"
    src = src.rename(tmp_path / "src.sqlite")
    assert main(["store", "copy", str(src), str(dst)]) == ExitCode.FAILURE
    assert "DIFFERS 20261201-085629-2923cd" in capsys.readouterr().out
    assert main(["store", "copy", str(src), str(src)]) == ExitCode.INPUT


def test_migrate_opens_a_store_at_the_current_version(pg_url, tmp_path, capsys, monkeypatch):
    assert main(["store", "migrate", pg_url]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == f"store {pg_url}: schema version 1, 0 run(s)"
    monkeypatch.setenv("RAGFT_STORE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    assert main(["store", "migrate"]) == ExitCode.OK
    assert "env.sqlite: schema version 1" in capsys.readouterr().out
    monkeypatch.delenv("RAGFT_STORE_URL")
    assert main(["store", "migrate"]) == ExitCode.INPUT
    assert "URL: expected a store URL" in capsys.readouterr().err
