"""The learned faithfulness judge: a MiniLM cross-encoder fine-tuned on CPU, registered as judge ``learned``.

A suite names it beside (or instead of) its prompted ``judge:``, and a judged metric names it::

    judges:
      faith: {kind: learned, model: faithfulness-minilm}        # or config: judge-faithfulness.yaml
    metrics:
      - {metric: faithfulness, judge: faith}

``model: faithfulness-minilm`` is the built-in recipe: synthetic ARES-style pairs from the suite's own
golden sets' corpora (nothing else, so a fresh clone trains the same judge), trained on first use and
cached under the suite's ``cache_dir``.  ``config:`` names a ``judge train`` YAML instead (for example
with FaithBench's human labels), trained by ``ragft-eval judge train CONFIG`` or on first use.

The verdict's ``score`` is P(supported) of the whole answer against its best-supporting context window
(max over windows of ``window.tokens`` tokens every ``window.stride``); ``label`` is ``yes`` at or
above the threshold.  It judges faithfulness only: the other judge calls return an ``error`` verdict,
and a suite that names it for another metric is refused when the metrics are built.
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
from ._base import Verdict
from .crossencoder import CrossEncoder
from .pairs import text_hash
from .training import (
    JudgeArtifact,
    JudgeTrainConfig,
    JudgeTrainSpec,
    SyntheticSource,
    load_judge_train_config,
    train_judge,
)

#: Built-in recipes: name -> what differs from the training defaults (sources are the suite's golden sets).
BUILTIN_RECIPES: dict[str, dict[str, Any]] = {
    # about 600 pairs x 2 epochs: a few minutes on two cores (see the README for the measured time)
    "faithfulness-minilm": {"limit": 600, "train": {"epochs": 2.0, "threads": 2}},
}


class LearnedJudgeSpec(BaseModel):
    """A ``judges:`` entry of kind ``learned``, as recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: Literal["learned"] = "learned"
    model: str
    config: str | None = None
    threshold: float | None = Field(default=None, gt=0, lt=1)  # None: the artifact's (see JudgeTrainConfig)
    repeats: Literal[1] = 1  # deterministic: a repeat would measure nothing


@register("judge", "learned")
class LearnedJudge:
    """A trained cross-encoder judging (context, answer) -> P(supported); see the module docstring.

    ``base_dir``, ``cache_dir`` and ``golden_sets`` are filled in from the suite (its folder, its cache
    and its golden-set paths) when a suite builds the judge.  Nothing is loaded or trained until the
    first judgment (or :meth:`start`).
    """

    capabilities = frozenset({"faithful"})
    client = None  # no generative model: a metric that needs one (ragas) cannot run on this judge

    def __init__(
        self, *, model: str = "faithfulness-minilm", config: str | None = None, threshold: float | None = None,
        base_dir: str | Path = ".", cache_dir: str | Path = ".ragft_cache", golden_sets: Sequence[str | Path] = (),
        threads: int | None = None, progress: bool = False,
    ) -> None:  # fmt: skip
        self.spec = LearnedJudgeSpec(model=model, config=config, threshold=threshold)
        self.base_dir, self.cache_dir = Path(base_dir), Path(cache_dir)
        self.golden_sets = tuple(str(g) for g in golden_sets)
        self.threads, self.progress = threads, progress
        self._artifact: JudgeArtifact | None = None
        self._encoder: CrossEncoder | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ what it was trained on

    def train_config(self) -> JudgeTrainConfig:
        """The training config this judge stands for (the built-in recipe, or its ``config:`` file)."""
        if self.spec.config is not None:
            path = Path(self.spec.config).expanduser()
            return load_judge_train_config(path if path.is_absolute() else self.base_dir / path)
        recipe = BUILTIN_RECIPES.get(self.spec.model)
        if recipe is None:
            raise ConfigError(f"judges: model: unknown learned judge {self.spec.model!r}; built-in: "
                              f"{sorted(BUILTIN_RECIPES)}, or give config: a judge train YAML")  # fmt: skip
        if not self.golden_sets:
            model = self.spec.model
            raise ConfigError(f"judges: learned judge {model!r} trains on the suite's golden sets: none given")
        sources = tuple(SyntheticSource(golden_set=str(Path(g).resolve()), limit=recipe["limit"])
                        for g in self.golden_sets)  # fmt: skip
        return JudgeTrainConfig(name=self.spec.model, sources=sources, train=JudgeTrainSpec(**recipe["train"]),
                                cache_dir=str(self.cache_dir.resolve()), base_dir=self.base_dir)  # fmt: skip

    def artifact(self) -> JudgeArtifact:
        """The trained judge, trained first when the cache has none (thread-safe, once per judge)."""
        with self._lock:
            if self._artifact is None:
                cfg = self.train_config()
                art = train_judge(cfg, progress=self.progress)
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
        """Refuse (:class:`LeakageError`) items the judge trained or early-stopped on, by id or by text."""
        record = self.artifact().record
        ids, texts = set(record["seen_ids"]), set(record["seen_text_hashes"])
        leaks = [(it.id, it.id) for it in items if it.id in ids or text_hash(it.context, it.answer) in texts]
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
    def model(self) -> str:
        """``learned:<name>``: the recipe's name, or the training config's ``name``."""
        return f"learned:{self.artifact().record['name'] if self.spec.config else self.spec.model}"

    def params(self, repeat: int = 0) -> dict[str, Any]:
        art = self.artifact()
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
        """P(supported) against the best window, and each window's (synchronous; loads on first use)."""
        art = self.artifact()
        assert self._encoder is not None
        window = art.record["config"]["window"]
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        return self._encoder.supported(context, answer, tokens=window["tokens"], stride=window["stride"])

    async def faithful(self, *, context: str, answer: str, repeat: int = 0) -> Verdict:
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

    def _unsupported(self, call: str) -> Verdict:
        problem = f"the learned judge {self.spec.model!r} judges faithfulness only, not {call}"
        return Verdict(status="error", judge_model=self.model, problem=problem)

    async def grade(self, *, question: str, answer: str, reference: str, rubric: str, repeat: int = 0) -> Verdict:
        return self._unsupported("grade")

    async def style(self, *, question: str, answer: str, rubric: str, repeat: int = 0) -> Verdict:
        return self._unsupported("style")

    async def pairwise(self, *, question: str, answer_a: str, answer_b: str, repeat: int = 0) -> Verdict:
        return self._unsupported("pairwise")

    async def hallucinated(self, *, question: str, answer: str, repeat: int = 0) -> Verdict:
        return self._unsupported("hallucinated")
