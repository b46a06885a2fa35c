"""The lexical faithfulness judge: a logistic regression on how much of an answer its context supports
word for word, registered as judge kind ``lexical``.  Milliseconds per answer, no model to load.

Why it exists: the MiniLM cross-encoder (:mod:`ragft_eval.judges.learned`), trained on the same data, is
at chance on the QAGS sets it never saw (ROC AUC 0.49 on CNN/DM), while the share of an answer's words
and word pairs that its context does not contain ranks QAGS's human labels well (AUC 0.87 for word pairs
alone on CNN/DM): hallucinated content mostly arrives as words the source never used.  So this judge is a
handful of such features (:data:`FEATURES`) in a class-balanced logistic regression, fitted on the train
split of a ``judge train`` config's pairs, its threshold the one of best balanced accuracy on the
validation split.  It knows nothing of meaning: a faithful paraphrase in new words looks unsupported
(XSum's one-sentence abstractive summaries are its weak spot; see the README's numbers), and a wrong
answer made only of the context's own words looks supported.

A suite names it like the learned judge::

    judges:
      faith: {kind: lexical}                       # the shipped model (model: faithfulness-lexical)
      mine: {kind: lexical, config: my-judge.yaml} # trained by ragft-eval judge train my-judge.yaml

``faithfulness-lexical`` ships with the package (``faithfulness_lexical.json``, its coefficients and the
hashes of the pairs it trained on, so a calibration on them is refused), fitted by
``ragft-eval judge train evals/judge-lexical.yaml`` on the demo corpus's synthetic pairs and FaithBench's
train split; its calibrations ship in ``calibrations.jsonl``.  A ``config:`` judge is fitted on first use
(a second or two) and cached under ``cache_dir`` by its data and features.

>>> f = dict(zip(FEATURES, support_features("Exports over 2 GB are split.", "Exports over 2 GB are split.")))
>>> f["novel_content"], f["novel_bigrams"]
(0.0, 0.0)
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, LeakageError
from ..hashing import content_hash
from ..records import SCHEMA_VERSION
from ..registry import register
from ._base import NarrowJudge, Verdict
from .pairs import Pair, pairs_hash

FORMAT = 1  # bump when the features or their meaning change (the cache key and the identity follow)
# built-in model -> package data file
SHIPPED = {"faithfulness-lexical": "faithfulness_lexical.json", "correctness-lexical": "correctness_lexical.json"}

FEATURES = (
    "novel_content",  # share of the answer's content words (not stop words, 3+ letters) the context lacks
    "novel_bigrams",  # share of its adjacent word pairs the context lacks (order and combination)
    "novel_numbers",  # share of its numbers the context lacks
    "novel_capitalised",  # share of its capitalised words (not the first) the context lacks: names
    "log_novel_content",  # how many content words are new, not only what share (log 1 + n)
    "log_novel_numbers",
    "log_novel_capitalised",
    "log_length",  # log 1 + the answer's words: long answers add more words by paraphrase alone
)
# the grader's features: a candidate answer against the question's reference answer
GRADE_FEATURES = (
    "reference_recall",  # share of the reference's content words the candidate says
    "candidate_precision",  # share of the candidate's content words the reference or the question says
    "token_f1",  # SQuAD token F1 of candidate and reference
    "reference_numbers_said",  # share of the reference's numbers the candidate says (1 when it has none)
    "novel_numbers",  # share of the candidate's numbers neither reference nor question says
    "no_answer",  # 1 when the reference says the question has no answer
    "refusal",  # the learned refusal detector's P(the candidate declines)
    "refusal_when_no_answer",  # both: declining is right exactly when there is no answer
)
# No length features for the grader: in synthetic pairs a wrong candidate's length says how it was made
# (another question's answer), not whether it is right.  With them (log 1 + words of the candidate and of
# the reference) the same fit agreed with RAGChecker's people on 0.585 [0.513, 0.651] of pairs; without
# them, see the README.  The change was made after that one look at RAGChecker, and the README says so.
_WORD = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*")
_STOP = frozenset(
    "the a an of to in and or is are was were be been for on at by with from that this as it its their his her "
    "they he she we you not no has have had will would said says can could than then there these those".split()
)


def support_features(context: str, answer: str) -> list[float]:
    """:data:`FEATURES` of ``answer`` against ``context`` (case-insensitive words; see each feature's note)."""
    ctx = [w.lower() for w in _WORD.findall(context)]
    words = _WORD.findall(answer)
    low = [w.lower() for w in words]
    known, known_pairs = set(ctx), set(itertools.pairwise(ctx))
    content = [w for w in low if w not in _STOP and len(w) > 2 and not w[0].isdigit()]
    numbers = [w for w in low if w[0].isdigit()]
    capitalised = [w.lower() for i, w in enumerate(words) if i > 0 and w[0].isupper()]
    bigrams = [b for b in itertools.pairwise(low) if not (b[0] in _STOP and b[1] in _STOP)]

    def new(items: Sequence[Any], seen: set[Any]) -> int:
        return sum(x not in seen for x in items)

    def share(items: Sequence[Any], seen: set[Any]) -> float:
        return new(items, seen) / len(items) if items else 0.0

    return [share(content, known), share(bigrams, known_pairs), share(numbers, known), share(capitalised, known),
            math.log1p(new(content, known)), math.log1p(new(numbers, known)), math.log1p(new(capitalised, known)),
            math.log1p(len(words))]  # fmt: skip


def grade_features(question: str, reference: str, candidate: str) -> list[float]:
    """:data:`GRADE_FEATURES` of ``candidate`` against ``reference`` (and ``question``)."""
    from ..answers import token_f1
    from .correctness_pairs import NO_ANSWER_REFERENCE
    from .refusal import refusal_probability

    def content(text: str) -> list[str]:
        return [w for w in (w.lower() for w in _WORD.findall(text)) if w not in _STOP and len(w) > 2
                and not w[0].isdigit()]  # fmt: skip

    def numbers(text: str) -> list[str]:
        return [w.replace(",", "") for w in _WORD.findall(text) if w[0].isdigit()]

    ref, cand = content(reference), content(candidate)
    said, ref_set, asked = set(cand), set(ref), set(content(question))
    ref_nums, cand_nums = numbers(reference), numbers(candidate)
    no_answer = float(reference.strip() == NO_ANSWER_REFERENCE)
    refusal = refusal_probability(candidate)
    return [sum(w in said for w in ref) / len(ref) if ref else 0.0,
            sum(w in ref_set or w in asked for w in cand) / len(cand) if cand else 0.0,
            token_f1(candidate, reference),
            sum(n in cand_nums for n in ref_nums) / len(ref_nums) if ref_nums else 1.0,
            sum(n not in ref_nums and n not in numbers(question) for n in cand_nums) / len(cand_nums)
            if cand_nums else 0.0,
            no_answer, refusal, no_answer * refusal]  # fmt: skip


def pair_features(task: str, pair: Pair) -> list[float]:
    """A training pair's features: its answer against its context (faithfulness), or a grader's candidate
    against the question and reference its context holds (correctness)."""
    if task == "correctness":
        from .correctness_pairs import split_grader_context

        return grade_features(*split_grader_context(pair.context), pair.answer)
    return support_features(pair.context, pair.answer)


class LexicalModel(BaseModel):
    """A fitted lexical judge: coefficients per feature, intercept, threshold, and what it was fitted on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    format: int = FORMAT
    name: str
    task: Literal["faithfulness", "correctness"] = "faithfulness"
    features: tuple[str, ...] = FEATURES
    coef: tuple[float, ...]
    intercept: float
    threshold: float = Field(gt=0, lt=1)
    data_hash: str  # the train and validation pairs (and features): the model's identity
    sources: dict[str, dict[str, int]]  # per source, pairs per split and label
    skipped_sources: tuple[str, ...] = ()
    validation_balanced_accuracy: float
    seconds: float = 0.0
    # the pairs it was fitted or thresholded on, by id and by text (text_hash): calibration on them is refused
    seen_ids: tuple[str, ...] = ()
    seen_text_hashes: tuple[str, ...] = ()
    seen_question_hashes: tuple[str, ...] = ()  # a grader's: the questions it was fitted on

    def of_features(self, features: Sequence[float]) -> float:
        """P(supported), or P(correct) for a grader, of one feature vector (:data:`FEATURES` or
        :data:`GRADE_FEATURES`)."""
        z = self.intercept + sum(c * x for c, x in zip(self.coef, features, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def _balanced_accuracy(labels: Sequence[bool], probs: Sequence[float], threshold: float) -> float:
    recalls = []
    for cls in (True, False):
        idx = [i for i, y in enumerate(labels) if y is cls]
        if idx:
            recalls.append(sum((probs[i] >= threshold) is cls for i in idx) / len(idx))
    return sum(recalls) / len(recalls)


def fit_lexical(name: str, train: Sequence[Pair], validation: Sequence[Pair], *, sources: dict[str, dict[str, int]],
                skipped: Sequence[str] = (), task: str = "faithfulness") -> LexicalModel:  # fmt: skip
    """Fit on ``train`` (class-balanced logistic regression, scikit-learn's lbfgs: deterministic), then the
    threshold of best balanced accuracy on ``validation`` (a grid of 0.01; ties: the lowest)."""
    from sklearn.linear_model import LogisticRegression

    if len({p.label for p in train}) < 2 or len({p.label for p in validation}) < 2:
        raise ConfigError("sources: the train and validation splits each need supported and unsupported pairs")
    t0 = time.perf_counter()
    fitted = LogisticRegression(class_weight="balanced", max_iter=5000).fit(
        [pair_features(task, p) for p in train], [int(p.label) for p in train]
    )
    coef, intercept = tuple(float(c) for c in fitted.coef_[0]), float(fitted.intercept_[0])
    features = GRADE_FEATURES if task == "correctness" else FEATURES
    draft = LexicalModel(name=name, task=task, features=features, coef=coef, intercept=intercept, threshold=0.5,
                         data_hash="", sources=sources, validation_balanced_accuracy=0.0)  # fmt: skip
    labels = [p.label for p in validation]
    probs = [draft.of_features(pair_features(task, p)) for p in validation]
    grid = [i / 100 for i in range(1, 100)]
    best = max(grid, key=lambda t: (_balanced_accuracy(labels, probs, t), -t))
    seen = [*train, *validation]
    from .correctness_pairs import question_hash

    return LexicalModel(
        name=name, task=task, features=features, coef=coef, intercept=intercept, threshold=best,
        data_hash=data_key(train, validation, task),
        sources=sources, skipped_sources=tuple(skipped),
        validation_balanced_accuracy=round(_balanced_accuracy(labels, probs, best), 4),
        seconds=round(time.perf_counter() - t0, 3),
        seen_ids=tuple(sorted(p.id for p in seen)), seen_text_hashes=tuple(sorted({p.text_hash for p in seen})),
        seen_question_hashes=tuple(sorted({question_hash(p.question) for p in seen if p.question})),
    )  # fmt: skip


def data_key(train: Sequence[Pair], validation: Sequence[Pair], task: str) -> str:
    """What a lexical model is fitted on, with its features: its identity and its cache key."""
    # a faithfulness model keeps the key it had before graders existed
    extra = {"task": task, "features": GRADE_FEATURES} if task == "correctness" else {"features": FEATURES}
    return content_hash({"train": pairs_hash(list(train)), "validation": pairs_hash(list(validation)),
                         "format": FORMAT, **extra})  # fmt: skip


def train_lexical(cfg: Any, *, force: bool = False) -> tuple[LexicalModel, Path, bool]:
    """Fit the lexical judge of a ``judge train`` config (a faithfulness ``JudgeTrainConfig``; its ``train``
    settings are the cross-encoder's and unused here), cached under its ``cache_dir`` by data and features:
    (model, its file, whether it came from the cache)."""
    from .training import build_data

    data = build_data(cfg)
    train, validation = data.split("train"), data.split("validation")
    key = data_key(train, validation, cfg.task)
    path = cfg.resolve(cfg.cache_dir) / "judges" / f"lexical-{cfg.name}-{key[7:19]}.json"
    if path.is_file() and not force:
        return LexicalModel.model_validate_json(path.read_text(encoding="utf-8")), path, True
    model = fit_lexical(cfg.name, train, validation, sources=data.counts(), skipped=data.skipped, task=cfg.task)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model.model_dump_json(), encoding="utf-8")
    return model, path, False


def is_lexical_config(path: str | Path) -> bool:
    """True when the ``judge train`` YAML at ``path`` says ``kind: lexical`` (else it trains a cross-encoder)."""
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # the full loader says what is wrong with it
    return isinstance(raw, dict) and raw.get("kind") == "lexical"


def load_lexical_config(path: str | Path) -> Any:
    """A ``kind: lexical`` judge train YAML as a ``JudgeTrainConfig`` (the same sources, splits, held-out
    sets and cache as a cross-encoder's); :class:`ConfigError` names the file and key."""
    from ..config_files import read_yaml, validated
    from .training import JudgeTrainConfig

    raw = read_yaml(path, "judge train config")
    if not isinstance(raw, dict) or raw.get("kind") != "lexical":
        raise ConfigError(f"{path}: kind: expected lexical (a lexical judge's train config)")
    return validated(JudgeTrainConfig, {k: v for k, v in raw.items() if k != "kind"}, path, "judge train config")


def shipped_model(name: str) -> LexicalModel:
    """A lexical model that ships with the package, by name (:data:`SHIPPED`)."""
    if name not in SHIPPED:
        raise ConfigError(f"judges: model: unknown lexical judge {name!r}; built-in: {sorted(SHIPPED)}, or give "
                          "config: a judge train YAML")  # fmt: skip
    raw = resources.files(__package__).joinpath(SHIPPED[name]).read_text(encoding="utf-8")
    return LexicalModel.model_validate_json(raw)


class LexicalJudgeSpec(BaseModel):
    """A ``judges:`` entry of kind ``lexical``, as recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: Literal["lexical"] = "lexical"
    model: str = "faithfulness-lexical"
    config: str | None = None
    threshold: float | None = Field(default=None, gt=0, lt=1)  # None: the model's (chosen on validation)
    repeats: Literal[1] = 1  # deterministic


@register("judge", "lexical")
class LexicalJudge(NarrowJudge):
    """The lexical faithfulness judge (module docstring).  ``base_dir`` and ``cache_dir`` come from the suite;
    ``golden_sets`` is accepted (every judge kind is given it) and unused: the shipped model is fixed."""

    client = None  # no generative model

    def __init__(self, *, model: str = "faithfulness-lexical", config: str | None = None,
                 threshold: float | None = None, base_dir: str | Path = ".", cache_dir: str | Path = ".ragft_cache",
                 golden_sets: Sequence[str | Path] = ()) -> None:  # fmt: skip
        self.spec = LexicalJudgeSpec(model=model, config=config, threshold=threshold)
        self.base_dir, self.cache_dir = Path(base_dir), Path(cache_dir)
        self._model: LexicalModel | None = None
        self._lock = threading.Lock()

    def fitted(self) -> LexicalModel:
        """The model: the shipped one, or the config's (fitted first when the cache has none)."""
        with self._lock:
            if self._model is None:
                if self.spec.config is None:
                    self._model = shipped_model(self.spec.model)
                else:
                    path = Path(self.spec.config).expanduser()
                    self._model = train_lexical(load_lexical_config(path if path.is_absolute() else
                                                                    self.base_dir / path))[0]  # fmt: skip
            return self._model

    async def start(self) -> None:
        self.fitted()

    @property
    def task(self) -> str:
        """``faithfulness`` (a supported-by-context judge) or ``correctness`` (a grader against a reference)."""
        return self.fitted().task

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"grade"} if self.task == "correctness" else {"faithful"})

    @property
    def threshold(self) -> float:
        return self.spec.threshold if self.spec.threshold is not None else self.fitted().threshold

    @property
    def model(self) -> str:
        return f"lexical:{self.fitted().name}"

    @property
    def template_hash(self) -> str:
        """What stands for a prompt template in its verdicts: the fitted data's hash."""
        return self.fitted().data_hash

    def params(self, repeat: int = 0) -> dict[str, Any]:
        return {"threshold": self.threshold, "data_hash": self.fitted().data_hash, "repeat": repeat}

    def describe(self) -> dict[str, Any]:
        """The spec and the fitted model (what calibrations are keyed by, via ``identity_of``)."""
        m = self.fitted()
        model = {"kind": "lexical", "name": m.name, "data_hash": m.data_hash, "features": list(m.features),
                 "format": m.format, "sampling": {}}  # fmt: skip
        if m.task != "faithfulness":  # a faithfulness judge keeps the identity its calibrations ship under
            model["task"] = m.task
        return {"spec": self.spec.model_dump(mode="json"), "model": model}

    def training_note(self) -> str:
        """Which data fitted this judge, for reports."""
        m = self.fitted()
        parts = [f"{source} ({sum(v for k, v in counts.items() if k.startswith(('train_', 'validation_')))})"
                 for source, counts in sorted(m.sources.items())]  # fmt: skip
        skipped = f"; skipped: {', '.join(m.skipped_sources)}" if m.skipped_sources else ""
        return f"lexical judge {m.name} fitted on {', '.join(parts)}{skipped}"

    def check_not_trained_on(self, items: Iterable[Any]) -> None:
        """Refuse (:class:`LeakageError`) items the judge was fitted or thresholded on, by id or by text."""
        from .correctness_pairs import trained_on

        m = self.fitted()
        leaks = trained_on(items, ids=set(m.seen_ids), texts=set(m.seen_text_hashes),
                           questions=set(m.seen_question_hashes), correctness=m.task == "correctness")  # fmt: skip
        if leaks:
            raise LeakageError(leaks)

    async def faithful(self, *, context: str, answer: str, repeat: int = 0) -> Verdict:
        if self.task != "faithfulness":
            return self.unsupported("faithfulness")
        t0 = time.perf_counter()
        return self._verdict(support_features(context, answer), ("yes", "no"), t0, repeat)

    def _verdict(self, features: list[float], labels: tuple[str, str], t0: float, repeat: int) -> Verdict:
        """The verdict of a feature vector: P as the score, ``labels`` (at/above, below the threshold), the
        features rounded as the raw output and the two that say most as the reason."""
        m = self.fitted()
        p = m.of_features(features)
        shown = dict(zip(m.features, (round(x, 4) for x in features), strict=True))
        if m.task == "correctness":
            reason = f"reference words said {shown['reference_recall']:.0%}, token F1 {shown['token_f1']:.2f}"
        else:
            reason = f"new content words {shown['novel_content']:.0%}, new word pairs {shown['novel_bigrams']:.0%}"
        return Verdict(
            status="ok", score=p, raw_score=p, label=labels[0] if p >= self.threshold else labels[1], reason=reason,
            raw=json.dumps(shown), judge_model=self.model, template_hash=m.data_hash, params=self.params(repeat),
            latency_s=time.perf_counter() - t0,
        )  # fmt: skip

    async def grade(self, *, question: str, answer: str, reference: str, rubric: str, repeat: int = 0) -> Verdict:
        """P(correct) of ``answer`` against ``reference`` as the score (``judge_grade``'s value); the rubric
        is not read."""
        if self.task != "correctness":
            return self.unsupported("grade")
        t0 = time.perf_counter()
        return self._verdict(grade_features(question, reference, answer), ("pass", "fail"), t0, repeat)
