"""Retrieval metrics with trec_eval semantics, and :func:`score`, a drop-in for pytrec_eval.

Definitions (trec_eval 9.x, ``relevance_level`` 1):

- **Ranking.** Documents are ranked by score descending; ties in score are broken by doc id
  *descending* (string order), as trec_eval does.  ranx and some others break ties differently, so
  equal scores can give different numbers there.
- **Relevant** means a qrels label >= 1; ``R`` is the number of relevant docs of the query.
- ``P_k`` = (relevant in the top k) / k — divided by k even when fewer than k docs were retrieved.
- ``recall_k`` = (relevant in the top k) / R.
- ``recip_rank`` = 1 / rank of the first relevant doc (0 if none is retrieved).
- ``success_k`` = 1 if a relevant doc is in the top k, else 0 (hit@k).
- ``map`` = sum over relevant retrieved docs of precision at their rank, / R.
- ``ndcg_cut_k`` = DCG@k / IDCG@k with gain = the qrels label and discount log2(rank + 1);
  IDCG uses the labels sorted descending.  ``ndcg`` is the same over the whole ranking.
- A query with R = 0 scores 0 on every measure, exactly as trec_eval prints.  The harness's metric
  classes below mark such a case ``unscored`` instead ("no relevance labels"), since 0 would be a lie.

Only queries present in both ``qrels`` (with at least one judgment) and ``run`` are evaluated, as in
pytrec_eval.

>>> score({"q": {"a": 1, "b": 0}}, {"q": {"a": 0.5, "b": 0.9, "c": 0.1}}, ["P_2", "recip_rank"])
{'q': {'P_2': 0.5, 'recip_rank': 0.5}}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

from ..records import Case, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext

_CUT = re.compile(r"^(P|recall|success|ndcg_cut|map_cut)[_.](\d+)$")
_PLAIN = {"recip_rank", "map", "ndcg"}


def rank_docs(run: Mapping[str, float]) -> list[str]:
    """Doc ids in trec_eval order: score descending, ties by doc id descending."""
    return sorted(run, key=lambda d: (run[d], d), reverse=True)


def _parse(measures: Iterable[str]) -> list[tuple[str, str, int | None]]:
    parsed = []
    for m in measures:
        match = _CUT.match(m)
        if match:
            k = int(match.group(2))
            if k < 1:
                raise ValueError(f"measure {m!r}: expected a cutoff >= 1, got {k}")
            parsed.append((f"{match.group(1)}_{k}", match.group(1), k))
        elif m in _PLAIN:
            parsed.append((m, m, None))
        else:
            raise ValueError(
                f"unknown measure {m!r}; expected one of P_k, recall_k, success_k, ndcg_cut_k, map_cut_k, "
                "recip_rank, map, ndcg"
            )
    return parsed


def measure(family: str, k: int | None, rels: Sequence[int], qrels_labels: Iterable[int]) -> float:
    """One measure of one query from the labels of the ranked docs (``rels``) and all qrels labels."""
    labels = list(qrels_labels)
    num_rel = sum(1 for r in labels if r >= 1)
    if num_rel == 0:
        return 0.0
    top = rels if k is None else rels[:k]
    if family == "P":
        return sum(1 for r in top if r >= 1) / k
    if family == "recall":
        return sum(1 for r in top if r >= 1) / num_rel
    if family == "success":
        return 1.0 if any(r >= 1 for r in top) else 0.0
    if family == "recip_rank":
        for i, r in enumerate(top):
            if r >= 1:
                return 1.0 / (i + 1)
        return 0.0
    if family in ("map", "map_cut"):
        hits, total = 0, 0.0
        for i, r in enumerate(top):
            if r >= 1:
                hits += 1
                total += hits / (i + 1)
        return total / num_rel
    if family in ("ndcg", "ndcg_cut"):
        dcg = sum(r / math.log2(i + 2) for i, r in enumerate(top) if r > 0)
        ideal = sorted((r for r in labels if r > 0), reverse=True)
        if k is not None:
            ideal = ideal[:k]
        idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
        return dcg / idcg if idcg > 0 else 0.0
    raise ValueError(f"unknown measure family {family!r}")


def score(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    measures: Iterable[str],
) -> dict[str, dict[str, float]]:
    """pytrec_eval-compatible evaluation: ``{qid: {measure: value}}`` for queries in both qrels and run.

    ``measures`` uses trec_eval names: ``P_5``, ``recall_10``, ``success_5``, ``ndcg_cut_10``,
    ``map_cut_10``, ``recip_rank``, ``map``, ``ndcg`` (``P.5`` is accepted too).
    """
    parsed = _parse(measures)
    out: dict[str, dict[str, float]] = {}
    for qid, docs in run.items():
        q_qrels = qrels.get(qid)
        if not q_qrels:  # a query without judgments is not in trec_eval's qrels at all
            continue
        rels = [q_qrels.get(d, 0) for d in rank_docs(docs)]
        labels = q_qrels.values()
        out[qid] = {name: measure(family, k, rels, labels) for name, family, k in parsed}
    return out


class _RetrievalMetric(BaseMetric):
    """Scores ``response.retrieved`` (in the system's rank order) against ``case.relevant_docs``.

    Unscored when the case has no relevant doc (R = 0) or the system records no retrieval.
    A system that retrieved nothing scores 0.  A doc id listed twice (several chunks of one doc)
    counts once, at its best rank, as in a trec_eval run where a doc has one score.
    """

    family = ""
    label = ""
    needs_k = True
    needs = "retrieved"

    def __init__(self, *, k: int | None = None):
        if self.needs_k and k is None:
            raise TypeError(f"{self.label} needs k (for example k: 10)")
        if k is not None and (not isinstance(k, int) or k < 1):
            raise TypeError(f"{self.label}: expected k >= 1, got {k!r}")
        self.k = k
        self.name = f"{self.label}@{k}" if k is not None else self.label

    def undefined_reason(self, case: Case) -> str | None:
        if not any(r >= 1 for r in case.relevant_docs.values()):
            return "no relevance labels: the case has no relevant document"
        return None

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        if response.retrieved is None:
            return self.not_recorded()
        ranked = list(dict.fromkeys(d.doc_id for d in sorted(response.retrieved, key=lambda d: d.rank)))
        rels = [case.relevant_docs.get(doc_id, 0) for doc_id in ranked]
        family = self.family
        if family == "ndcg" and self.k is not None:
            family = "ndcg_cut"
        if family == "map" and self.k is not None:
            family = "map_cut"
        return self.scored(measure(family, self.k, rels, case.relevant_docs.values()))


@register("metric", "precision")
class Precision(_RetrievalMetric):
    """P@k: relevant docs in the top k, divided by k (even when fewer than k were retrieved). Higher is better."""

    family, label = "P", "precision"


@register("metric", "recall")
class Recall(_RetrievalMetric):
    """R@k: relevant docs in the top k, divided by the number of relevant docs. Higher is better."""

    family, label = "recall", "recall"


@register("metric", "hit")
class Hit(_RetrievalMetric):
    """hit@k (trec_eval ``success_k``): 1 if any relevant doc is in the top k, else 0."""

    family, label = "success", "hit"


@register("metric", "mrr")
class MRR(_RetrievalMetric):
    """Reciprocal rank of the first relevant doc, cut at k when k is given (0 beyond k)."""

    family, label, needs_k = "recip_rank", "mrr", False


@register("metric", "ndcg")
class NDCG(_RetrievalMetric):
    """nDCG@k with linear gain (the label) and log2(rank + 1) discount, as trec_eval's ndcg_cut."""

    family, label, needs_k = "ndcg", "ndcg", False


@register("metric", "map")
class MAP(_RetrievalMetric):
    """Average precision (trec_eval ``map``; ``map_cut_k`` when k is given)."""

    family, label, needs_k = "map", "map", False
