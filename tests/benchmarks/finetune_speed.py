"""Benchmark: LoRA fine-tuning speed on the CPU — seconds per step and per epoch for the demo config —
beside the same steps in plain peft without ragft-eval's answer-only output layer (the reference).

Run: python tests/benchmarks/finetune_speed.py [--steps 5]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from ragft_eval.finetune import add_lora, build_examples, load_base, load_finetune_config
from ragft_eval.finetune.config import load_training_golden_set
from ragft_eval.finetune.train import batch_loss, batches, encode
from ragft_eval.llm import resolve_gguf

ROOT = Path(__file__).resolve().parents[2]


def main(steps: int) -> None:
    import torch

    cfg = load_finetune_config(ROOT / "evals" / "finetune-demo.yaml")
    train, _ = build_examples(cfg, load_training_golden_set(cfg))
    t = time.perf_counter()
    model, tok = load_base(resolve_gguf(cfg.base), threads=cfg.train.threads)
    load_s = time.perf_counter() - t
    model = add_lora(model, cfg)
    enc = encode(train, tok, cfg.train.max_seq_len)
    all_batches = batches(enc, cfg.train.max_tokens_per_step, None)
    per_epoch = len(all_batches)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    pad = tok.pad_token_id or 0

    def step_ours(b):
        loss, _ = batch_loss(model, b, pad)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def step_plain(b):  # the usual way: logits for every position, labels masked with -100
        width = max(len(x.ids) for x in b)
        ids = torch.full((len(b), width), pad)
        labels = torch.full((len(b), width), -100)
        mask = torch.zeros((len(b), width), dtype=torch.long)
        for i, x in enumerate(b):
            ids[i, : len(x.ids)] = torch.tensor(x.ids)
            mask[i, : len(x.ids)] = 1
            labels[i, x.n_prompt : len(x.ids)] = torch.tensor(x.ids[x.n_prompt :])
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        opt.zero_grad()
        out.loss.backward()
        opt.step()

    model.train()
    sample = all_batches[:steps]
    tokens = sum(len(x.ids) for b in sample for x in b)
    timings = {}
    for name, fn in (("ragft-eval (answer-only lm_head)", step_ours), ("plain peft (full logits)", step_plain)):
        t = time.perf_counter()
        for b in sample:
            fn(b)
        timings[name] = (time.perf_counter() - t) / len(sample)
    print(f"model load (GGUF dequantised): {load_s:.1f} s; {len(train)} examples, {per_epoch} steps/epoch of "
          f"<= {cfg.train.max_tokens_per_step} tokens; {steps} steps timed ({tokens} tokens)")
    print(f"{'':34} {'s/step':>7} {'s/epoch':>8}")
    for name, s in timings.items():
        print(f"{name:34} {s:7.2f} {s * per_epoch:8.0f}")
    print(f"epochs in the demo config: {cfg.train.epochs} -> about {math.ceil(cfg.train.epochs * per_epoch)} steps")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    main(ap.parse_args().steps)
