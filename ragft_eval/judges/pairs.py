"""Training pairs for the learned faithfulness judge: (context, answer, supported?) with a fixed split.

Synthetic pairs are made from a golden set's own corpus the way ARES makes them (Saad-Falcon et al.
2024): a *supported* answer is a sentence (or two adjacent sentences) taken from a passage, judged
against that passage; an *unsupported* one is the same text with a number, a named entity, a date or
the polarity changed, or a sentence taken from a different passage.  Each kept sentence gives one
supported and one unsupported pair, so the synthetic data is balanced.

Human-labelled pairs come from the faithfulness sets of :mod:`ragft_eval.judges.labels` (FaithBench,
the QAGS sets); items without a binary label (FaithBench's Benign / Questionable) are left out.

Splits are fixed and seeded: an item's split is a hash of (seed, group), where the group is the source
document for synthetic pairs (so no passage is in two splits) and the item id for human ones.

>>> split_of("doc-1", seed=0, validation=0.1, test=0.1) == split_of("doc-1", seed=0, validation=0.1, test=0.1)
True
>>> swap_number("It costs $12 per seat.", random.Random(0), avoid="It costs $12 per seat.") != "It costs $12 per seat."
True
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..hashing import content_hash
from .labels import CALIBRATION_SETS, FaithfulnessItem, kind_of

if TYPE_CHECKING:  # golden pulls in jsonschema (a second at import): only the trainer needs it
    from ..golden import GoldenSet

Split = Literal["train", "validation", "test"]
Negative = Literal["number", "entity", "date", "polarity", "other_passage"]
NEGATIVES: tuple[Negative, ...] = ("number", "entity", "date", "polarity", "other_passage")

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w])")
_ENTITY = re.compile(r"(?<=[a-z,;:] )[A-Z][A-Za-z0-9]+(?: [A-Z][A-Za-z0-9]+)*")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DATE = re.compile(r"\b(" + "|".join(_MONTHS + _DAYS) + r")\b")
# units of one kind (a number with one is a different amount with another); plurals keep their "s"
_UNITS = (("second", "minute", "hour", "day", "week", "month", "year"), ("KB", "MB", "GB", "TB"), ("$", "€", "£"))
_UNIT = re.compile(r"(?<![A-Za-z])(second|minute|hour|day|week|month|year|KB|MB|GB|TB)(s?)\b|([$€£])(?=\s?\d)")
# (pattern, replacement): each flips what the sentence asserts
_POLARITY = (
    (re.compile(r"\bcannot\b"), "can"), (re.compile(r"\bcan\b"), "cannot"), (re.compile(r"\bis not\b"), "is"),
    (re.compile(r"\bis\b"), "is not"), (re.compile(r"\bare\b"), "are not"), (re.compile(r"\bdoes not\b"), "does"),
    (re.compile(r"\bdo not\b"), "do"), (re.compile(r"\bwill\b"), "will not"), (re.compile(r"\bonly\b"), "never"),
)  # fmt: skip


@dataclass(frozen=True)
class Pair:
    """One training or evaluation pair: is ``answer`` supported by ``context``?"""

    id: str
    source: str
    context: str
    answer: str
    label: bool
    split: Split
    kind: str = "human"  # how it was made: human, copy, number, entity, date, polarity, other_passage
    # a correctness pair's question (its ``context`` holds the question and the reference); None for faithfulness
    question: str | None = None

    @property
    def text_hash(self) -> str:
        """What the pair says, whatever its id: calibration on the same texts is refused by this too."""
        return text_hash(self.context, self.answer)


def text_hash(context: str, answer: str) -> str:
    return hashlib.sha256(f"{context.strip()}\x00{answer.strip()}".encode()).hexdigest()[:20]


def split_of(group: str, *, seed: int, validation: float, test: float) -> Split:
    """The fixed split of ``group``: a uniform draw from the hash of (seed, group)."""
    u = int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:12], 16) / float(16**12)
    if u < test:
        return "test"
    if u < test + validation:
        return "validation"
    return "train"


def assign_splits(name: str, groups: Sequence[str], *, seed: int, validation: float, test: float) -> dict[str, Split]:
    """Each group's fixed split (:func:`split_of` of ``name:group``); when no group drew validation, the
    train group of lowest hash validates instead (a small set still early-stops)."""
    splits = {g: split_of(f"{name}:{g}", seed=seed, validation=validation, test=test) for g in groups}
    train_groups = [g for g in groups if splits[g] == "train"]
    if "validation" not in splits.values() and len(train_groups) >= 2:
        low = min(train_groups, key=lambda g: hashlib.sha256(f"{seed}:v:{name}:{g}".encode()).hexdigest())
        splits[low] = "validation"
    return splits


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.split()) >= 4]


# ---------------------------------------------------------------- perturbations (None: not applicable)


def swap_number(sentence: str, rng: random.Random, *, avoid: str) -> str | None:
    """One number changed to a nearby value that does not occur in ``avoid`` (the context)."""
    found = list(_NUMBER.finditer(sentence))
    if not found:
        return None
    m = rng.choice(found)
    raw = m.group()
    value = float(raw.replace(",", "")) if "." not in raw or "," in raw else float(raw)
    whole = value == int(value)
    for _ in range(20):
        factor = rng.choice((0.5, 2, 3, 1.5, 0.25, 10))
        new = value * factor + rng.choice((0, 1, -1)) if whole else round(value * factor, 2)
        text = str(int(new)) if whole else f"{new:g}"
        if float(text) > 0 and text != raw and not re.search(rf"(?<![\d.]){re.escape(text)}(?![\d])", avoid):
            return sentence[: m.start()] + text + sentence[m.end() :]
    return None


def swap_entity(sentence: str, rng: random.Random, *, pool: Sequence[str], avoid: str) -> str | None:
    """One capitalised name (not the first word) replaced by a name from another passage."""
    found = [m for m in _ENTITY.finditer(sentence) if m.group() not in _MONTHS + _DAYS]
    others = [e for e in pool if e not in avoid]
    if not found or not others:
        return None
    m = rng.choice(found)
    return sentence[: m.start()] + rng.choice(others) + sentence[m.end() :]


def swap_date(sentence: str, rng: random.Random) -> str | None:
    found = list(_DATE.finditer(sentence))
    if not found:
        return None
    m = rng.choice(found)
    names = _MONTHS if m.group() in _MONTHS else _DAYS
    return sentence[: m.start()] + rng.choice([n for n in names if n != m.group()]) + sentence[m.end() :]


def flip_polarity(sentence: str, rng: random.Random) -> str | None:
    options = [(p, r) for p, r in _POLARITY if p.search(sentence)]
    if not options:
        return None
    pattern, repl = rng.choice(options)
    return pattern.sub(repl, sentence, count=1)


def swap_unit(text: str, rng: random.Random, *, avoid: str) -> str | None:
    """One unit (of time, of data size, a currency sign) changed to another of its kind, the number kept;
    None when ``text`` has none, or every change is already said by ``avoid``."""
    found = list(_UNIT.finditer(text))
    rng.shuffle(found)
    for m in found:
        word, plural = m.group(1) or m.group(3), m.group(2) or ""
        group = next(g for g in _UNITS if word in g)
        for other in rng.sample([u for u in group if u != word], len(group) - 1):
            new = text[: m.start()] + other + (plural if other.islower() else "") + text[m.end() :]
            if new.lower() not in avoid.lower():
                return new
    return None


# ---------------------------------------------------------------- synthetic pairs from a corpus


def synthetic_pairs(
    gs: GoldenSet, *, limit: int | None, per_doc: int, seed: int, validation: float, test: float,
    negatives: Sequence[Negative] = NEGATIVES,
) -> list[Pair]:  # fmt: skip
    """ARES-style pairs from ``gs``'s corpus (its latest version), split by source document; each
    unsupported answer is made by one of ``negatives``, tried in a seeded random order."""
    rng = random.Random(seed)
    docs = sorted(gs.corpus_as_of(None), key=lambda d: d.id)
    texts = {d.id: (f"{d.title}: {d.text}" if d.title else d.text) for d in docs}
    entities = sorted({m.group() for t in texts.values() for m in _ENTITY.finditer(t)})
    groups = sorted({d.id.split("--v")[0] for d in docs})  # every version of a document in one split
    splits = assign_splits(gs.name, groups, seed=seed, validation=validation, test=test)
    out: list[Pair] = []
    for doc in docs:
        context = texts[doc.id]
        split = splits[doc.id.split("--v")[0]]
        sents = sentences(doc.text)
        picked = sorted(rng.sample(range(len(sents)), min(per_doc, len(sents))))
        for k in picked:
            answer = sents[k]
            if k + 1 < len(sents) and rng.random() < 0.3:  # a two-sentence answer, one part possibly wrong
                answer = f"{answer} {sents[k + 1]}"
            base = f"synthetic:{gs.name}:{doc.id}:{k}"
            out.append(Pair(f"{base}:copy", f"synthetic:{gs.name}", context, answer, True, split, "copy"))
            wrong = _unsupported(answer, context, doc.id, docs, texts, entities, rng, negatives)
            if wrong is not None:
                kind, text = wrong
                out.append(Pair(f"{base}:{kind}", f"synthetic:{gs.name}", context, text, False, split, kind))
    if limit is not None and len(out) > limit:
        out = sorted(random.Random(seed).sample(out, limit), key=lambda p: p.id)
    return out


def _unsupported(answer, context, doc_id, docs, texts, entities, rng, negatives) -> tuple[str, str] | None:
    parts = sentences(answer) or [answer]
    i = rng.randrange(len(parts))
    kinds = list(negatives)
    rng.shuffle(kinds)
    for kind in kinds:
        if kind == "number":
            new = swap_number(parts[i], rng, avoid=context)
        elif kind == "entity":
            new = swap_entity(parts[i], rng, pool=entities, avoid=context)
        elif kind == "date":
            new = swap_date(parts[i], rng)
        elif kind == "polarity":
            new = flip_polarity(parts[i], rng)
        else:
            # a sentence of another passage, the most word-sharing of a few: wrong but on topic
            words = set(context.lower().split())
            candidates = [s for d in rng.sample(docs, min(8, len(docs))) if d.id != doc_id for s in sentences(d.text)]
            candidates = [s for s in candidates if s not in context]
            if not candidates:
                continue
            new = max(candidates, key=lambda s: len(words & set(s.lower().split())) / (1 + len(s.split())))
        if new is not None and new != parts[i]:
            return kind, " ".join([*parts[:i], new, *parts[i + 1 :]])
    return None


# ---------------------------------------------------------------- human-labelled pairs


def labelled_pairs(
    name: str, root: Path, *, seed: int, validation: float, test: float, limit: int | None = None
) -> list[Pair]:
    """The binary items of a faithfulness set of :data:`CALIBRATION_SETS`, each with its fixed split."""
    if kind_of(name) != "faithfulness":
        raise ValueError(f"sources: {name!r} is a {kind_of(name)} set; a faithfulness judge trains on "
                         "faithfulness sets (faithbench, qags-cnndm, qags-xsum)")  # fmt: skip
    items: list[FaithfulnessItem] = [it for it in CALIBRATION_SETS[name](root) if it.label is not None]
    out = [Pair(it.id, it.source, it.context, it.answer, bool(it.label),
                split_of(it.id, seed=seed, validation=validation, test=test)) for it in items]  # fmt: skip
    if limit is not None and len(out) > limit:
        out = sorted(random.Random(seed).sample(out, limit), key=lambda p: p.id)
    return out


def pairs_hash(pairs: Sequence[Pair]) -> str:
    """Content hash of what the pairs say (ids, texts, labels, splits): equal data, equal hash."""
    return content_hash([[p.id, p.context, p.answer, p.label, p.split] for p in pairs])
