"""Human-labelled sets for judge calibration, loaded from ``../shared/datasets/`` into frozen records.

A judge (an LLM grading answers) is run on these sets and its agreement with the humans is reported.
Every loader takes ``root``, the datasets folder (``<repo>/../shared/datasets``), and returns a list in a
deterministic order with stable, unique ids.  A missing folder or file raises ``FileNotFoundError`` naming
the path; a malformed record raises ``ValueError`` naming the file and the line or index.

How each dataset's labels map
-----------------------------

Pairwise (:class:`PairwiseItem`, ``label`` is ``"a"`` = ``answer_a`` better, ``"b"``, or ``"tie"``):

``llmbar-natural`` (and the other LLMBar subsets) -- ``llmbar/Dataset/LLMBar/Natural/dataset.json``,
    100 items.  The LLMBar README: "``label`` is either ``1`` or ``2``, indicating which output is
    objectively better".  ``output_1`` -> ``answer_a``, ``output_2`` -> ``answer_b``; ``1`` -> ``"a"``,
    ``2`` -> ``"b"``.  No ties exist.  Ids ``llmbar-natural-000`` .. by position in the file.
``mtbench-human`` -- ``llmbar/Dataset/Processed/MT-Bench/dataset.json``, 200 items, mapped like LLMBar.
    LLMBar README: "For MT-Bench, we get the gold preferences by majority vote. We remove all TIE
    instances and randomly sample 200 instances".  So there are no ties (101 ``"a"``, 99 ``"b"``); the
    inputs are first-turn MT-Bench questions (75 distinct).  Ids ``mtbench-000`` .. ``mtbench-199``.
``pandalm`` -- ``pandalm/data/testset-v1.json``, 999 items with ``annotator1..3`` in {0, 1, 2}.  PandaLM
    README: '"1" or "2" means response 1 or 2 is better and "0" means they are similar in quality'.
    ``response1`` -> ``answer_a``, ``response2`` -> ``answer_b``; label = the value at least two of the
    three annotators gave (1 -> ``"a"``, 2 -> ``"b"``, 0 -> ``"tie"``), ``"tie"`` when all three differ
    (never happens in this file).  This reproduces the README's label distribution exactly
    (0: 105, 1: 422, 2: 472).  question = ``instruction`` + blank line + ``input`` (when non-empty).
    All votes are in ``meta["votes"]``.  Ids ``pandalm-000`` .. from the record's ``idx``.  Six responses
    (idx 157-164) are the JSON literal ``true`` rather than a string; they become the text ``"True"``.
``ragchecker`` -- ``ragchecker/data/meta_evaluation/human_labeled_data.json``: 560 records = 280
    instances x 2 annotators (its README), each with ``overall_label`` in -2..2.  Direction: the upstream
    ``meta_eval.py`` correlates the human label with ``model2_score - model1_score``, so a positive label
    means ``model2`` (``answer_b``) is better and a negative one ``model1`` (``answer_a``); the data agree
    (GPT-4-backed systems get the highest mean label when in position 2).  ``model1.response`` ->
    ``answer_a``, ``model2.response`` -> ``answer_b``; label = sign of the *sum* of the two annotators'
    ``overall_label`` (< 0 -> ``"a"``, > 0 -> ``"b"``, 0 -> ``"tie"``), so e.g. (-1, +1) is a tie and
    (-2, +1) is ``"a"``.  question = ``query``; ``context`` = ``gt_answer``, the dataset's ground-truth
    (reference) answer -- the file holds no retrieved passages.  Both annotators' overall, correctness
    and completeness votes are in ``meta``.  Ids ``ragchecker-000`` .. from ``instance_id``.

Faithfulness (:class:`FaithfulnessItem`, ``label`` True = faithful, False = unfaithful, None = neither):

``faithbench`` -- ``faithbench/FaithBench.csv``, 800 summaries, with the dataset's own sample-level
    aggregation in the ``worst-label`` column: the most severe label any annotator gave any span
    (severity Consistent < Benign < Questionable < Unwanted, as in FaithBench's ``scripts/binarize.py``,
    whose default ``aggregation_strategy`` is ``"worst"``; "Consistent" = no annotation at all).
    ``Consistent`` -> True, ``Unwanted`` -> False, ``Benign`` and ``Questionable`` -> None (reported
    separately); ``category`` is the worst label.  (``binarize.py`` itself counts Questionable as
    hallucinated; here it is kept apart.)  The span annotations in ``data_for_release/batch_*.json`` cover
    750 of the 800 (batch 13 is not released; CSV rows 600-649 have no spans) and are joined on (source,
    summary) for ``meta`` only: ``batch``, ``sample_id``, ``n_annotators_with_spans``, ``n_annotations``
    and ``span_worst_label`` (the worst label recomputed from the spans as ``binarize.py`` does, a
    sub-label such as ``Unwanted.Intrinsic`` counting as Unwanted).  That differs from the CSV for 4
    summaries, where the CSV is kept: rows 452 and 457 (CSV Unwanted; the released spans say only Benign /
    nothing) and rows 513 and 765 (CSV Questionable; one span carries ``Unwanted.Intrinsic`` without
    ``Unwanted``).  ``meta`` also has ``summarizer`` and ``best_label``.  Ids ``faithbench-000`` ..
    ``faithbench-799`` by CSV data-row position.
``qags-cnndm`` / ``qags-xsum`` -- ``unieval_human/reproduce/data/fact/qags_{cnndm,xsum}.json`` (235 / 239
    summaries), ``scores.consistency`` in [0, 1]: the share of the summary's sentences that QAGS's
    annotators judged consistent (CNN/DM values 0, 1/3, 1/2, 2/3, 3/4, 1; XSum summaries are one sentence,
    so 0 or 1).  label = ``score >= threshold`` (default 0.5); ``category`` is ``"score>=0.5"`` or
    ``"score<0.5"`` (with the threshold used); the raw score is ``meta["score"]``.  context = ``source``,
    answer = ``system_output``.  Ids ``qags-cnndm-000`` .. from ``doc_id``.

Hallucination (:class:`HallucinationItem`, answer only, no context):

``halueval-general`` -- ``halueval/data/general_data.json`` (JSON Lines), 4,507 ChatGPT responses with
    a human ``hallucination`` label "yes"/"no" (HaluEval README: "hallucination label (Yes/No) annotated
    by humans").  "yes" -> True (hallucinated), "no" -> False.  question = ``user_query``, answer =
    ``chatgpt_response``.  The file's ``ID`` field is not unique (two records say ``"ID"``, one is empty;
    the others equal the line number), so ids are ``halueval-general-0001`` .. by 1-based line number and
    the raw ``ID`` is ``meta["raw_id"]``.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

__all__ = [
    "CALIBRATION_SETS",
    "LLMBAR_SUBSETS",
    "FaithfulnessItem",
    "HallucinationItem",
    "Kind",
    "PairwiseItem",
    "kind_of",
    "load_faithbench",
    "load_halueval_general",
    "load_llmbar",
    "load_mtbench_human",
    "load_pandalm",
    "load_qags",
    "load_ragchecker",
    "stratified_sample",
]

PairLabel = Literal["a", "b", "tie"]
Kind = Literal["pairwise", "faithfulness", "hallucination"]


@dataclass(frozen=True)
class PairwiseItem:
    """Which of two answers is better, by human judgement."""

    id: str
    source: str
    question: str
    answer_a: str
    answer_b: str
    label: PairLabel
    context: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FaithfulnessItem:
    """Is the answer (summary, claim) supported by the source document?"""

    id: str
    source: str
    context: str
    answer: str
    label: bool | None
    category: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HallucinationItem:
    """Does an answer, given without context, contain a hallucination?"""

    id: str
    source: str
    question: str
    answer: str
    label: bool
    meta: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- file helpers


def _require_dir(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {path}")
    return path


def _require_file(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    return path


def _read_json(path: Path) -> Any:
    _require_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc


def _read_json_list(path: Path) -> list[Any]:
    data = _read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
    return data


def _field(record: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``record[key]``, checked to be of ``kind``; ``where`` locates the record ("file: record 3")."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if key not in record:
        raise ValueError(f"{where}: missing field {key!r}")
    value = record[key]
    # bool is an int subclass: never accept it where an int/float is expected
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise ValueError(f"{where}: field {key!r} should be {_kind_name(kind)}, got {value!r:.80}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


# ---------------------------------------------------------------- pairwise: LLMBar and MT-Bench

#: LLMBar subsets and their folder under ``llmbar/Dataset``.
LLMBAR_SUBSETS: dict[str, str] = {
    "Natural": "LLMBar/Natural",
    "Adversarial/Neighbor": "LLMBar/Adversarial/Neighbor",
    "Adversarial/GPTInst": "LLMBar/Adversarial/GPTInst",
    "Adversarial/GPTOut": "LLMBar/Adversarial/GPTOut",
    "Adversarial/Manual": "LLMBar/Adversarial/Manual",
    "Processed/MT-Bench": "Processed/MT-Bench",
    "Processed/FairEval": "Processed/FairEval",
    "Processed/LLMEval^2": "Processed/LLMEval^2",
    "CaseStudy/Constraint": "CaseStudy/Constraint",
    "CaseStudy/Negation": "CaseStudy/Negation",
    "CaseStudy/Normal": "CaseStudy/Normal",
    "CaseStudy/Base_9": "CaseStudy/Base_9",
    "CaseStudy/Base_10": "CaseStudy/Base_10",
}

_LLMBAR_LABELS: dict[int, PairLabel] = {1: "a", 2: "b"}


def _llmbar_source(subset: str) -> str:
    if subset == "Processed/MT-Bench":
        return "mtbench"
    return "llmbar-" + re.sub(r"[^a-z0-9]+", "-", subset.lower()).strip("-")


def load_llmbar(root: Path, subset: str = "Natural") -> list[PairwiseItem]:
    """An LLMBar pairwise set (``subset`` is a key of :data:`LLMBAR_SUBSETS`): label 1 -> "a", 2 -> "b"."""
    if subset not in LLMBAR_SUBSETS:
        raise ValueError(f"unknown LLMBar subset {subset!r}; expected one of {sorted(LLMBAR_SUBSETS)}")
    _require_dir(Path(root))
    path = Path(root) / "llmbar" / "Dataset" / LLMBAR_SUBSETS[subset] / "dataset.json"
    records = _read_json_list(path)
    source = _llmbar_source(subset)
    items: list[PairwiseItem] = []
    for i, rec in enumerate(records):
        where = f"{path}: record {i}"
        raw = _field(rec, "label", int, where)
        if raw not in _LLMBAR_LABELS:
            raise ValueError(f"{where}: field 'label' should be 1 or 2, got {raw!r}")
        items.append(
            PairwiseItem(
                id=f"{source}-{i:03d}",
                source=source,
                question=_field(rec, "input", str, where),
                answer_a=_field(rec, "output_1", str, where),
                answer_b=_field(rec, "output_2", str, where),
                label=_LLMBAR_LABELS[raw],
                meta={"subset": subset, "raw_label": raw, "index": i},
            )
        )
    return items


def load_mtbench_human(root: Path) -> list[PairwiseItem]:
    """The 200 MT-Bench human majority-vote pairs (ties removed) as processed by LLMBar."""
    return load_llmbar(root, "Processed/MT-Bench")


# ---------------------------------------------------------------- pairwise: PandaLM

_PANDALM_VOTES: dict[int, PairLabel] = {0: "tie", 1: "a", 2: "b"}


def _majority(votes: Sequence[int]) -> int | None:
    value, count = Counter(votes).most_common(1)[0]
    return value if count * 2 > len(votes) else None


def _pandalm_response(rec: Any, key: str, where: str) -> str:
    # six responses in the file are the JSON literal ``true`` (a model answering "True" to a yes/no task)
    value = _field(rec, key, (str, bool), where)
    return str(value) if isinstance(value, bool) else value


def load_pandalm(root: Path) -> list[PairwiseItem]:
    """PandaLM's human test set: the majority of 3 annotators (0 = tie, 1 = first, 2 = second better)."""
    _require_dir(Path(root))
    path = Path(root) / "pandalm" / "data" / "testset-v1.json"
    records = _read_json_list(path)
    items: list[PairwiseItem] = []
    for i, rec in enumerate(records):
        where = f"{path}: record {i}"
        votes = tuple(_field(rec, f"annotator{k}", int, where) for k in (1, 2, 3))
        for k, vote in enumerate(votes, start=1):
            if vote not in _PANDALM_VOTES:
                raise ValueError(f"{where}: field 'annotator{k}' should be 0, 1 or 2, got {vote!r}")
        majority = _majority(votes)
        label: PairLabel = "tie" if majority is None else _PANDALM_VOTES[majority]
        idx = _field(rec, "idx", int, where)
        instruction = _field(rec, "instruction", str, where)
        extra = _field(rec, "input", str, where)
        question = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        items.append(
            PairwiseItem(
                id=f"pandalm-{idx:03d}",
                source="pandalm",
                question=question,
                answer_a=_pandalm_response(rec, "response1", where),
                answer_b=_pandalm_response(rec, "response2", where),
                label=label,
                meta={
                    "votes": votes,
                    "majority": majority,
                    "idx": idx,
                    "instruction": instruction,
                    "input": extra,
                    "cmp_key": rec.get("cmp_key"),
                    "motivation_app": rec.get("motivation_app"),
                },
            )
        )
    _check_unique(items, path)
    items.sort(key=lambda it: it.id)
    return items


# ---------------------------------------------------------------- pairwise: RAGChecker


def load_ragchecker(root: Path) -> list[PairwiseItem]:
    """RAGChecker meta-evaluation: 280 pairs, label = sign of the two annotators' summed ``overall_label``.

    Positive ``overall_label`` means ``model2`` (answer B) is better; context is the ground-truth answer.
    """
    _require_dir(Path(root))
    path = Path(root) / "ragchecker" / "data" / "meta_evaluation" / "human_labeled_data.json"
    records = _read_json_list(path)
    groups: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, rec in enumerate(records):
        groups[_field(rec, "instance_id", int, f"{path}: record {i}")].append((i, rec))
    items: list[PairwiseItem] = []
    for instance_id in sorted(groups):
        group = groups[instance_id]
        where = f"{path}: records {[i for i, _ in group]} (instance_id {instance_id})"
        if len(group) != 2:
            raise ValueError(f"{where}: expected 2 annotations per instance, got {len(group)}")
        parsed = [_ragchecker_record(rec, f"{path}: record {i}") for i, rec in group]
        first = parsed[0]
        for other in parsed[1:]:
            for key in ("query", "gt_answer", "answer_a", "answer_b", "model_a", "model_b"):
                if other[key] != first[key]:
                    raise ValueError(f"{where}: the annotations disagree on {key!r}")
        overall = tuple(p["overall_label"] for p in parsed)
        total = sum(overall)
        label: PairLabel = "a" if total < 0 else "b" if total > 0 else "tie"
        items.append(
            PairwiseItem(
                id=f"ragchecker-{instance_id:03d}",
                source="ragchecker",
                question=first["query"],
                answer_a=first["answer_a"],
                answer_b=first["answer_b"],
                label=label,
                context=first["gt_answer"],
                meta={
                    "instance_id": instance_id,
                    "overall_votes": overall,
                    "correctness_votes": tuple(p["correctness_label"] for p in parsed),
                    "completeness_votes": tuple(p["completeness_label"] for p in parsed),
                    "model_a": first["model_a"],
                    "model_b": first["model_b"],
                    "dataset": first["dataset"],
                    "query_id": first["query_id"],
                    "context_is": "gt_answer",
                },
            )
        )
    return items


def _ragchecker_record(rec: Any, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "query": _field(rec, "query", str, where),
        "gt_answer": _field(rec, "gt_answer", str, where),
        "dataset": _field(rec, "dataset", str, where),
        "query_id": _field(rec, "query_id", (str, int), where),
    }
    for side, key in (("a", "model1"), ("b", "model2")):
        model = _field(rec, key, dict, where)
        out[f"answer_{side}"] = _field(model, "response", str, f"{where}.{key}")
        out[f"model_{side}"] = _field(model, "model_name", str, f"{where}.{key}")
    for key in ("overall_label", "correctness_label", "completeness_label"):
        value = _field(rec, key, int, where)
        if not -2 <= value <= 2:
            raise ValueError(f"{where}: field {key!r} should be in -2..2, got {value!r}")
        out[key] = value
    return out


# ---------------------------------------------------------------- faithfulness: FaithBench

_FAITHBENCH_LABELS: dict[str, bool | None] = {
    "Consistent": True,
    "Benign": None,
    "Questionable": None,
    "Unwanted": False,
}
_FAITHBENCH_SEVERITY = {"Consistent": 0, "Benign": 1, "Questionable": 2, "Unwanted": 3}


def load_faithbench(root: Path) -> list[FaithfulnessItem]:
    """FaithBench's 800 summaries by their worst label: Consistent -> True, Unwanted -> False, else None."""
    _require_dir(Path(root))
    folder = _require_dir(Path(root) / "faithbench")
    path = _require_file(folder / "FaithBench.csv")
    spans = _faithbench_spans(_require_dir(folder / "data_for_release"))
    items: list[FaithfulnessItem] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        needed = ("source", "summary", "LLM", "worst-label", "best-label")
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}:1: missing column(s) {missing}")
        for row_no, row in enumerate(reader):
            where = f"{path}:{reader.line_num}: data row {row_no}"
            if any(row[c] is None for c in needed):
                raise ValueError(f"{where}: too few columns")
            worst, best = row["worst-label"], row["best-label"]
            for name, value in (("worst-label", worst), ("best-label", best)):
                if value not in _FAITHBENCH_LABELS:
                    raise ValueError(f"{where}: {name} should be one of {list(_FAITHBENCH_LABELS)}, got {value!r}")
            meta: dict[str, Any] = {"row": row_no, "summarizer": row["LLM"], "worst_label": worst, "best_label": best}
            meta.update(spans.get((row["source"], row["summary"]), {}))
            items.append(
                FaithfulnessItem(
                    id=f"faithbench-{row_no:03d}",
                    source="faithbench",
                    context=row["source"],
                    answer=row["summary"],
                    label=_FAITHBENCH_LABELS[worst],
                    category=worst,
                    meta=meta,
                )
            )
    return items


def _faithbench_spans(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (source, summary): where its span annotations are, and the worst label they give."""
    files = sorted(folder.glob("batch_*.json"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    if not files:
        raise FileNotFoundError(f"no batch_*.json files in {folder}")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in files:
        data = _read_json(path)
        samples = _field(data, "samples", list, str(path))
        batch = int(re.sub(r"\D", "", path.stem))
        for i, sample in enumerate(samples):
            where = f"{path}: samples[{i}]"
            annotations = _field(sample, "annotations", list, where)
            severity = 0
            annotators: set[str] = set()
            for j, ann in enumerate(annotations):
                labels = _field(ann, "label", list, f"{where}.annotations[{j}]")
                annotators.add(str(ann.get("annotator_id", ann.get("annotator", j))))
                for lab in labels:
                    top = str(lab).split(".")[0]
                    if top not in _FAITHBENCH_SEVERITY:
                        raise ValueError(f"{where}.annotations[{j}]: unknown label {lab!r}")
                    severity = max(severity, _FAITHBENCH_SEVERITY[top])
            key = (_field(sample, "source", str, where), _field(sample, "summary", str, where))
            out[key] = {
                "batch": batch,
                "sample_id": sample.get("sample_id"),
                "n_annotators_with_spans": len(annotators),
                "n_annotations": len(annotations),
                "span_worst_label": next(k for k, v in _FAITHBENCH_SEVERITY.items() if v == severity),
            }
    return out


# ---------------------------------------------------------------- faithfulness: QAGS


def load_qags(root: Path, subset: str = "cnndm", threshold: float = 0.5) -> list[FaithfulnessItem]:
    """QAGS consistency (UniEval's copy): label = ``scores.consistency >= threshold``."""
    if subset not in ("cnndm", "xsum"):
        raise ValueError(f"unknown QAGS subset {subset!r}; expected 'cnndm' or 'xsum'")
    if not 0.0 <= threshold <= 1.0 or math.isnan(threshold):
        raise ValueError(f"threshold should be in [0, 1], got {threshold!r}")
    _require_dir(Path(root))
    path = Path(root) / "unieval_human" / "reproduce" / "data" / "fact" / f"qags_{subset}.json"
    records = _read_json_list(path)
    source = f"qags-{subset}"
    items: list[FaithfulnessItem] = []
    for i, rec in enumerate(records):
        where = f"{path}: record {i}"
        scores = _field(rec, "scores", dict, where)
        score = float(_field(scores, "consistency", (int, float), f"{where}.scores"))
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"{where}: scores.consistency should be in [0, 1], got {score!r}")
        doc_id = _field(rec, "doc_id", int, where)
        label = score >= threshold
        items.append(
            FaithfulnessItem(
                id=f"{source}-{doc_id:03d}",
                source=source,
                context=_field(rec, "source", str, where),
                answer=_field(rec, "system_output", str, where),
                label=label,
                category=f"score>={threshold:g}" if label else f"score<{threshold:g}",
                meta={"score": score, "threshold": threshold, "doc_id": doc_id, "system_id": rec.get("system_id")},
            )
        )
    _check_unique(items, path)
    items.sort(key=lambda it: it.id)
    return items


# ---------------------------------------------------------------- hallucination: HaluEval general

_HALUEVAL_LABELS = {"yes": True, "no": False}


def load_halueval_general(root: Path) -> list[HallucinationItem]:
    """HaluEval general (JSON Lines): ``hallucination`` "yes" -> True (hallucinated), "no" -> False."""
    _require_dir(Path(root))
    path = _require_file(Path(root) / "halueval" / "data" / "general_data.json")
    items: list[HallucinationItem] = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: invalid JSON: {exc.msg}") from exc
            raw = _field(rec, "hallucination", str, where)
            if raw.strip().lower() not in _HALUEVAL_LABELS:
                raise ValueError(f"{where}: field 'hallucination' should be 'yes' or 'no', got {raw!r}")
            spans = rec.get("hallucination_spans") or []
            items.append(
                HallucinationItem(
                    id=f"halueval-general-{line_no:04d}",
                    source="halueval-general",
                    question=_field(rec, "user_query", str, where),
                    answer=_field(rec, "chatgpt_response", str, where),
                    label=_HALUEVAL_LABELS[raw.strip().lower()],
                    meta={"raw_id": rec.get("ID"), "line": line_no, "hallucination_spans": tuple(spans)},
                )
            )
    return items


# ---------------------------------------------------------------- registry

CALIBRATION_SETS: dict[str, Callable[[Path], list[Any]]] = {
    "mtbench-human": load_mtbench_human,
    "llmbar-natural": partial(load_llmbar, subset="Natural"),
    "pandalm": load_pandalm,
    "ragchecker": load_ragchecker,
    "faithbench": load_faithbench,
    "qags-cnndm": partial(load_qags, subset="cnndm"),
    "qags-xsum": partial(load_qags, subset="xsum"),
    "halueval-general": load_halueval_general,
}

_KINDS: dict[str, Kind] = {
    "mtbench-human": "pairwise",
    "llmbar-natural": "pairwise",
    "pandalm": "pairwise",
    "ragchecker": "pairwise",
    "faithbench": "faithfulness",
    "qags-cnndm": "faithfulness",
    "qags-xsum": "faithfulness",
    "halueval-general": "hallucination",
}


def kind_of(name: str) -> Kind:
    """The record kind a calibration set (a key of :data:`CALIBRATION_SETS`) yields."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"unknown calibration set {name!r}; expected one of {sorted(_KINDS)}") from None


# ---------------------------------------------------------------- sampling


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def _default_key(item: Any) -> Hashable:
    return item.label


def stratified_sample(
    items: Iterable[T],
    n: int,
    seed: int,
    key: Callable[[T], Hashable] = _default_key,
) -> list[T]:
    """A deterministic stratified sample of exactly ``n`` items, sorted by id.

    Strata are the values of ``key``; each gets ``n * size / total`` items rounded by the largest-remainder
    method (ties: larger stratum first, then the stratum's ``repr``), so the total is exactly ``n``.  One
    ``random.Random(seed)`` draws within the strata, visited in ``repr`` order, each stratum's items taken
    in id order first -- so the result depends only on the items, ``n``, ``seed`` and ``key``.
    """
    pool = sorted(items, key=lambda it: it.id)
    ids = [it.id for it in pool]
    if len(set(ids)) != len(ids):
        dupes = sorted(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"stratified_sample needs unique ids; duplicated: {dupes[:5]}")
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= len(pool):
        raise ValueError(f"n should be an int in 0..{len(pool)}, got {n!r}")
    strata: dict[Hashable, list[T]] = defaultdict(list)
    for it in pool:
        strata[key(it)].append(it)
    order = sorted(strata, key=repr)
    total = len(pool)
    quotas = {k: n * len(strata[k]) // total for k in order}
    remainders = sorted(order, key=lambda k: (-(n * len(strata[k]) % total), -len(strata[k]), repr(k)))
    for k in remainders[: n - sum(quotas.values())]:
        quotas[k] += 1
    rng = random.Random(seed)
    chosen: list[T] = []
    for k in order:
        chosen.extend(rng.sample(strata[k], quotas[k]))
    return sorted(chosen, key=lambda it: it.id)


def _check_unique(items: Sequence[Any], path: Path) -> None:
    counts = Counter(it.id for it in items)
    dupes = sorted(i for i, c in counts.items() if c > 1)
    if dupes:
        raise ValueError(f"{path}: duplicate record ids {dupes[:5]}")
