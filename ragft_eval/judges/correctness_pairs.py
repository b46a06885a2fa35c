"""Training pairs for the learned correctness grader: (question, reference, candidate, correct?) with a
fixed split by case.

A grader reads what ``judge_grade`` sends it: the case's question, its reference (the answer and its
aliases joined by `` / ``, a JSON value as JSON, or "none" for an unanswerable case; :func:`reference_of`)
and the answer to grade.  From each case of a golden set with a reference, ``per_case`` correct and as
many wrong candidates are made:

- correct: the answer itself, an alias, the case's demonstration, the sentences of a long answer
  reordered; for an unanswerable case, a refusal; for a JSON case, the same value with its keys
  reordered or indented;
- wrong: the answer of another case of the set (of the same shape: a number for a number, a long answer
  for a long one), or a near miss: the answer with a number, a unit, a date, a named entity or the
  polarity changed (the swap functions of :mod:`ragft_eval.judges.pairs`, never producing a text the
  reference already says); for a JSON case, one field given another case's value.

Short answers, right and wrong alike, are put in the same sentences ("The answer is X.") at the same
rate, so the wrapping says nothing about the label.  A case's split is a hash of (seed, set, case id), so
no question is in two splits; each case gives as many correct as wrong pairs.

The cross-encoder reads ``Question: ... Reference answer: ...`` as its first segment and the candidate
as its second (:func:`grader_context`): the candidate is compared with the reference token by token
across the segments, as the faithfulness judge compares an answer with its context, and the question
says which part of a long reference matters; truncation cuts the end of the longer segment, so the
question (first) is kept.

>>> grader_context("How long?", "15 minutes")
'Question: How long?\\nReference answer: 15 minutes'
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..answers import squad_normalize
from .pairs import (
    _ENTITY,
    Pair,
    assign_splits,
    flip_polarity,
    sentences,
    swap_date,
    swap_entity,
    swap_number,
    swap_unit,
    text_hash,
)

if TYPE_CHECKING:
    from ..golden import GoldenSet
    from ..records import Case

Wrong = Literal["other_question", "number", "unit", "date", "entity", "polarity"]
WRONG: tuple[Wrong, ...] = ("other_question", "number", "unit", "date", "entity", "polarity")

#: What ``judge_grade`` sends as the reference of an unanswerable case (``metrics.judged.NO_ANSWER_REFERENCE``,
#: which sits a layer above; a test keeps the two equal).
NO_ANSWER_REFERENCE = "(none: the documentation does not answer this; a correct response says it does not know)"

#: Human-labelled sets a grader is measured on (RAGChecker's correctness preferences, reference = ground truth).
CORRECTNESS_SETS: tuple[str, ...] = ("ragchecker",)

#: Shared datasets a correctness source may name: golden-set importer format and path under ``datasets``.
DATASETS: dict[str, tuple[str, str]] = {
    "clapnq": ("clapnq", "clapnq"),
    "hotpotqa": ("hotpotqa", "hotpotqa_ircot_sample/processed_data/hotpotqa"),
}

_LONG = 8  # words: an answer longer than this is a long-form answer (no sentence templates)
_TEMPLATES = ("{x}", "{x}", "The answer is {x}.", "It is {x}.", "{x}, according to the documentation.",
              "Answer: {x}", "That would be {x}.", "Based on the sources: {x}.")  # fmt: skip
_REFUSALS = ("I don't know.", "The documentation does not say.", "I could not find that in the knowledge base.",
             "Sorry, that is not covered in the documentation.", "I'm not sure; the sources don't mention it.",
             "There is no information about this in the provided documents.")  # fmt: skip
_DIGIT = re.compile(r"\d")


def grader_context(question: str, reference: str) -> str:
    """The cross-encoder's first segment for grading: the question, then the reference."""
    return f"Question: {question.strip()}\nReference answer: {reference.strip()}"


def split_grader_context(context: str) -> tuple[str, str]:
    """(question, reference) of a :func:`grader_context`: what a lexical grader reads of a training pair."""
    head, _, reference = context.partition("\nReference answer: ")
    return head.removeprefix("Question: "), reference


def trained_on(items: Iterable[Any], *, ids: set[str], texts: set[str], questions: set[str],
               correctness: bool) -> list[tuple[str, str]]:  # fmt: skip
    """The (id, id) of each item a judge trained on: by id, or by text (``text_hash`` of its context and
    answer); a grader's items (``question``, ``context`` the reference, and ``answer`` or ``answer_a`` /
    ``answer_b``) also by question (``question_hash``).  What ``check_not_trained_on`` refuses."""

    def seen(it: Any) -> bool:
        if it.id in ids:
            return True
        if not correctness:
            return text_hash(it.context, it.answer) in texts
        if question_hash(it.question) in questions:
            return True
        answers = [a for a in (getattr(it, n, None) for n in ("answer", "answer_a", "answer_b")) if a is not None]
        return any(text_hash(grader_context(it.question, it.context or ""), a) in texts for a in answers)

    return [(it.id, it.id) for it in items if seen(it)]


def reference_of(case: Case) -> str | None:
    """The reference ``judge_grade`` sends for ``case`` (None: the metric leaves the case unscored)."""
    if not case.answerable:
        return NO_ANSWER_REFERENCE
    if case.expected is None:
        return None
    if case.expected.json_value is not None:
        return json.dumps(case.expected.json_value, ensure_ascii=False)
    return " / ".join(case.expected.answers) if case.expected.answers else None


def question_hash(question: str) -> str:
    """A question after SQuAD normalisation, hashed: the same question however it is cased or punctuated."""
    return hashlib.sha256(squad_normalize(question).encode()).hexdigest()[:20]


def _shape(text: str) -> tuple[bool, bool]:
    return (len(text.split()) > _LONG, bool(_DIGIT.search(text)))


def _wrap(text: str, rng: random.Random) -> str:
    """A short answer in one of the sentences (half the time as it is); a long one as it is."""
    if len(text.split()) > _LONG:
        return text
    return rng.choice(_TEMPLATES).format(x=text.rstrip("."))


def _reordered(text: str, rng: random.Random) -> str | None:
    parts = sentences(text)
    if len(parts) < 2:
        return None
    order = parts[:]
    while order == parts:
        rng.shuffle(order)
    return " ".join(order)


def _says(candidate: str, answers: Sequence[str]) -> bool:
    """Whether ``candidate`` is (after normalisation) one of ``answers``: such a near miss is no miss."""
    norm = squad_normalize(candidate)
    return any(norm == squad_normalize(a) for a in answers)


def _text_case(case, reference, answers, others, entities, rng, per_case, negatives):
    """(kind, candidate, correct?) of a case with text answers."""
    answer, aliases = answers[0], list(answers[1:])
    pool: list[tuple[str, str]] = [("answer", answer)]
    pool += [("alias", a) for a in aliases]
    demo = case.expected.demonstration
    if demo and len(demo) < 600:
        pool.append(("demonstration", demo))
    for a in answers:
        if (r := _reordered(a, rng)) is not None:
            pool.append(("reordered", r))
    rng.shuffle(pool)
    first = next((kt for kt in pool if kt[0] == "alias"), None)  # one alias first: what graders get wrong
    if first is not None:
        pool.remove(first)
        pool.insert(0, first)
    right = [(k, t if k in ("demonstration", "reordered") else _wrap(t, rng)) for k, t in pool]
    while len(right) < per_case:  # few answers: the same answers in other sentences
        k, t = rng.choice(pool)
        right.append((k, _wrap(t, rng)))
    right = right[:per_case]
    wrong: list[tuple[str, str]] = []
    kinds = list(negatives)
    for _ in range(per_case * 3):
        if len(wrong) >= per_case:
            break
        kind = rng.choice(kinds)
        base = rng.choice(answers)
        if kind == "other_question":
            same = [o for o in others if _shape(o) == _shape(base)] or list(others)
            new = rng.choice(same) if same else None
        elif kind == "number":
            new = swap_number(base, rng, avoid=reference)
        elif kind == "unit":
            new = swap_unit(base, rng, avoid=reference)
        elif kind == "date":
            new = swap_date(base, rng)
        elif kind == "entity":
            # a name that opens the answer counts too (swap_entity skips a sentence's first word)
            swapped = swap_entity(f"x {base}", rng, pool=entities, avoid=reference)
            new = swapped[2:] if swapped is not None else None
        else:
            new = flip_polarity(base, rng) if len(base.split()) >= 4 else None
        if new is None or _says(new, answers) or any(new == t for _, t in wrong):
            continue
        if kind != "other_question" and new.lower() in reference.lower():
            continue  # e.g. a date swapped to one the reference also names
        wrong.append((kind, _wrap(new, rng)))
    while len(wrong) < per_case and others:  # no near miss found: another case's answer
        new = rng.choice(list(others))
        if not _says(new, answers):
            wrong.append(("other_question", _wrap(new, rng)))
        elif len(set(map(squad_normalize, others))) <= 1:
            break
    return [(k, t, True) for k, t in right] + [(k, t, False) for k, t in wrong]


def _json_case(value, others, rng, per_case):
    dump = json.dumps(value, ensure_ascii=False)
    right: list[tuple[str, str]] = [("answer", dump)]
    for _ in range(per_case * 2):
        if len(right) >= per_case:
            break
        if isinstance(value, dict) and len(value) > 1:
            keys = list(value)
            rng.shuffle(keys)
            text = json.dumps({k: value[k] for k in keys}, ensure_ascii=False, indent=rng.choice((None, 2)))
        else:
            text = json.dumps(value, ensure_ascii=False, indent=2)
        if text not in [t for _, t in right]:
            right.append(("reordered", text))
    while len(right) < per_case:
        right.append(("answer", dump))
    wrong: list[tuple[str, str]] = []
    for _ in range(per_case * 4):
        if len(wrong) >= per_case or not others:
            break
        other = rng.choice(others)
        if isinstance(value, dict) and isinstance(other, dict) and rng.random() < 0.7:
            keys = [k for k in value if k in other and other[k] != value[k]]
            if not keys:
                continue
            key = rng.choice(keys)
            new = json.dumps({**value, key: other[key]}, ensure_ascii=False)
            kind = "field"
        else:
            new, kind = json.dumps(other, ensure_ascii=False), "other_question"
        if other != value and new not in [t for _, t in wrong]:
            wrong.append((kind, new))
    return [(k, t, True) for k, t in right] + [(k, t, False) for k, t in wrong]


def correctness_pairs(
    gs: GoldenSet, *, limit: int | None, per_case: int, seed: int, validation: float, test: float,
    negatives: Sequence[Wrong] = WRONG, source: str | None = None,
) -> list[Pair]:  # fmt: skip
    """Correct and wrong candidates for every case of ``gs`` that ``judge_grade`` can grade (see the module
    docstring), split by case id; with ``limit``, whole cases in a seeded order until ``limit`` pairs."""
    source = source or f"correctness:{gs.name}"
    cases = sorted((c for c in gs.cases if reference_of(c) is not None), key=lambda c: c.id)
    texts = [c for c in cases if c.answerable and c.expected.json_value is None]
    jsons = [c for c in cases if c.answerable and c.expected.json_value is not None]
    all_answers = sorted({a for c in texts for a in c.expected.answers})
    entities = sorted({m.group() for a in all_answers for m in _ENTITY.finditer(f"x {a}")})
    splits = assign_splits(gs.name, [c.id for c in cases], seed=seed, validation=validation, test=test)
    order = cases[:]
    random.Random(f"{seed}:{gs.name}:order").shuffle(order)
    out: list[Pair] = []
    for case in order:
        if limit is not None and len(out) >= limit:
            break
        rng = random.Random(f"{seed}:{gs.name}:{case.id}")
        reference = reference_of(case)
        assert reference is not None
        made: list[tuple[str, str, bool]]
        if not case.answerable:
            if not all_answers:
                continue
            right = [("refusal", t, True) for t in rng.sample(_REFUSALS, min(per_case, len(_REFUSALS)))]
            made = right + [("other_question", _wrap(rng.choice(all_answers), rng), False) for _ in right]
        elif case.expected.json_value is not None:
            others = [c.expected.json_value for c in jsons if c.id != case.id]
            made = _json_case(case.expected.json_value, others, rng, per_case)
        else:
            answers = list(case.expected.answers)
            others = [a for c in texts if c.id != case.id for a in c.expected.answers[:1]]
            made = _text_case(case, reference, answers, others, entities, rng, per_case, negatives)
        context = grader_context(case.question, reference)
        split = splits[case.id]
        for i, (kind, text, label) in enumerate(made):
            out.append(Pair(f"{source}:{case.id}:{i}:{kind}", source, context, text, label, split, kind,
                            question=case.question))  # fmt: skip
    return sorted(out, key=lambda p: p.id)


def imported_golden_set(name: str, root: Path, cache_dir: Path) -> GoldenSet:
    """The shared dataset ``name`` (a key of :data:`DATASETS`) as a golden set, imported once into
    ``cache_dir/imported`` by its golden-set importer (keyed by the source files' names and sizes)."""
    from ..golden import load_golden_set
    from ..golden.importers import import_golden_set
    from ..hashing import content_hash

    fmt, rel = DATASETS[name]
    src = root / rel
    files = sorted((str(p.relative_to(src)), p.stat().st_size) for p in src.rglob("*") if p.is_file())
    dest = cache_dir / "imported" / f"{name}-{content_hash(files)[7:19]}"
    if (dest / "manifest.yaml").is_file():
        return load_golden_set(dest)
    tmp = dest.with_name(dest.name + f".tmp{random.getrandbits(32):08x}")
    import_golden_set(fmt, src, tmp, name=name)
    try:
        tmp.rename(dest)
    except OSError:  # another process imported it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return load_golden_set(dest)


def held_out_questions(names: Sequence[str], root: Path) -> set[str]:
    """The question hashes of the held-out sets ``names`` (what a grader must never train on)."""
    from .labels import CALIBRATION_SETS

    out: set[str] = set()
    for name in names:
        items: list[Any] = CALIBRATION_SETS[name](root)
        out |= {question_hash(it.question) for it in items}
    return out
