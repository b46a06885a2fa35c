"""Training a learned judge (faithfulness, or reference-guided correctness): ``ragft-eval judge train CONFIG``.

A config (YAML) names the training sources, the split, the windows and the hyper-parameters::

    name: faithfulness-minilm
    base: all-MiniLM-L6-v2
    sources:
      - {kind: synthetic, golden_set: ../golden_sets/demo, limit: 1200}
      - {kind: labelled, set: faithbench}          # from ``datasets`` when that folder exists
    held_out: [qags-cnndm, qags-xsum]              # never trained on; measured by --calibrate
    train: {epochs: 3, learning_rate: 1e-4, seed: 0, threads: 1}

A correctness grader (``task: correctness``) trains on ``{kind: correctness, golden_set: PATH}`` sources (or
``dataset: clapnq | hotpotqa`` from ``datasets``, through the golden-set importers; skipped, and recorded,
when that folder is absent): :mod:`ragft_eval.judges.correctness_pairs`.  Its ``held_out`` sets
(``ragchecker``) are never trained on, down to their questions: a training case whose question is one of
theirs is left out (and counted in the record).

Training reads each faithfulness pair against its best window (most words shared with the answer; a
correctness pair is read whole: question and reference, then the candidate), minimises binary
cross-entropy with AdamW (linear warm-up and decay), evaluates validation loss every ``eval_every``
steps, stops after ``patience`` evaluations without improvement (or at ``max_steps`` / ``max_seconds``)
and restores the best step (``restore_best``).  The artifact (fp16 weights, tokenizer, ``record.json``) is cached under
``cache_dir/judges/<name>-<key>`` where the key hashes the base model's files, the training and
validation pairs and the hyper-parameters, as fine-tuning does.  The record keeps every training and
validation item id and text hash, so calibration on what the judge saw is refused.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config_files import load_config
from ..errors import ConfigError, TrainingStopped
from ..hashing import content_hash
from .correctness_pairs import (
    CORRECTNESS_SETS,
    WRONG,
    Wrong,
    correctness_pairs,
    held_out_questions,
    imported_golden_set,
    question_hash,
)
from .crossencoder import MAX_POSITIONS, CrossEncoder
from .labels import CALIBRATION_SETS, kind_of
from .pairs import NEGATIVES, Negative, Pair, labelled_pairs, pairs_hash, synthetic_pairs

Task = Literal["faithfulness", "correctness"]

FORMAT = 2  # bump when what a trained judge means changes (the input layout, the loss)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticSource(_Spec):
    """ARES-style pairs from a golden set's own corpus (:func:`ragft_eval.judges.pairs.synthetic_pairs`)."""

    kind: Literal["synthetic"] = "synthetic"
    golden_set: str
    limit: int | None = Field(default=1200, ge=2)
    per_doc: int = Field(default=6, ge=1)
    negatives: tuple[Negative, ...] = Field(default=NEGATIVES, min_length=1)  # how unsupported answers are made


class LabelledSource(_Spec):
    """A human-labelled faithfulness set from ``datasets`` (skipped, and recorded, when it is absent)."""

    kind: Literal["labelled"] = "labelled"
    set: str
    limit: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _known(self) -> LabelledSource:
        if self.set not in CALIBRATION_SETS:
            raise ValueError(f"set: unknown labelled set {self.set!r}; expected one of {sorted(CALIBRATION_SETS)}")
        if kind_of(self.set) != "faithfulness":
            raise ValueError(f"set: {self.set!r} labels {kind_of(self.set)}, not faithfulness")
        return self


class CorrectnessSource(_Spec):
    """Correctness pairs (question, reference, candidate) from a golden set's reference answers, or from a
    shared dataset imported as a golden set (:func:`ragft_eval.judges.correctness_pairs.correctness_pairs`)."""

    kind: Literal["correctness"] = "correctness"
    golden_set: str | None = None
    dataset: Literal["clapnq", "hotpotqa"] | None = None  # under ``datasets`` (skipped when absent); see DATASETS
    limit: int | None = Field(default=1200, ge=2)
    per_case: int = Field(default=2, ge=1)  # correct candidates per case, and as many wrong ones
    negatives: tuple[Wrong, ...] = Field(default=WRONG, min_length=1)  # how wrong candidates are made

    @model_validator(mode="after")
    def _one(self) -> CorrectnessSource:
        if (self.golden_set is None) == (self.dataset is None):
            raise ValueError("expected exactly one of golden_set (a folder) or dataset (a shared dataset)")
        return self


Source = Annotated[SyntheticSource | LabelledSource | CorrectnessSource, Field(discriminator="kind")]


class SplitSpec(_Spec):
    """Shares of each source held out for validation (early stopping) and test (in-dataset measurement)."""

    validation: float = Field(default=0.1, gt=0, lt=0.5)
    test: float = Field(default=0.1, ge=0, lt=0.5)
    seed: int = 0


class WindowSpec(_Spec):
    tokens: int = Field(default=256, ge=16, le=480)
    stride: int = Field(default=128, ge=1)

    @model_validator(mode="after")
    def _stride(self) -> WindowSpec:
        if self.stride > self.tokens:
            raise ValueError(f"stride: expected stride <= tokens ({self.tokens}), got {self.stride}")
        return self


class JudgeTrainSpec(_Spec):
    epochs: float = Field(default=2.0, gt=0)
    learning_rate: float = Field(default=1e-4, gt=0)
    batch_size: int = Field(default=16, ge=1)
    max_length: int = Field(default=320, ge=32, le=512)  # window + answer, in tokens
    warmup: float = Field(default=0.1, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    eval_every: int = Field(default=25, ge=1)
    patience: int = Field(default=3, ge=1)
    validation_limit: int | None = Field(default=256, ge=1)  # validation loss on at most N pairs (cost)
    max_steps: int | None = Field(default=None, ge=1)
    max_seconds: float | None = Field(default=None, gt=0)  # a wall-clock cap: the record says it stopped there
    restore_best: bool = True  # False: keep the last step (smoke tests, where validation is a handful of pairs)
    seed: int = 0
    threads: int = Field(default=1, ge=1)


class JudgeTrainConfig(_Spec):
    """``ragft-eval judge train CONFIG``: what a learned judge trains on, and how.

    ``task``: ``faithfulness`` (P(supported) of an answer by a context; sources ``synthetic`` and
    ``labelled``) or ``correctness`` (P(correct) of a candidate against a question's reference; sources
    ``correctness``, held out ``ragchecker``)."""

    name: str = Field(default="faithfulness-minilm", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    task: Task = "faithfulness"
    base: str = "all-MiniLM-L6-v2"
    sources: tuple[Source, ...] = Field(min_length=1)
    held_out: tuple[str, ...] = ()
    datasets: str = "../shared/datasets"
    splits: SplitSpec = SplitSpec()
    window: WindowSpec = WindowSpec()
    # P(supported) at or above which the label is "yes"; "validation": the threshold of best balanced
    # accuracy on the validation split, chosen once after training (a judge's scores need not centre on 0.5)
    threshold: float | Literal["validation"] = "validation"
    train: JudgeTrainSpec = JudgeTrainSpec()
    cache_dir: str = ".ragft_cache"
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _held_out(self) -> JudgeTrainConfig:
        for i, src in enumerate(self.sources):
            if (src.kind == "correctness") != (self.task == "correctness"):
                fits = "correctness" if self.task == "correctness" else "synthetic or labelled"
                raise ValueError(f"sources.{i}: a {src.kind} source does not train a {self.task} judge "
                                 f"(expected kind {fits})")  # fmt: skip
        if self.task == "correctness":
            for name in self.held_out:
                if name not in CORRECTNESS_SETS:
                    raise ValueError(f"held_out: {name!r} is not a correctness set of {list(CORRECTNESS_SETS)}")
            return self
        trained = {s.set for s in self.sources if isinstance(s, LabelledSource)}
        for name in self.held_out:
            if name not in CALIBRATION_SETS or kind_of(name) != "faithfulness":
                raise ValueError(f"held_out: {name!r} is not a faithfulness set of {sorted(CALIBRATION_SETS)}")
            if name in trained:
                raise ValueError(f"held_out: {name!r} is also a training source; a held-out set is never trained on")
        return self

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def load_judge_train_config(path: str | Path) -> JudgeTrainConfig:
    """Read and validate a judge-train YAML; :class:`ConfigError` names the file and key."""
    return load_config(path, JudgeTrainConfig, "judge train config")


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class TrainingData:
    """Every pair of a config's sources with its split, what was skipped (a missing datasets folder) and
    what was left out (correctness cases whose question is in a held-out set)."""

    pairs: tuple[Pair, ...]
    skipped: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def split(self, name: str) -> list[Pair]:
        return [p for p in self.pairs if p.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for p in self.pairs:
            row = out.setdefault(p.source, {})
            key = f"{p.split}_{'supported' if p.label else 'unsupported'}"  # correctness: correct / wrong
            row[key] = row.get(key, 0) + 1
        return out


def build_data(cfg: JudgeTrainConfig) -> TrainingData:
    """The pairs of ``cfg``'s sources; a labelled source is skipped (and said) when ``datasets`` is absent."""
    from ..golden import load_golden_set

    s = cfg.splits
    pairs: list[Pair] = []
    skipped: list[str] = []
    root = cfg.resolve(cfg.datasets)
    for i, src in enumerate(cfg.sources):
        if isinstance(src, SyntheticSource):
            gs = load_golden_set(cfg.resolve(src.golden_set))
            made = synthetic_pairs(gs, limit=src.limit, per_doc=src.per_doc, seed=s.seed, validation=s.validation,
                                   test=s.test, negatives=src.negatives)  # fmt: skip
            if not made:
                raise ConfigError(f"sources.{i}: golden set {gs.name!r} has no corpus sentences to make pairs from")
            pairs += made
        elif isinstance(src, CorrectnessSource):
            if src.dataset is not None and not root.is_dir():
                skipped.append(f"{src.dataset}: datasets folder {root} not found")
                continue
            gs = (load_golden_set(cfg.resolve(src.golden_set)) if src.golden_set is not None
                  else imported_golden_set(src.dataset, root, cfg.resolve(cfg.cache_dir)))  # fmt: skip
            made = correctness_pairs(gs, limit=src.limit, per_case=src.per_case, seed=s.seed,
                                     validation=s.validation, test=s.test, negatives=src.negatives)  # fmt: skip
            if not made:
                raise ConfigError(f"sources.{i}: golden set {gs.name!r} has no case with a reference answer")
            pairs += made
        elif not root.is_dir():
            skipped.append(f"{src.set}: datasets folder {root} not found")
        else:
            pairs += labelled_pairs(src.set, root, seed=s.seed, validation=s.validation, test=s.test, limit=src.limit)
    excluded: list[str] = []
    if cfg.task == "correctness" and cfg.held_out and root.is_dir():
        banned = held_out_questions(cfg.held_out, root)
        for source in sorted({p.source for p in pairs}):
            out = [p for p in pairs if p.source == source and question_hash(p.question or "") in banned]
            if out:
                n_q = len({question_hash(p.question or "") for p in out})
                excluded.append(f"{source}: {n_q} question(s) ({len(out)} pairs) of held-out {', '.join(cfg.held_out)}")
        pairs = [p for p in pairs if question_hash(p.question or "") not in banned]
    ids = [p.id for p in pairs]
    if len(set(ids)) != len(ids):
        raise ConfigError("sources: the same item appears in two sources (duplicate pair ids)")
    if not any(p.split == "train" for p in pairs) or not any(p.split == "validation" for p in pairs):
        raise ConfigError(f"sources: too few pairs ({len(pairs)}) for a train and a validation split")
    return TrainingData(tuple(pairs), tuple(skipped), tuple(excluded))


def base_identity(folder: Path) -> str:
    """The base model by its files' names and sizes (hashing 90 MB on every use would cost seconds)."""
    return content_hash(sorted((p.name, p.stat().st_size) for p in folder.glob("*") if p.is_file()))


def artifact_key(cfg: JudgeTrainConfig, base: str, data: TrainingData) -> str:
    """Cache key: base model, training and validation data, windows and hyper-parameters."""
    # settings added after judges were first cached are left out at their default (the key stays)
    train_spec = cfg.train.model_dump(exclude={"restore_best"} if cfg.train.restore_best else set())
    task = {"task": cfg.task} if cfg.task != "faithfulness" else {}  # a faithfulness judge keeps its key
    return content_hash({"base": base, "train": pairs_hash(data.split("train")),
                         "validation": pairs_hash(data.split("validation")), "window": cfg.window.model_dump(),
                         "train_spec": train_spec, "format": FORMAT, **task})  # fmt: skip


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class JudgeArtifact:
    """A trained judge on disk (``folder``) and its record."""

    key: str
    folder: Path
    record: dict[str, Any]
    cached: bool

    @property
    def bytes(self) -> int:
        """The size of the judge on disk: weights and tokenizer (the record is not counted)."""
        return sum(p.stat().st_size for p in self.folder.glob("*") if p.is_file() and p.name != "record.json")


def artifact_folder(cfg: JudgeTrainConfig, key: str) -> Path:
    return cfg.resolve(cfg.cache_dir) / "judges" / f"{cfg.name}-{key[7:23]}"


def first_segment(task: str, window: WindowSpec, enc: CrossEncoder, context: str, answer: str) -> str:
    """What a training pair is read against: the best window of its context (faithfulness) or its whole
    first segment, question and reference (correctness)."""
    if task == "correctness":
        return context
    return enc.best_window(context, answer, tokens=window.tokens, stride=window.stride)


def judge_probabilities(task: str, window: WindowSpec, enc: CrossEncoder, context: str, answer: str
                        ) -> tuple[float, list[float]]:  # fmt: skip
    """The judge's score of one (context, answer) and its parts, the one way training and judging read it:
    faithfulness, max over the context's windows of P(supported); correctness, P(correct) of the whole
    input (cut at the encoder's 512 positions, the reference's end first)."""
    if task == "correctness":
        p = enc.probabilities([context], [answer], max_length=MAX_POSITIONS)[0]
        return p, [p]
    return enc.supported(context, answer, tokens=window.tokens, stride=window.stride)


def choose_threshold(cfg: JudgeTrainConfig, enc: CrossEncoder, data: TrainingData) -> float:
    """``cfg.threshold``, or (``validation``) the one of best balanced accuracy on the validation pairs,
    each judged as the judge judges (:func:`judge_probabilities`); ties go to the threshold nearest 0.5."""
    if cfg.threshold != "validation":
        return float(cfg.threshold)
    pairs = data.split("validation")
    scores = [judge_probabilities(cfg.task, cfg.window, enc, p.context, p.answer)[0] for p in pairs]
    labels = [p.label for p in pairs]
    n_pos, n_neg = sum(labels), len(labels) - sum(labels)
    if not n_pos or not n_neg:
        return 0.5
    ranked = sorted(set(scores))
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(ranked)] or [0.5]

    def balanced(t: float) -> float:
        tpr = sum(s >= t and y for s, y in zip(scores, labels, strict=True)) / n_pos
        tnr = sum(s < t and not y for s, y in zip(scores, labels, strict=True)) / n_neg
        return (tpr + tnr) / 2

    return round(max(candidates, key=lambda t: (balanced(t), -abs(t - 0.5))), 6)


def _batches(pairs: list[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches of similar lengths (less padding per step), in a shuffled order."""
    order = pairs[:]
    rng.shuffle(order)
    chunk = size * 20
    batches = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i : i + chunk], key=lambda p: len(p.context) + len(p.answer))
        batches += [part[j : j + size] for j in range(0, len(part), size)]
    rng.shuffle(batches)
    return batches


def train_judge(
    cfg: JudgeTrainConfig, *, progress: bool = True, force: bool = False, stop: threading.Event | None = None
) -> JudgeArtifact:
    """Train the judge ``cfg`` describes, or return the cached one with the same key."""
    from ..retrieval.dense import model_path

    base_folder = model_path(cfg.base)
    data = build_data(cfg)
    key = artifact_key(cfg, base_identity(base_folder), data)
    folder = artifact_folder(cfg, key)
    record_path = folder / "record.json"
    if record_path.is_file() and (folder / "model.safetensors").is_file() and not force:
        return JudgeArtifact(key, folder, json.loads(record_path.read_text()), cached=True)

    import torch

    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.train.threads)
    try:
        t0 = time.perf_counter()
        torch.manual_seed(cfg.train.seed)  # the new head's initial weights
        enc = CrossEncoder.load(base_folder)
        load_s = time.perf_counter() - t0
        log = _fit(cfg, enc, data, progress=progress, stop=stop)
    finally:
        torch.set_num_threads(threads_before)
    threshold = choose_threshold(cfg, enc, data)
    tmp = folder.with_name(folder.name + ".tmp")
    enc.save(tmp)
    train, validation = data.split("train"), data.split("validation")
    record = {
        "schema_version": 1,
        "key": key,
        "name": cfg.name,
        "base": cfg.base,
        "base_identity": base_identity(base_folder),
        "config": cfg.model_dump(mode="json"),
        "data_hash": {"train": pairs_hash(train), "validation": pairs_hash(validation)},
        "task": cfg.task,
        "sources": data.counts(),
        "skipped_sources": list(data.skipped),
        "excluded": list(data.excluded),
        "train_examples": len(train),
        "validation_examples": len(validation),
        # what the judge saw, so a calibration on it is refused (ids, and texts under any id)
        "seen_ids": sorted(p.id for p in train + validation),
        "seen_text_hashes": sorted({p.text_hash for p in train + validation}),
        "seen_question_hashes": sorted({question_hash(p.question) for p in train + validation if p.question}),
        "test_ids": sorted(p.id for p in data.split("test")),
        "load_seconds": round(load_s, 2),
        "threshold": threshold,
        **log,
    }
    (tmp / "record.json").write_text(json.dumps(record, indent=1))
    if folder.exists():  # --force: replace the old artifact as a whole
        import shutil

        shutil.rmtree(folder)
    tmp.rename(folder)
    artifact = JudgeArtifact(key, folder, record, cached=False)
    record["artifact_bytes"] = artifact.bytes
    record_path.write_text(json.dumps(record, indent=1))
    return artifact


def _fit(cfg: JudgeTrainConfig, enc: CrossEncoder, data: TrainingData, *, progress: bool,
         stop: threading.Event | None) -> dict[str, Any]:  # fmt: skip
    """The training loop; returns the loss curves and timings (the best step's weights are left in ``enc``)."""
    import copy

    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    spec, win = cfg.train, cfg.window
    torch.manual_seed(spec.seed)
    rng = random.Random(spec.seed)

    def windowed(pairs: list[Pair]) -> list[tuple[str, str, float]]:
        return [(first_segment(cfg.task, win, enc, p.context, p.answer), p.answer, 1.0 if p.label else 0.0)
                for p in pairs]  # fmt: skip

    train = data.split("train")
    validation = data.split("validation")
    if spec.validation_limit is not None and len(validation) > spec.validation_limit:
        validation = sorted(random.Random(spec.seed).sample(validation, spec.validation_limit), key=lambda p: p.id)
    train_rows = {p.id: row for p, row in zip(train, windowed(train), strict=True)}
    val_rows = windowed(validation)

    per_epoch = math.ceil(len(train) / spec.batch_size)
    total = max(1, math.ceil(per_epoch * spec.epochs))
    if spec.max_steps is not None:
        total = min(total, spec.max_steps)
    model = enc.model
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": spec.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]  # fmt: skip
    opt = torch.optim.AdamW(groups, lr=spec.learning_rate)
    warm = max(1, int(total * spec.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    bce = torch.nn.BCEWithLogitsLoss()

    def validation_loss() -> float:
        model.eval()
        losses = []
        with torch.inference_mode():
            for i in range(0, len(val_rows), 32):
                rows = val_rows[i : i + 32]
                logits = enc.logits([r[0] for r in rows], [r[1] for r in rows], max_length=spec.max_length)
                losses.append(float(bce(logits, torch.tensor([r[2] for r in rows]))) * len(rows))
        model.train()
        return sum(losses) / len(val_rows)

    curve: list[list[float]] = []
    train_curve: list[list[float]] = []
    best = (validation_loss(), 0)
    curve.append([0, round(best[0], 5)])
    best_state = copy.deepcopy(model.state_dict())
    bad, step, seen, stopped = 0, 0, 0, "completed"
    t0 = time.perf_counter()
    bar = Progress(TextColumn(f"[bold]judge train {cfg.name}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]} val {task.fields[val]}"), TimeElapsedColumn(),
                   disable=not progress)  # fmt: skip
    model.train()
    running: list[float] = []
    with bar:
        task = bar.add_task("train", total=total, loss="-", val=f"{best[0]:.3f}")
        while step < total and stopped == "completed":
            for batch in _batches(train, spec.batch_size, rng):
                rows = [train_rows[p.id] for p in batch]
                logits = enc.logits([r[0] for r in rows], [r[1] for r in rows], max_length=spec.max_length)
                loss = bce(logits, torch.tensor([r[2] for r in rows]))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                step += 1
                seen += len(rows)
                running.append(loss.item())
                if stop is not None and stop.is_set():
                    raise TrainingStopped(f"judge train {cfg.name}: stopped at step {step} of {total}; nothing cached")
                if step % spec.eval_every == 0 or step == total:
                    val = validation_loss()
                    curve.append([step, round(val, 5)])
                    train_curve.append([step, round(sum(running) / len(running), 5)])
                    running = []
                    if val < best[0] - 1e-4:
                        best, bad = (val, step), 0
                        best_state = copy.deepcopy(model.state_dict())
                    else:
                        bad += 1
                    bar.update(task, val=f"{val:.3f}")
                    if bad >= spec.patience:
                        stopped = "early_stopping"
                bar.update(task, completed=step, loss=f"{running[-1]:.3f}" if running else "-")
                if spec.max_seconds is not None and time.perf_counter() - t0 > spec.max_seconds:
                    stopped = "max_seconds"
                if step >= total or stopped != "completed":
                    break
    if step % spec.eval_every and stopped == "max_seconds":  # the last steps, measured before choosing
        val = validation_loss()
        curve.append([step, round(val, 5)])
        if val < best[0] - 1e-4:
            best, best_state = (val, step), copy.deepcopy(model.state_dict())
    if spec.restore_best:
        model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - t0
    return {"steps": step, "planned_steps": total, "best_step": best[1], "best_validation_loss": round(best[0], 5),
            "stopped": stopped, "validation_loss": curve, "train_loss": train_curve, "examples_seen": seen,
            "seconds": round(seconds, 1), "examples_per_second": round(seen / seconds, 2) if seconds else None,
            "threads": spec.threads}  # fmt: skip
