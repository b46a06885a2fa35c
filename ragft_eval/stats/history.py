"""The run history of a store: one row per run (what ``ragft-eval runs`` shows) and the retention plan
(what ``ragft-eval store prune`` deletes and keeps).

Rows are built from the store alone: each run's manifest (suite, date, golden sets, systems, cases), its
results (the error rate) and its stored gate results (passed and failed, the baseline it was compared
with).  A run whose manifest is missing or unreadable still gets a row from the ``runs`` table, with what
the manifest would have said left empty, so a store written by an older ragft-eval lists every run.

Retention (:func:`retention_plan`) keeps every run younger than ``keep_days``; of the older ones it keeps
the promoted baselines (always), the runs a stored report names (always), with ``keep_baselines`` also
every run that was once promoted or compared with as a baseline, and with ``keep_every_weeks`` the
newest run of each suite in each block of that many weeks (a thinned history stays a history).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..store import Store

SCHEMA_VERSION = 1
REPORT_KIND = "report"  # artifacts recording which runs a written report (the quarterly one) covers


def parse_when(value: str | date | datetime | None, *, end: bool = False) -> datetime | None:
    """``2025-01-31`` or an ISO datetime as an aware UTC datetime (``end``: a bare date means its end)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        value = value.isoformat()
    text = str(value).strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date such as 2025-01-31 or an ISO datetime, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if end and len(text) == 10:  # a bare date: the whole day is in the window
        when += timedelta(days=1) - timedelta(microseconds=1)
    return when


@dataclass(frozen=True)
class GoldenSetRef:
    """A golden set as a run used it."""

    name: str
    version: str | None
    content_hash: str
    cases: int  # the run's selected cases of this set


@dataclass(frozen=True)
class RunRow:
    """One run of the history.  ``gates_*`` count the gate results of the run's latest stored gate
    evaluation (None: none stored); ``baseline`` and ``baseline_run_id``: the baseline the latest evaluation
    that had one compared the run with."""

    run_id: str
    suite: str
    created_at: str
    status: str
    golden_sets: tuple[GoldenSetRef, ...]
    systems: tuple[str, ...]
    cases: int
    responses: int
    failed: int
    error_rate: float | None  # failed responses / responses, over every system; None without responses
    gates_passed: int | None = None
    gates_failed: int | None = None
    gates_skipped: int | None = None
    failing_gates: tuple[str, ...] = ()
    baseline: str | None = None
    baseline_run_id: str | None = None
    schema_version: int = SCHEMA_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _gate_records(store: Store) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for record in store.artifacts("gates"):
        if record.get("run_id"):
            out.setdefault(record["run_id"], []).append(record)
    for records in out.values():
        records.sort(key=lambda r: (r.get("evaluated_at") or "", r.get("key") or ""))
    return out


def _row(store: Store, run: dict[str, str], gates: list[dict[str, Any]]) -> RunRow:
    run_id = run["run_id"]
    try:
        manifest = store.manifest(run_id)
    except Exception:  # unreadable by this version: the run is still listed, from the runs table
        manifest = None
    golden: tuple[GoldenSetRef, ...] = ()
    systems: tuple[str, ...] = ()
    if manifest is not None:
        golden = tuple(GoldenSetRef(name=n, version=manifest.golden_set_versions.get(n), content_hash=h,
                                    cases=len(manifest.case_hashes.get(n, {})))
                       for n, h in manifest.golden_sets.items())  # fmt: skip
        systems = tuple(manifest.systems)
    responses = failed = 0
    seen: set[str] = set()
    answered: set[str] = set()
    for cr in store.results(run_id):
        responses += 1
        failed += int(cr.response.failed)
        seen.add(f"{cr.golden_set}/{cr.case_id}")
        answered.add(cr.system)
    cases = sum(g.cases for g in golden) or len(seen)  # a schema-1 manifest has no case hashes
    created = manifest.created_at if manifest else run["created_at"]
    row = RunRow(run_id=run_id, suite=run["suite_name"], created_at=created, status=run["status"], golden_sets=golden,
                 systems=systems or tuple(sorted(answered)), cases=cases, responses=responses, failed=failed,
                 error_rate=failed / responses if responses else None)  # fmt: skip
    if gates:
        latest = gates[-1]
        results = latest.get("results") or []
        with_baseline = [g for g in gates if g.get("baseline") or g.get("baseline_run_id")]
        row = replace(row, gates_passed=sum(1 for g in results if g.get("passed") and not g.get("skipped")),
                       gates_failed=sum(1 for g in results if not g.get("passed")),
                       gates_skipped=sum(1 for g in results if g.get("skipped")),
                       failing_gates=tuple(g.get("name", "?") for g in results if not g.get("passed")),
                       baseline=with_baseline[-1].get("baseline") if with_baseline else None,
                       baseline_run_id=with_baseline[-1].get("baseline_run_id") if with_baseline else None)  # fmt: skip
    return row


def run_history(store: Store, *, suite: str | None = None, since: str | date | datetime | None = None,
                until: str | date | datetime | None = None) -> list[RunRow]:  # fmt: skip
    """Every run of ``store`` (of ``suite``; created in ``[since, until]``), oldest first."""
    start, end = parse_when(since), parse_when(until, end=True)
    gates = _gate_records(store)
    rows = []
    for run in store.runs():
        if suite is not None and run["suite_name"] != suite:
            continue
        created = parse_when(run["created_at"])
        if (start and created and created < start) or (end and created and created > end):
            continue
        rows.append(_row(store, run, gates.get(run["run_id"], [])))
    return sorted(rows, key=lambda r: (r.created_at, r.run_id))


# --- retention --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    """What a prune deletes and keeps: ``kept`` maps each kept run to why (``recent``, ``baseline``, ...)."""

    now: str
    keep_days: float
    delete: tuple[str, ...]
    kept: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reported_runs(store: Store) -> set[str]:
    """Every run a stored report names (``report`` artifacts list the runs they cover)."""
    return {r for record in store.artifacts(REPORT_KIND) for r in record.get("runs", [])}


def retention_plan(store: Store, *, keep_days: float, baselines: Sequence[dict[str, Any]],
                   keep_baselines: bool = False, keep_every_weeks: int | None = None,
                   now: datetime | None = None) -> Retention:  # fmt: skip
    """Which runs a prune deletes (see the module docstring).  ``baselines``: the store's baseline records
    (``gates.baselines.list_baselines``: this layer does not read the gates' records itself)."""
    if keep_days < 0:
        raise ValueError(f"keep_days: expected a number of days >= 0, got {keep_days}")
    if keep_every_weeks is not None and keep_every_weeks < 1:
        raise ValueError(f"keep_every_weeks: expected a number of weeks >= 1, got {keep_every_weeks}")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=keep_days)
    kept: dict[str, str] = {}
    runs = store.runs()
    for record in baselines:  # a promoted baseline is never deleted, with or without --keep-baselines
        kept.setdefault(record["run_id"], f"baseline {record.get('name')}")
    for run_id in reported_runs(store):
        kept.setdefault(run_id, "named by a stored report")
    if keep_baselines:
        for record in baselines:
            if record.get("previous_run_id"):
                kept.setdefault(record["previous_run_id"], f"was baseline {record.get('name')}")
        for records in _gate_records(store).values():
            for g in records:
                if g.get("baseline_run_id"):
                    kept.setdefault(g["baseline_run_id"], f"compared with as baseline {g.get('baseline')}")
    old = []
    for run in runs:
        created = parse_when(run["created_at"]) or now
        if created >= cutoff:
            kept.setdefault(run["run_id"], "recent")
        else:
            old.append((run, created))
    if keep_every_weeks:
        block = timedelta(weeks=keep_every_weeks)
        newest: dict[tuple[str, int], tuple[datetime, str]] = {}
        for run, created in old:
            key = (run["suite_name"], int((now - created) / block))
            if key not in newest or created > newest[key][0]:
                newest[key] = (created, run["run_id"])
        for _, run_id in newest.values():
            kept.setdefault(run_id, f"newest of its {keep_every_weeks}-week block")
    delete = tuple(run["run_id"] for run, _ in old if run["run_id"] not in kept)
    known = {r["run_id"] for r in runs}
    return Retention(now=now.isoformat(timespec="seconds"), keep_days=keep_days, delete=delete,
                     kept={k: v for k, v in kept.items() if k in known})  # fmt: skip


def prune(store: Store, plan: Retention) -> list[str]:
    """Delete the runs ``plan`` deletes; returns them."""
    for run_id in plan.delete:
        store.delete_run(run_id)
    return list(plan.delete)


def as_rows(rows: Iterable[RunRow]) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts (what ``ragft-eval runs --json`` prints)."""
    return [r.as_dict() for r in rows]
