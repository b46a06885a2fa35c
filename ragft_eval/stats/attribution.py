"""Failure attribution: for every wrong answer, did retrieval miss or did generation?

Per system, every case with relevance labels and a headline result falls into exactly one category:

- ``correct``: the headline value is at least the threshold (whatever was retrieved).
- ``retrieval_miss``: wrong, and no relevant document was among the documents the model was given
  (``Response.extra["context_doc_ids"]``: the top-k passages' documents, not the longer ``retrieved``
  list kept for recall@10).  An empty list (nothing retrieved) is a retrieval miss.
- ``generation_miss``: wrong, although a relevant document was in the prompt.
- ``no_retrieval``: wrong, and the model was given no retrieved documents (a system that does not
  retrieve, or a routed case answered without retrieval).

"Wrong" means the headline value (the metric ``headline[task_type]``, taken as the mean takes it:
:func:`~ragft_eval.stats.aggregate.value_for_mean`, so a system's error is the worst value) lies below the
threshold.  Every other case is left out and counted with its reason; nothing is guessed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..records import CaseResult, MetricResult, Response
from .aggregate import value_for_mean

Category = Literal["retrieval_miss", "generation_miss", "no_retrieval", "correct"]
CATEGORIES: tuple[Category, ...] = ("retrieval_miss", "generation_miss", "no_retrieval", "correct")
CaseKey = tuple[str, str]  # (golden_set, case_id)
CONTEXT_DOCS = "context_doc_ids"


@dataclass(frozen=True)
class LeftOut:
    """A case that could not be attributed, and why."""

    golden_set: str
    case_id: str
    reason: str


@dataclass(frozen=True)
class SystemAttribution:
    """One system's attribution: the cases behind each category (sorted by golden set, case id) and the
    cases left out.  Shares are over the attributed cases; with none attributed they are None."""

    system: str
    threshold: float
    retrieval_miss: tuple[CaseKey, ...]
    generation_miss: tuple[CaseKey, ...]
    no_retrieval: tuple[CaseKey, ...]
    correct: tuple[CaseKey, ...]
    left_out: tuple[LeftOut, ...]

    @property
    def n_attributed(self) -> int:
        return sum(len(getattr(self, c)) for c in CATEGORIES)

    @property
    def n_left_out(self) -> int:
        return len(self.left_out)

    @property
    def counts(self) -> dict[str, int]:
        return {c: len(getattr(self, c)) for c in CATEGORIES}

    @property
    def shares(self) -> dict[str, float | None]:
        """count / n_attributed per category; None for every category when no case was attributed."""
        n = self.n_attributed
        return {c: (len(getattr(self, c)) / n if n else None) for c in CATEGORIES}

    @property
    def share_reason(self) -> str | None:
        """Why the shares are None (else None)."""
        return None if self.n_attributed else "no case could be attributed"

    @property
    def left_out_reasons(self) -> dict[str, int]:
        """reason -> number of cases left out for it, most frequent first (ties by reason)."""
        counts = Counter(lo.reason for lo in self.left_out)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "threshold": self.threshold,
            "n_attributed": self.n_attributed,
            "counts": self.counts,
            "shares": self.shares,
            "share_reason": self.share_reason,
            "cases": {c: [list(k) for k in getattr(self, c)] for c in CATEGORIES},
            "n_left_out": self.n_left_out,
            "left_out_reasons": self.left_out_reasons,
            "left_out": [{"golden_set": lo.golden_set, "case_id": lo.case_id, "reason": lo.reason}
                         for lo in self.left_out],
        }  # fmt: skip


def _records_docs(r: Response) -> bool:
    return CONTEXT_DOCS in r.extra or r.retrieved is not None or r.context is not None


def _headline_value(cr: CaseResult, metric: str | None) -> tuple[float | None, str | None]:
    """(value, None) or (None, why the case has no headline value)."""
    if metric is None:
        return None, f"no headline metric for task type {cr.task_type!r}"
    found: list[MetricResult] = [m for m in cr.results if m.metric == metric]
    if not found:
        return None, f"headline metric {metric} not among the case's results"
    m = found[0]
    if m.unit != "ratio" or not m.higher_is_better:
        return None, f"headline metric {metric} is not a higher-is-better quality metric (unit {m.unit})"
    value = value_for_mean(m)
    if value is None:
        return None, f"headline metric {metric} {'scorer error' if m.status == 'error' else 'unscored'}: {m.reason}"
    return value, None


def _classify(cr: CaseResult, labels: Mapping[str, int], retrieving_system: bool) -> tuple[Category | None, str | None]:
    """The category of a wrong answer, or (None, why it cannot be said)."""
    r = cr.response
    docs = r.extra.get(CONTEXT_DOCS)
    if docs is not None:
        if not isinstance(docs, list | tuple) or not all(isinstance(d, str) for d in docs):
            return None, f"extra.{CONTEXT_DOCS} is not a list of doc ids"
        relevant = {d for d, grade in labels.items() if grade >= 1}
        return ("generation_miss" if relevant & set(docs) else "retrieval_miss"), None
    if _records_docs(r):
        return None, f"the documents given to the model are not recorded (extra.{CONTEXT_DOCS})"
    if r.failed and retrieving_system:
        # its other responses show it retrieves: the error came before it recorded what the model saw
        return None, "system error before the documents given to the model were recorded"
    return "no_retrieval", None


def attribute(
    results: Iterable[CaseResult],
    relevant: Mapping[tuple[str, str], Mapping[str, int]],
    headline: Mapping[str, str],
    *,
    threshold: float = 0.5,
) -> list[SystemAttribution]:
    """Attribute every wrong answer of every system to retrieval or generation, sorted by system.

    ``relevant``: (golden_set, case_id) -> {doc_id: grade} (grade >= 1 is relevant), from the golden sets.
    ``headline``: task type -> the metric that says whether an answer is right (the suite's ``headline``).

    A case, in this order:

    1. is left out without relevance labels (no entry in ``relevant``, or no document graded >= 1: an
       unanswerable case has nothing to retrieve);
    2. is left out without a headline value: no headline metric for its task type, no result for it, a
       metric that is not a higher-is-better ratio (a threshold on latency means nothing here), an
       ``unscored`` result or a scorer error (the judge's failure, not the system's).  A system's error
       is the value 0, as in the means: wrong;
    3. is ``correct`` when the value is >= ``threshold``;
    4. else, wrong: ``generation_miss`` when ``extra["context_doc_ids"]`` holds a relevant document,
       ``retrieval_miss`` when it holds none (or is empty); without ``context_doc_ids``, ``no_retrieval``
       when the response records no retrieval at all (no ``retrieved``, no ``context``).  Left out: a
       response that records ``retrieved`` or ``context`` but not ``context_doc_ids`` (what the model saw
       is unknown, and the longer retrieved list would overstate it), and an errored response of a system
       whose other responses record retrieval (it failed before recording its prompt's documents).

    Raises ValueError for a threshold outside [0, 1].
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
    by_system: dict[str, list[CaseResult]] = defaultdict(list)
    for cr in results:
        by_system[cr.system].append(cr)
    out = []
    for system in sorted(by_system):
        crs = sorted(by_system[system], key=lambda c: (c.golden_set, c.case_id))
        retrieving = any(_records_docs(cr.response) for cr in crs)
        groups: dict[str, list[CaseKey]] = {c: [] for c in CATEGORIES}
        left_out: list[LeftOut] = []
        for cr in crs:
            key = (cr.golden_set, cr.case_id)
            labels = relevant.get(key)
            if labels is None:
                left_out.append(LeftOut(*key, "no relevance labels"))
                continue
            if not any(grade >= 1 for grade in labels.values()):
                left_out.append(LeftOut(*key, "no document labelled relevant (grade >= 1)"))
                continue
            value, why = _headline_value(cr, headline.get(cr.task_type))
            if value is None:
                left_out.append(LeftOut(*key, why or "no headline value"))
                continue
            if value >= threshold:
                groups["correct"].append(key)
                continue
            category, why = _classify(cr, labels, retrieving)
            if category is None:
                left_out.append(LeftOut(*key, why or "cannot be attributed"))
            else:
                groups[category].append(key)
        out.append(
            SystemAttribution(
                system=system,
                threshold=threshold,
                retrieval_miss=tuple(groups["retrieval_miss"]),
                generation_miss=tuple(groups["generation_miss"]),
                no_retrieval=tuple(groups["no_retrieval"]),
                correct=tuple(groups["correct"]),
                left_out=tuple(left_out),
            )
        )
    return out
