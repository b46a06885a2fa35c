"""Baselines: a run promoted under a name ("main", "release-3"), kept in the run store, that the
regression gates compare a new run with.  Promoting again moves the name; the record keeps what it was
promoted from (run, suite, golden sets) and when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import InputError
from ..store import Store

KIND = "baseline"


def _key(name: str) -> str:
    return f"baseline:{name}"


def latest_run(store: Store, *, suite: str | None = None) -> str:
    """The newest finished run (of ``suite``, when given): what CI promotes after a run on main."""
    runs = [r for r in store.runs() if r["status"] == "finished" and (suite is None or r["suite_name"] == suite)]
    if not runs:
        raise InputError(f"run_id: no finished run{f' of suite {suite!r}' if suite else ''} in store {store.url}")
    return runs[-1]["run_id"]


def promote(store: Store, run_id: str, *, name: str = "main", note: str = "", now: datetime | None = None,
            suite: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Promote ``run_id`` (a finished run; ``latest``: the newest finished run, of ``suite`` when given)
    to the baseline ``name``; the record is returned."""
    if run_id == "latest":
        run_id = latest_run(store, suite=suite)
    manifest = store.manifest(run_id)
    if manifest is None:
        raise InputError(f"run_id: no run {run_id!r} in store {store.url}")
    status = store.run_status(run_id)
    if status != "finished":
        raise InputError(f"run_id: run {run_id!r} is {status}, not finished: only a finished run can be a baseline")
    previous = show(store, name)
    record = {
        "name": name,
        "run_id": run_id,
        "promoted_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "suite_name": manifest.suite_name,
        "suite_hash": manifest.suite_hash,
        "golden_sets": manifest.golden_sets,
        "previous_run_id": previous["run_id"] if previous else None,
        "note": note,
    }
    store.put_artifact(_key(name), KIND, record)
    return record


def list_baselines(store: Store) -> list[dict[str, Any]]:
    return [r for r in store.artifacts(KIND)]


def show(store: Store, name: str) -> dict[str, Any] | None:
    return next((r for r in store.artifacts(KIND) if r.get("name") == name), None)


def resolve(store: Store, name: str) -> str:
    """The run id promoted as ``name`` (InputError naming the known baselines when there is none)."""
    record = show(store, name)
    if record is None:
        known = ", ".join(sorted(r["name"] for r in list_baselines(store))) or "none"
        raise InputError(f"--baseline: no baseline {name!r} in store {store.url} (known: {known}); "
                         "promote one with `ragft-eval baseline promote RUN_ID --name NAME`")  # fmt: skip
    return record["run_id"]
