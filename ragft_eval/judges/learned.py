"""The learned judges: a MiniLM cross-encoder fine-tuned on CPU, registered as judge ``learned``, judging
faithfulness (``faithful``) or, as a reference-guided grader, correctness (``grade``).

A suite names it beside (or instead of) its prompted ``judge:``, and a judged metric names it::

    judges:
      faith: {kind: learned, model: faithfulness-minilm}        # or config: judge-faithfulness.yaml
      grader: {kind: learned, model: correctness-minilm}
    metrics:
      - {metric: faithfulness, judge: faith}
      - {metric: judge_grade, judge: grader}

``model: faithfulness-minilm`` is the built-in recipe: synthetic ARES-style pairs from the suite's own
golden sets' corpora (nothing else, so a fresh clone trains the same judge), trained on first use and
cached under the suite's ``cache_dir``.  ``config:`` names a ``judge train`` YAML instead (for example
with FaithBench's human labels), trained by ``ragft-eval judge train CONFIG`` or on first use.

The verdict's ``score`` is P(supported) of the whole answer against its best-supporting context window
(max over windows of ``window.tokens`` tokens every ``window.stride``); ``label`` is ``yes`` at or
above the threshold.

``model: correctness-minilm`` is the built-in grader: correctness pairs
(:mod:`ragft_eval.judges.correctness_pairs`) from the suite's golden sets' reference answers and, where
the shared ``datasets`` folder exists (``datasets:``, default ``../shared/datasets`` from the current
directory, as the CLI's ``--datasets``), from ClapNQ and HotpotQA, without any question of RAGChecker
(held out: what it is measured on); without the folder those are skipped and the record says so.  Its
``grade`` verdict's ``score`` is P(correct) of the answer given the question and the reference, in
[0, 1] (the sigmoid of the cross-encoder's logit, trained with binary cross-entropy on balanced
synthetic pairs: a score, not a calibrated rate of correct answers on real outputs); ``judge_grade``'s
value is that score (the mean over repeats: one), where a prompted judge's is its 1..5 grade mapped to
[0, 1].  ``label`` is ``pass`` at or above the threshold chosen on validation, else ``fail``.  The
rubric is not read.

Each judges its task only (``capabilities``: ``{"faithful"}`` or ``{"grade"}``): the other judge calls
return an ``error`` verdict, and a suite that names it for another metric is refused when the metrics
are built.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, LeakageError
from ..records import SCHEMA_VERSION
from ..registry import register
from ._base import NarrowJudge, Verdict
from .correctness_pairs import grader_context, trained_on
from .crossencoder import CrossEncoder
from .training import (
    CorrectnessSource,
    JudgeArtifact,
    JudgeTrainConfig,
    JudgeTrainSpec,
    SyntheticSource,
    judge_probabilities,
    load_judge_train_config,
    train_judge,
)

#: Built-in recipes: name -> what differs from the training defaults (sources are the suite's golden sets,
#: and for a grader the shared ``datasets`` of ``shared``, skipped where that folder is absent).
BUILTIN_RECIPES: dict[str, dict[str, Any]] = {
    # about 600 pairs x 2 epochs: a few minutes on two cores (see the README for the measured time)
    "faithfulness-minilm": {"limit": 600, "train": {"epochs": 2.0, "threads": 2}},
    "correctness-minilm": {
        "task": "correctness",
        "limit": 1200,
        "per_case": 2,
        "shared": {"clapnq": 500, "hotpotqa": 300},
        "held_out": ("ragchecker",),
        "train": {"epochs": 2.0, "threads": 2, "max_length": 256},
    },
}
DEFAULT_DATASETS = "../shared/datasets"
_CAPABILITIES = {"faithfulness": frozenset({"faithful"}), "correctness": frozenset({"grade"})}


class LearnedJudgeSpec(BaseModel):
    """A ``judges:`` entry of kind ``learned``, as recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: Literal["learned"] = "learned"
    model: str
    config: str | None = None
    threshold: float | None = Field(default=None, gt=0, lt=1)  # None: the artifact's (see JudgeTrainConfig)
    repeats: Literal[1] = 1  # deterministic: a repeat would measure nothing
    # the shared datasets folder of a built-in grader (None: DEFAULT_DATASETS from the current directory);
    # left out of dumps while unset, so the judges described before it keep their identity
    datasets: str | None = Field(default=None, exclude_if=lambda v: v is None)


@register("judge", "learned")
class LearnedJudge(NarrowJudge):
    """A trained cross-encoder judging (context, answer) -> P(supported), or (question, reference,
    answer) -> P(correct); see the module docstring.

    ``base_dir``, ``cache_dir`` and ``golden_sets`` are filled in from the suite (its folder, its cache
    and its golden-set paths) when a suite builds the judge.  Nothing is loaded or trained until the
    first judgment (or :meth:`start`).
    """

    client = None  # no generative model: a metric that needs one (ragas) cannot run on this judge

    def __init__(
        self, *, model: str = "faithfulness-minilm", config: str | None = None, threshold: float | None = None,
        base_dir: str | Path = ".", cache_dir: str | Path = ".ragft_cache", golden_sets: Sequence[str | Path] = (),
        threads: int | None = None, progress: bool = False, datasets: str | None = None,
    ) -> None:  # fmt: skip
        self.spec = LearnedJudgeSpec(model=model, config=config, threshold=threshold, datasets=datasets)
        self.base_dir, self.cache_dir = Path(base_dir), Path(cache_dir)
        self.golden_sets = tuple(str(g) for g in golden_sets)
        self.threads, self.progress = threads, progress
        self._artifact: JudgeArtifact | None = None
        self._encoder: CrossEncoder | None = None
        self._config: JudgeTrainConfig | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ what it was trained on

    def _recipe(self) -> dict[str, Any]:
        recipe = BUILTIN_RECIPES.get(self.spec.model)
        if recipe is None:
            raise ConfigError(f"judges: model: unknown learned judge {self.spec.model!r}; built-in: "
                              f"{sorted(BUILTIN_RECIPES)}, or give config: a judge train YAML")  # fmt: skip
        return recipe

    @property
    def task(self) -> str:
        """``faithfulness`` or ``correctness``: the recipe's, or the ``config:`` file's (read, never trained)."""
        if self._config is not None:
            return self._config.task
        if self.spec.config is not None:
            return self.train_config().task
        return self._recipe().get("task", "faithfulness")

    @property
    def capabilities(self) -> frozenset[str]:
        """The judge calls it makes (what ``build_metrics`` checks a metric's ``judge_call`` against)."""
        return _CAPABILITIES[self.task]

    def train_config(self) -> JudgeTrainConfig:
        """The training config this judge stands for (the built-in recipe, or its ``config:`` file)."""
        if self.spec.config is not None:
            path = Path(self.spec.config).expanduser()
            return load_judge_train_config(path if path.is_absolute() else self.base_dir / path)
        recipe = self._recipe()
        if not self.golden_sets:
            model = self.spec.model
            raise ConfigError(f"judges: learned judge {model!r} trains on the suite's golden sets: none given")
        common = {"name": self.spec.model, "train": JudgeTrainSpec(**recipe["train"]),
                  "cache_dir": str(self.cache_dir.resolve()), "base_dir": self.base_dir}  # fmt: skip
        if recipe.get("task", "faithfulness") == "faithfulness":
            sources = tuple(SyntheticSource(golden_set=str(Path(g).resolve()), limit=recipe["limit"])
                            for g in self.golden_sets)  # fmt: skip
            return JudgeTrainConfig(sources=sources, **common)
        own = [CorrectnessSource(golden_set=str(Path(g).resolve()), limit=recipe["limit"], per_case=recipe["per_case"])
               for g in self.golden_sets]  # fmt: skip
        shared = [CorrectnessSource(dataset=name, limit=limit, per_case=recipe["per_case"])
                  for name, limit in recipe["shared"].items()]  # fmt: skip
        if self.spec.datasets is None:
            datasets = Path(DEFAULT_DATASETS).resolve()
        else:
            datasets = Path(self.spec.datasets).expanduser()
            datasets = datasets if datasets.is_absolute() else (self.base_dir / datasets).resolve()
        return JudgeTrainConfig(task="correctness", sources=(*own, *shared), held_out=recipe["held_out"],
                                datasets=str(datasets), **common)  # fmt: skip

    def artifact(self) -> JudgeArtifact:
        """The trained judge, trained first when the cache has none (thread-safe, once per judge)."""
        with self._lock:
            if self._artifact is None:
                cfg = self.train_config()
                art = train_judge(cfg, progress=self.progress)
                self._config = cfg
                self._encoder = CrossEncoder.load(art.folder)
                if "threshold" not in art.record:  # cached before thresholds were chosen: choose it once, keep it
                    from .training import build_data, choose_threshold

                    art.record["threshold"] = choose_threshold(cfg, self._encoder, build_data(cfg))
                    (art.folder / "record.json").write_text(json.dumps(art.record, indent=1))
                self._artifact = art
            return self._artifact

    async def start(self) -> None:
        await asyncio.to_thread(self.artifact)

    @property
    def threshold(self) -> float:
        if self.spec.threshold is not None:
            return self.spec.threshold
        return float(self.artifact().record["threshold"])

    def check_not_trained_on(self, items: Iterable[Any]) -> None:
        """Refuse (:class:`LeakageError`) items the judge trained or early-stopped on, by id or by text; a
        grader also refuses an item whose question it trained on (items with ``question``, ``context`` the
        reference, and ``answer`` or ``answer_a`` / ``answer_b``)."""
        record = self.artifact().record
        leaks = trained_on(items, ids=set(record["seen_ids"]), texts=set(record["seen_text_hashes"]),
                           questions=set(record.get("seen_question_hashes", ())),
                           correctness=self.task == "correctness")  # fmt: skip
        if leaks:
            raise LeakageError(leaks)

    def training_note(self) -> str:
        """Which data trained this judge, for reports: sources with their train / validation counts."""
        rec = self.artifact().record
        parts = []
        for source, counts in sorted(rec["sources"].items()):
            n = sum(v for k, v in counts.items() if k.startswith(("train_", "validation_")))
            parts.append(f"{source} ({n})")
        skipped = f"; skipped: {', '.join(rec['skipped_sources'])}" if rec["skipped_sources"] else ""
        return f"learned judge {rec['name']} trained on {', '.join(parts)}{skipped}"

    # ------------------------------------------------------------ the Judge protocol

    @property
    def template_hash(self) -> str:
        """What stands for a prompt template in its verdicts: the trained artifact's key."""
        return self.artifact().key

    @property
    def model(self) -> str:
        """``learned:<name>``: the recipe's name, or the training config's ``name``."""
        return f"learned:{self.artifact().record['name'] if self.spec.config else self.spec.model}"

    def params(self, repeat: int = 0) -> dict[str, Any]:
        art = self.artifact()
        if self.task == "correctness":
            return {"threshold": self.threshold, "input": "question + reference | answer", "artifact": art.key,
                    "repeat": repeat}  # fmt: skip
        window = art.record["config"]["window"]
        return {"threshold": self.threshold, "window": window["tokens"], "stride": window["stride"],
                "artifact": art.key, "repeat": repeat}  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """The spec and the trained artifact (what calibrations are keyed by, via ``identity_of``)."""
        art = self.artifact()
        model = {"kind": "learned", "base": art.record["base"], "base_identity": art.record["base_identity"],
                 "artifact_key": art.key, "data_hash": art.record["data_hash"], "sampling": {}}  # fmt: skip
        return {"spec": self.spec.model_dump(mode="json"), "model": model}

    def judge_window_probabilities(self, context: str, answer: str) -> tuple[float, list[float]]:
        """P(supported) against the best window, and each window's (synchronous; loads on first use); for a
        grader, P(correct) of (``context`` = :func:`grader_context`, ``answer``), once."""
        self.artifact()
        assert self._encoder is not None and self._config is not None
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        return judge_probabilities(self._config.task, self._config.window, self._encoder, context, answer)

    def correct_probability(self, question: str, reference: str, answer: str) -> float:
        """P(correct) of ``answer`` to ``question`` against ``reference`` (synchronous; loads on first use)."""
        return self.judge_window_probabilities(grader_context(question, reference), answer)[0]

    async def faithful(self, *, context: str, answer: str, repeat: int = 0) -> Verdict:
        if self.task != "faithfulness":
            return self.unsupported("faithful")
        t0 = time.perf_counter()
        try:
            p, probs = await asyncio.to_thread(self.judge_window_probabilities, context, answer)
        except (ConfigError, LeakageError):
            raise  # a bad judge config is the user's to fix, not a judge error on one case
        except Exception as exc:  # the judge failed on this item: an error verdict, never a made-up score
            return Verdict(status="error", problem=f"learned judge failed: {type(exc).__name__}: {exc}"[:500],
                           judge_model=self.model)  # fmt: skip
        best = max(range(len(probs)), key=probs.__getitem__)
        return Verdict(
            status="ok", score=p, raw_score=p, label="yes" if p >= self.threshold else "no",
            reason=f"best of {len(probs)} window(s): window {best + 1}", raw=json.dumps([round(x, 4) for x in probs]),
            judge_model=self.model, template_hash=self.artifact().key, params=self.params(repeat),
            latency_s=time.perf_counter() - t0,
        )  # fmt: skip

    async def grade(self, *, question: str, answer: str, reference: str, rubric: str, repeat: int = 0) -> Verdict:
        """P(correct) of ``answer`` given ``question`` and ``reference`` as the score; ``rubric`` is not read."""
        if self.task != "correctness":
            return self.unsupported("grade")
        t0 = time.perf_counter()
        try:
            p = await asyncio.to_thread(self.correct_probability, question, reference, answer)
        except (ConfigError, LeakageError):
            raise
        except Exception as exc:  # the grader failed on this item: an error verdict, never a made-up score
            return Verdict(status="error", problem=f"learned judge failed: {type(exc).__name__}: {exc}"[:500],
                           judge_model=self.model)  # fmt: skip
        threshold = self.threshold
        return Verdict(
            status="ok", score=p, raw_score=p, label="pass" if p >= threshold else "fail",
            reason=f"P(correct) {p:.3f} against the reference (pass at {threshold:.3f})", raw=json.dumps(round(p, 4)),
            judge_model=self.model, template_hash=self.artifact().key, params=self.params(repeat),
            latency_s=time.perf_counter() - t0,
        )  # fmt: skip
