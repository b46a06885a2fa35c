"""Fine-tune configs (YAML validated by pydantic) and the examples a fine-tune trains on.

The model is trained on the golden set's train split, in the exact prompt format its system sends,
with loss on the answer tokens only; the target is the whole answer in the case's format
(:func:`ragft_eval.prompts.example_answer`: the house style, a reference solution, the JSON).

- ``format: closed_book`` (the ``finetuned`` system): the prompt-only template.  Optionally it also reads
  the corpus *as it stood at the training cutoff* (``include_corpus``): the fine-tuned model knows the
  old facts, which is how the demo shows stale knowledge against RAG on a newer corpus.
- ``format: raft`` (the ``hybrid`` system, fine-tuned *to use* retrieved context; RAFT, Zhang et al.
  2024): the RAG template, each question with ``raft.k`` passages from the corpus as of the cutoff, its
  relevant documents among distractors in a seeded order, the answer drawn from them; in a share
  ``1 - raft.oracle_share`` of the examples the relevant documents are left out (only distractors), as
  RAFT does, so the model does not learn that the answer is always in the context.  An extraction case
  without relevant documents is rendered closed-book, as the RAG systems send it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import prompts
from ..config_files import load_config
from ..errors import ConfigError, LeakageError
from ..golden import GoldenSet, find_leaks, load_golden_set
from ..hashing import content_hash
from ..records import Case, Document
from ..retrieval import chunk_documents


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraSpec(_Spec):
    r: int = Field(default=8, ge=1)
    alpha: float = Field(default=16.0, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    # None: peft's default (lora_B = 0, the adapter starts as a no-op); a number: random lora_B scaled by it,
    # so that an export check after a few steps sees a LoRA effect far above quantisation noise
    init_b_scale: float | None = Field(default=None, gt=0)


class TrainSpec(_Spec):
    epochs: float = Field(default=2.0, gt=0)
    learning_rate: float = Field(default=2e-4, gt=0)
    max_tokens_per_step: int = Field(default=1024, ge=64)  # fp32 logits over a 262k vocabulary: cap it
    max_seq_len: int = Field(default=256, ge=16)
    max_steps: int | None = Field(default=None, ge=1)
    eval_every: int = Field(default=10, ge=1)
    patience: int = Field(default=3, ge=1)  # evaluations of rising validation loss before stopping
    seed: int = 0
    threads: int = Field(default=2, ge=1)
    bucket_by_length: bool = True  # batches of similar lengths (less padding per step; train.batches)


class RaftSpec(_Spec):
    """How ``format: raft`` builds its contexts (see the module docstring)."""

    k: int = Field(default=3, ge=1)  # passages per prompt: the hybrid system's k
    oracle_share: float = Field(default=0.8, ge=0, le=1)
    seed: int = 0


class FinetuneConfig(_Spec):
    """``ragft-eval finetune CONFIG``: what to train, on what, and how."""

    name: str
    golden_set: str
    base: str = "gemma3-270m"
    train_split: str = "train"
    validation_split: str = "dev"
    evaluated_splits: tuple[str, ...] = ("dev", "test")
    include_corpus: bool = True
    corpus_as_of: date | None = None  # default: the golden set's training_cutoff
    limit: int | None = Field(default=None, ge=1)  # at most N train cases (CI subsets)
    validation_limit: int | None = Field(default=None, ge=1)
    format: Literal["closed_book", "raft"] = "closed_book"
    raft: RaftSpec = RaftSpec()
    lora: LoraSpec = LoraSpec()
    train: TrainSpec = TrainSpec()
    cache_dir: str = ".ragft_cache"
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def load_finetune_config(path: str | Path) -> FinetuneConfig:
    return load_config(path, FinetuneConfig, "fine-tune config")


@dataclass(frozen=True)
class Example:
    """One training text: the model reads ``prompt`` and learns ``target`` (loss on the target only)."""

    id: str
    prompt: str
    target: str


def build_examples(cfg: FinetuneConfig, gs: GoldenSet) -> tuple[list[Example], list[Example]]:
    """Train and validation examples; refuses (LeakageError) when train shares an input with an evaluated split."""
    leaks = find_leaks(gs.cases, train=cfg.train_split, evaluated=cfg.evaluated_splits)
    if leaks:
        raise LeakageError(leaks)

    when = cfg.corpus_as_of or gs.manifest.training_cutoff
    corpus = gs.corpus_as_of(when)
    rng = random.Random(cfg.raft.seed)

    def qa(split: str, limit: int | None) -> list[Example]:
        cases = gs.select(splits=[split])[:limit]
        out = []
        for c in cases:
            if cfg.format == "raft" and (c.relevant_docs or not prompts.expects_json(c)):
                passages = raft_passages(c, corpus, k=cfg.raft.k, oracle_share=cfg.raft.oracle_share, rng=rng)
                prompt, prefix = prompts.render(prompts.RAG, c, passages=passages)
            else:
                prompt, prefix = prompts.render(prompts.PROMPT_ONLY, c)
            answer = prompts.example_answer(c)
            if prefix:  # the prompt already opens the JSON object
                answer = answer.strip().removeprefix(prefix)
            out.append(Example(c.id, prompt, answer + "\n\n"))
        return out

    train = qa(cfg.train_split, cfg.limit)
    if not train:
        raise ConfigError(f"train_split: golden set {gs.name!r} has no {cfg.train_split!r} cases")
    if cfg.include_corpus:
        docs = corpus[: cfg.limit]
        train += [Example(f"doc:{d.id}", "", f"{d.title}\n{d.text}\n\n") for d in docs]
    validation = qa(cfg.validation_split, cfg.validation_limit)
    return train, validation


def raft_passages(case: Case, corpus: Sequence[Document], *, k: int, oracle_share: float,
                  rng: random.Random) -> list[str]:  # fmt: skip
    """``k`` passage texts for a RAFT example (as the retriever gives them: ``title: text``): the case's
    relevant documents as they stood in ``corpus`` (a later version's id maps to the version it
    supersedes) with probability ``oracle_share``, and distractors drawn from the rest, in a random order."""
    by_id = {d.id: d for d in corpus}
    oracle = []
    for doc_id in case.relevant_docs:
        base = doc_id.split("--v")[0]  # kb-x--v2 -> kb-x: the version in force at the cutoff
        doc = by_id.get(doc_id) or by_id.get(base) or next(
            (d for d in corpus if d.metadata.get("supersedes") == base), None)  # fmt: skip
        if doc is not None and doc not in oracle:
            oracle.append(doc)
    keep = oracle[:k] if rng.random() < oracle_share else []
    others = [d for d in corpus if d not in oracle]
    chosen = keep + rng.sample(others, min(k - len(keep), len(others)))
    rng.shuffle(chosen)
    return [p.text for p in chunk_documents(chosen, None)]


def artifact_key(cfg: FinetuneConfig, base_hash: str, train: list[Example], validation: list[Example]) -> str:
    """Cache key: base model, training-data hash and hyper-parameters."""
    return content_hash(
        {
            "base": base_hash,
            "train": [(e.prompt, e.target) for e in train],
            "validation": [(e.prompt, e.target) for e in validation],
            "lora": cfg.lora.model_dump(mode="json"),
            "train_spec": cfg.train.model_dump(mode="json"),
            "format": 1,
        }
    )


def load_training_golden_set(cfg: FinetuneConfig) -> GoldenSet:
    return load_golden_set(cfg.resolve(cfg.golden_set))
