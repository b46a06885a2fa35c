"""Human labels for some of a run's own cases, and the PPI++ estimates they give of its judged metrics.

A suite's ``human_labels: labels.jsonl`` holds one JSON object per line::

    {"case_id": "q017", "system": "rag", "metric": "judge_grade", "label": 1}

(``golden_set`` too when the suite has several; ``label`` a number on the metric's own scale, true/false
for 1/0).  The run reads the file once and stores its rows with the run (artifact ``human_labels:<run>``),
so a report rebuilt later uses the labels the run used.  For every (system, metric) with at least two
labelled cases that the judge scored and at least one it scored without a label, :func:`ppi_estimates`
gives the PPI++ estimate of the metric's mean with its CI beside the judge-only and the human-only means
(:func:`ragft_eval.stats.ppi.ppi_mean`).  The labelled cases must be a uniform random sample of the
cases, or the estimate is not of the mean over all of them: say how they were drawn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InputError, Problem, validation_problems
from ..hashing import content_hash
from ..records import SCHEMA_VERSION, CaseResult
from .ppi import ppi_mean

KIND = "human_labels"


class HumanLabel(BaseModel):
    """One human label of one system's answer to one case, for one judged metric."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    case_id: str = Field(min_length=1)
    system: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    label: float
    golden_set: str | None = None

    @field_validator("label", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return float(value)
        if not isinstance(value, int | float):
            raise ValueError("expected a number (or true/false)")
        return value


class HumanLabelsError(InputError):
    """A human-labels file has problems; each names the file, line and field (all in ``problems``)."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(f"{len(problems)} problem(s) in human labels:\n" + "\n".join(map(str, problems)))


def load_human_labels(path: str | Path) -> list[HumanLabel]:
    """Every label in ``path`` (JSONL); :class:`HumanLabelsError` listing every bad line (file, line, field),
    and a label given twice for one (golden set, case, system, metric)."""
    path = Path(path)
    if not path.is_file():
        raise HumanLabelsError([Problem(str(path), None, "human_labels", "file does not exist")])
    problems: list[Problem] = []
    labels: list[HumanLabel] = []
    seen: dict[tuple[Any, ...], int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), lineno, "(line)", f"malformed JSON: {exc.msg} at column {exc.colno}"))
            continue
        try:
            label = HumanLabel.model_validate(obj)
        except ValidationError as exc:
            problems += validation_problems(exc, str(path), lineno)
            continue
        key = (label.golden_set, label.case_id, label.system, label.metric)
        if key in seen:
            problems.append(Problem(str(path), lineno, "case_id", f"labelled twice (first on line {seen[key]})"))
            continue
        seen[key] = lineno
        labels.append(label)
    if problems:
        raise HumanLabelsError(problems)
    return labels


def labels_record(run_id: str, path: str | Path, labels: Sequence[HumanLabel]) -> tuple[str, str, dict[str, Any]]:
    """The artifact key, kind and record that keep ``labels`` with run ``run_id`` (``Store.put_artifact``)."""
    rows = [label.model_dump(mode="json", exclude_none=True) for label in labels]
    digest = content_hash(rows)
    record = {"run_id": run_id, "path": str(path), "hash": digest, "labels": rows}
    return f"{KIND}:{run_id}:{digest[7:19]}", KIND, record


def ppi_estimates(results: Iterable[CaseResult], labels: Sequence[HumanLabel], *,
                  judged: Sequence[str], alpha: float = 0.05) -> list[dict[str, Any]]:  # fmt: skip
    """Per (system, metric) among ``judged`` with labels: the PPI++ estimate of the mean with the judge-only
    and the human-only ones (``PPIEstimate.as_dict()`` plus ``system``, ``metric``, ``n_labels`` given and
    ``n_unmatched``: labels of cases the judge did not score, left out); ``reason`` instead of an estimate
    when there are too few labelled or unlabelled cases."""
    scores: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    for cr in results:
        for m in cr.results:
            if m.metric in judged and m.status == "scored" and m.value is not None:
                scores.setdefault((cr.system, m.metric), {})[(cr.golden_set, cr.case_id)] = m.value
    given: dict[tuple[str, str], list[HumanLabel]] = {}
    for label in labels:
        if label.metric in judged:
            given.setdefault((label.system, label.metric), []).append(label)
    out = []
    for (system, metric), rows in sorted(given.items()):
        judge = scores.get((system, metric), {})
        by_case: dict[str, list[tuple[str, str]]] = {}  # case id -> its (golden set, case id) keys
        for k in judge:
            by_case.setdefault(k[1], []).append(k)
        matched: dict[tuple[str, str], float] = {}
        for label in rows:
            keys = [k for k in by_case.get(label.case_id, ()) if label.golden_set in (None, k[0])]
            if len(keys) == 1:
                matched[keys[0]] = label.label
        base = {"system": system, "metric": metric, "n_labels": len(rows), "n_unmatched": len(rows) - len(matched)}
        unlabelled = [v for k, v in judge.items() if k not in matched]
        if len(matched) < 2 or not unlabelled:
            few = len(matched) < 2
            out.append({**base, "reason": "fewer than 2 labelled cases the judge scored" if few
                        else "every scored case is labelled"})  # fmt: skip
            continue
        keys = sorted(matched)
        estimate = ppi_mean([matched[k] for k in keys], [judge[k] for k in keys], unlabelled, alpha=alpha)
        out.append({**base, **estimate.as_dict()})
    return out
