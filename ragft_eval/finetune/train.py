"""LoRA training on the CPU: transformers loads the same GGUF llama.cpp serves (dequantised), peft adds LoRA.

Memory and time go where the vocabulary is: Gemma 3's 262k-token output layer.  So the loss is taken
on answer tokens only, and the output layer is applied to those positions only (not to every prompt
token), and batches are packed up to ``max_tokens_per_step`` tokens.  Validation loss is computed on the
dev split every ``eval_every`` steps; training stops early once it has risen ``patience`` evaluations in
a row, and the adapter of the best evaluation is kept.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Example, FinetuneConfig


@dataclass
class TrainLog:
    """Per-step training loss and per-evaluation validation loss (kept with the artifact for reports)."""

    train: list[tuple[int, float]] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)
    best_step: int = 0
    stopped_early: bool = False
    steps: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "train_loss": self.train, "validation_loss": self.validation, "best_step": self.best_step,
            "stopped_early": self.stopped_early, "steps": self.steps, "seconds": round(self.seconds, 2),
            "load_seconds": round(self.load_seconds, 2), "tokens": self.tokens,
            "seconds_per_step": round(self.seconds / self.steps, 3) if self.steps else None,
        }  # fmt: skip


def load_base(gguf: Path, *, threads: int = 2) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a GGUF file, dequantised to float32 on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    return model, tokenizer


def add_lora(model: Any, cfg: FinetuneConfig) -> Any:
    """Wrap ``model`` with LoRA adapters (peft); ``lora.init_b_scale`` starts from a non-zero lora_B."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(cfg.train.seed)
    random_b = cfg.lora.init_b_scale is not None
    lora = LoraConfig(
        r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout, bias="none", task_type="CAUSAL_LM",
        target_modules=list(cfg.lora.target_modules), init_lora_weights=not random_b, use_rslora=False,
    )  # fmt: skip
    model = get_peft_model(model, lora)
    if random_b:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.mul_(cfg.lora.init_b_scale)
    return model


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    n_prompt: int  # loss on positions >= n_prompt


def encode(examples: list[Example], tokenizer: Any, max_len: int) -> list[Encoded]:
    """Token ids with BOS; prompts are cut from the left so the answer always fits in ``max_len``."""
    out = []
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    for ex in examples:
        p = tokenizer(ex.prompt, add_special_tokens=False)["input_ids"] if ex.prompt else []
        t = tokenizer(ex.target, add_special_tokens=False)["input_ids"]
        t = t[: max_len - len(bos) - 1]
        p = p[max(0, len(p) - (max_len - len(bos) - len(t))) :]
        out.append(Encoded(bos + p + t, len(bos) + len(p)))
    return out


def batches(items: list[Encoded], max_tokens: int, rng: random.Random | None, *,
            bucket: bool = False) -> list[list[Encoded]]:  # fmt: skip
    """Pack examples into batches of at most ``max_tokens`` padded tokens (shuffled when ``rng`` is given).

    With ``bucket``, examples of similar length go together (sorted within windows of 64 after the
    shuffle, then the batches shuffled): a batch pads to its longest example, and unbucketed batches of
    a 200-token document beside a 30-token answer spent most of each step on padding.
    """
    order = list(items)
    if rng is not None:
        rng.shuffle(order)
        if bucket:
            order = [x for i in range(0, len(order), 64) for x in sorted(order[i : i + 64], key=lambda e: len(e.ids))]
    out: list[list[Encoded]] = []
    cur: list[Encoded] = []
    for item in order:
        width = max([len(x.ids) for x in cur] + [len(item.ids)])
        if cur and width * (len(cur) + 1) > max_tokens:
            out.append(cur)
            cur = []
        cur.append(item)
    if cur:
        out.append(cur)
    if rng is not None and bucket:
        rng.shuffle(out)
    return out


def batch_loss(model: Any, batch: list[Encoded], pad_id: int) -> tuple[Any, int]:
    """Mean cross-entropy over answer tokens, computing the output layer only where a label is."""
    import torch

    width = max(len(x.ids) for x in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, : len(x.ids)] = torch.tensor(x.ids)
        mask[i, : len(x.ids)] = 1
        labels[i, x.n_prompt : len(x.ids)] = torch.tensor(x.ids[x.n_prompt :])
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = causal.model(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    sel = target != -100
    h = hidden[:, :-1][sel]
    logits = causal.lm_head(h).float()
    cap = getattr(causal.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    n = int(sel.sum())
    return torch.nn.functional.cross_entropy(logits, target[sel]), n


def validation_loss(model: Any, items: list[Encoded], pad_id: int, max_tokens: int) -> float | None:
    import torch

    if not items:
        return None
    total, count = 0.0, 0
    # in length order: a batch pads to its longest example, and the file order put a 40-token answer beside
    # a 200-token one (12% fewer padded tokens on the demo's dev split; the loss is the same sum)
    ordered = sorted(items, key=lambda e: len(e.ids))
    with torch.no_grad():
        for b in batches(ordered, max_tokens, None):
            loss, n = batch_loss(model, b, pad_id)
            total += float(loss) * n
            count += n
    return total / count if count else None


def train_lora(
    cfg: FinetuneConfig,
    model: Any,
    tokenizer: Any,
    train: list[Example],
    validation: list[Example],
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[Any, TrainLog]:
    """Train a LoRA adapter on ``model`` (already wrapped by :func:`add_lora`); returns it with its log."""
    import torch

    spec = cfg.train
    torch.manual_seed(spec.seed)
    rng = random.Random(spec.seed)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    enc_train = encode(train, tokenizer, spec.max_seq_len)
    enc_val = encode(validation, tokenizer, spec.max_seq_len)
    steps_per_epoch = len(batches(enc_train, spec.max_tokens_per_step, random.Random(spec.seed),
                                  bucket=spec.bucket_by_length))  # fmt: skip
    total = spec.max_steps or max(1, math.ceil(spec.epochs * steps_per_epoch))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, total // 10)))
    log = TrainLog()
    best: tuple[float, dict[str, Any]] | None = None
    rising = 0
    t0 = time.perf_counter()
    step = 0
    model.train()
    while step < total:
        for b in batches(enc_train, spec.max_tokens_per_step, rng, bucket=spec.bucket_by_length):
            loss, _ = batch_loss(model, b, pad_id)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            log.tokens += sum(len(x.ids) for x in b)
            log.train.append((step, round(loss.item(), 5)))
            if progress:
                progress(step, total, loss.item())
            if step % spec.eval_every == 0 or step == total:
                model.eval()
                v = validation_loss(model, enc_val, pad_id, spec.max_tokens_per_step)
                model.train()
                if v is not None:
                    log.validation.append((step, round(v, 5)))
                    if best is None or v < best[0]:
                        best = (v, {k: t.detach().clone() for k, t in model.state_dict().items() if "lora_" in k})
                        log.best_step, rising = step, 0
                    else:
                        rising += 1
                        if rising >= spec.patience:
                            log.stopped_early = True
                            break
            if step >= total:
                break
        if log.stopped_early:
            break
    model.eval()
    if best is not None:
        model.load_state_dict(best[1], strict=False)
    else:
        log.best_step = step
    log.steps = step
    log.seconds = time.perf_counter() - t0
    return model, log
