"""The run summary: the frozen, versioned record of a finished run that everything after it reads.

:func:`build_summary` makes it from the store alone (manifest, every case result, the judge's stored
calibrations), so the terminal table, the report files, gates and ``ragft-eval report RUN`` all see the
same numbers, and a report rebuilt later is the report the run wrote.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..judges.calibration import identity_of, shipped_calibrations
from ..records import CaseResult, RunManifest
from ..store import Store
from .aggregate import Cell, aggregate, error_rates
from .human_labels import KIND as LABELS_KIND
from .human_labels import HumanLabel, ppi_estimates

SCHEMA_VERSION = 1


class RunSummary(BaseModel):
    """A run as the store holds it, aggregated.

    ``error_rates``: per system (failed responses, all responses).  ``judge_calibrations``: the latest
    calibration per labelled set of each judge the run used (the suite's ``judge:`` and the named judges
    of ``judges:``, matched by judge identity; stored ones, and those shipped with the package).
    ``flagged_metrics``: the judged metrics whose judge is unreliable on one of its latest calibrations
    (its kappa CI reaches 0) or has none; ``metric_flags`` says which of the two, per metric.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    manifest: RunManifest
    status: str
    results: tuple[CaseResult, ...]
    cells: tuple[Cell, ...]
    error_rates: dict[str, tuple[int, int]]
    judged_metrics: tuple[str, ...]
    judge_calibrations: tuple[dict[str, Any], ...]
    flagged_metrics: tuple[str, ...]
    # why the judged columns are flagged: "unreliable" (a calibration's kappa CI reaches 0) or
    # "uncalibrated" (no stored calibration of this judge); None: not flagged
    judge_flag: str | None = None
    # per flagged metric: "unreliable" or "uncalibrated" (a run's metrics may use different judges)
    metric_flags: dict[str, str] = Field(default_factory=dict)
    # what the run did to each model endpoint (the last record: a resumed run's latest leg)
    endpoints: tuple[dict[str, Any], ...] = ()
    # what the harness did once for the run (fine-tunes, indexes: OneTimeWork dumps), over every leg
    one_time: tuple[dict[str, Any], ...] = ()
    # PPI++ estimates of judged metrics from the run's human labels (stats.human_labels.ppi_estimates)
    ppi: tuple[dict[str, Any], ...] = ()
    # where each leg's time went (evaluate.RunTiming records: phases, answers and model time per system)
    timing: tuple[dict[str, Any], ...] = ()

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    def results_frame(self):
        """One row per (system, case, metric) as a pandas DataFrame."""
        import pandas as pd

        rows = [
            {"system": cr.system, "golden_set": cr.golden_set, "case_id": cr.case_id, "task_type": cr.task_type,
             "metric": m.metric, "status": m.status, "value": m.value, "reason": m.reason, "unit": m.unit}
            for cr in self.results
            for m in cr.results
        ]  # fmt: skip
        return pd.DataFrame(rows)

    def table_frame(self):
        """The aggregated table (one row per system x task type x metric) as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([c.as_dict() for c in self.cells])


def latest_calibrations(records: list[dict[str, Any]], identity: str | None) -> list[dict[str, Any]]:
    """The newest stored calibration per labelled set for the judge ``identity`` (store order is by time)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        if identity is not None and record.get("judge_identity") == identity:
            latest[record["set"]] = record
    return list(latest.values())


def build_summary(store: Store, run_id: str) -> RunSummary:
    """The summary of ``run_id`` from what ``store`` holds (KeyError when the store has no such run)."""
    manifest = store.manifest(run_id)
    if manifest is None:
        raise KeyError(run_id)
    results = list(store.results(run_id))
    judged = tuple(name for name, m in manifest.metrics.items() if m.get("judged"))
    identity = manifest.judge_identity
    if identity is None and manifest.judge:  # a schema-1 manifest: derive it from what was recorded
        identity = identity_of(manifest.judge)
    # each judged metric's judge: a named judge of ``judges:``, else the suite's
    identities = {name: manifest.judges.get(manifest.metrics[name].get("judge") or "", {}).get("identity", identity)
                  for name in judged}  # fmt: skip
    records = [*shipped_calibrations(), *store.artifacts("calibration")] if judged else []  # stored ones win
    by_judge = {i: latest_calibrations(records, i) for i in dict.fromkeys(identities.values())}
    # a judge shown unreliable on a calibration set, or never calibrated at all: its columns are flagged
    metric_flags = {}
    for name, ident in identities.items():
        cals = by_judge[ident]
        if flag := "uncalibrated" if not cals else ("unreliable" if any(not c.get("reliable") for c in cals) else None):
            metric_flags[name] = flag
    judge_flag = None if not metric_flags else (
        "unreliable" if "unreliable" in metric_flags.values() else "uncalibrated")  # fmt: skip
    calibrations = [c for cals in by_judge.values() for c in cals]
    flagged = tuple(name for name in judged if name in metric_flags)
    boot = manifest.bootstrap
    stored = [r for r in store.artifacts(LABELS_KIND) if r.get("run_id") == run_id] if judged else []
    labels = [HumanLabel.model_validate(row) for row in stored[-1]["labels"]] if stored else []
    legs = [r for r in store.artifacts("endpoints") if r.get("run_id") == run_id]
    return RunSummary(
        manifest=manifest,
        status=store.run_status(run_id) or "unknown",
        results=tuple(results),
        cells=tuple(aggregate(results, resamples=boot["resamples"], seed=boot["seed"])),
        error_rates=error_rates(results),
        judged_metrics=judged,
        judge_calibrations=tuple(calibrations),
        flagged_metrics=tuple(flagged),
        judge_flag=judge_flag,
        metric_flags=metric_flags,
        endpoints=tuple(legs[-1]["endpoints"]) if legs else (),
        ppi=tuple(ppi_estimates(results, labels, judged=judged)) if labels else (),
        timing=tuple(r for r in store.artifacts("timing") if r.get("run_id") == run_id),
        one_time=tuple(w for leg in store.artifacts("one_time") if leg.get("run_id") == run_id for w in leg["work"]),
    )
