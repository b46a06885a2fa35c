"""The fine-tune artifact: train (or find in the cache) the adapter a config describes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import TrainingStopped as Interrupted  # the fine-tune's name for it
from ..hashing import file_hash
from ..records import OneTimeWork
from .config import (
    FinetuneConfig,
    artifact_key,
    build_examples,
    load_finetune_config,
    load_training_golden_set,
)
from .export import export_gguf_lora
from .train import add_lora, load_base, train_lora


@dataclass(frozen=True)
class Artifact:
    """A trained adapter on disk and what is known about it (``model``: the peft model, when kept)."""

    key: str
    path: Path
    record: dict[str, Any]
    cached: bool
    model: Any = field(default=None, repr=False, compare=False)


def _base_gguf(cfg: FinetuneConfig) -> Path:
    from ..llm.server import cached_file_hash, resolve_gguf

    path = resolve_gguf(cfg.base, base_dir=cfg.base_dir)
    cached_file_hash(path)
    return path


def finetune(
    cfg: FinetuneConfig,
    *,
    progress: bool = True,
    force: bool = False,
    keep_model: bool = False,
    stop: threading.Event | None = None,
) -> Artifact:
    """Train the adapter ``cfg`` describes, or return the cached one with the same key.

    ``stop``, when set (by a run that was interrupted), ends training after the current step with
    :class:`Interrupted`: training in a worker thread would otherwise carry on at full CPU after the
    harness was told to stop (the interpreter waits for the thread before it exits).
    """
    from ..llm.server import cached_file_hash

    gs = load_training_golden_set(cfg)
    train, validation = build_examples(cfg, gs)
    gguf = _base_gguf(cfg)
    key = artifact_key(cfg, cached_file_hash(gguf), train, validation)
    folder = cfg.resolve(cfg.cache_dir) / "adapters" / f"{cfg.name}-{key[7:23]}"
    adapter, record_path = folder / "adapter.gguf", folder / "record.json"
    if adapter.is_file() and record_path.is_file() and not force:
        return Artifact(key, adapter, json.loads(record_path.read_text()), cached=True)
    with _training_lock(folder, cfg.name, stop):
        # another process may have trained it while this one waited for the lock
        if adapter.is_file() and record_path.is_file() and not force:
            return Artifact(key, adapter, json.loads(record_path.read_text()), cached=True)
        return _train(cfg, gs, train, validation, gguf, key, adapter, record_path, progress=progress, stop=stop,
                      keep_model=keep_model)  # fmt: skip


@contextlib.contextmanager
def _training_lock(folder: Path, name: str, stop: threading.Event | None) -> Iterator[None]:
    """Hold the artifact folder's lock while training: two runs sharing a cache (two CI jobs, a run and a
    ``ragft-eval finetune``) train an adapter once, the second waiting for the first's result.  Polled, so
    that a stopped run stops waiting."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop is not None and stop.is_set():
                    raise Interrupted(f"fine-tune {name}: stopped waiting for another process's training") from None
                if not said:
                    print(f"fine-tune {name}: another process is training this adapter; waiting for it",
                          file=sys.stderr, flush=True)  # fmt: skip
                    said = True
                time.sleep(1.0)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _train(cfg: FinetuneConfig, gs: Any, train: list, validation: list, gguf: Path, key: str, adapter: Path,
           record_path: Path, *, progress: bool, stop: threading.Event | None,
           keep_model: bool) -> Artifact:  # fmt: skip
    from ..llm.server import cached_file_hash

    t0 = time.perf_counter()
    model, tokenizer = load_base(gguf, threads=cfg.train.threads)
    load_s = time.perf_counter() - t0
    model = add_lora(model, cfg)
    bar = Progress(
        TextColumn(f"[bold]fine-tune {cfg.name}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TextColumn("left at most"),
        TimeRemainingColumn(), disable=not progress,
    )  # fmt: skip
    with bar:
        task = bar.add_task("train", total=None, loss="-")

        started = time.perf_counter()

        def on_step(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=f"{loss:.3f}")
            if progress and not bar.console.is_terminal and (step % 10 == 0 or step == total):
                # a log (CI, a redirected run) gets a line every 10 steps instead of a live bar
                per = (time.perf_counter() - started) / step
                print(f"fine-tune {cfg.name}: step {step}/{total}, loss {loss:.3f}, {per:.1f} s/step, "
                      f"about {per * (total - step) / 60:.0f} min left at most", file=sys.stderr, flush=True)
            if stop is not None and stop.is_set():
                raise Interrupted(f"fine-tune {cfg.name}: stopped after step {step} of {total}; nothing was cached")

        model, log = train_lora(cfg, model, tokenizer, train, validation, progress=on_step)
    log.load_seconds = load_s
    export_gguf_lora(model, adapter, alpha=cfg.lora.alpha)
    record = {
        "key": key,
        "name": cfg.name,
        "base": str(gguf),
        "base_hash": cached_file_hash(gguf),
        "golden_set": gs.name,
        "golden_set_hash": gs.content_hash,
        "train_examples": len(train),
        "validation_examples": len(validation),
        "config": cfg.model_dump(mode="json"),
        "adapter_hash": file_hash(str(adapter)),
        **log.as_dict(),
    }
    record_path.write_text(json.dumps(record, indent=1))
    return Artifact(key, adapter, record, cached=False, model=model if keep_model else None)


async def ensure_artifact(config_path: Path) -> Artifact:
    """The adapter for a fine-tune config, training it first when the cache has none (in a worker
    thread, stopped after its current step when the run is cancelled)."""
    cfg = load_finetune_config(config_path)
    stop = threading.Event()
    try:
        return await asyncio.to_thread(finetune, cfg, progress=True, stop=stop)
    except asyncio.CancelledError:
        stop.set()
        raise


async def ensure_adapter(config_path: Path) -> Path:
    """The adapter file for a fine-tune config (:func:`ensure_artifact`)."""
    return (await ensure_artifact(config_path)).path


def work_of(artifact: Artifact) -> OneTimeWork:
    """The fine-tune as one-time work of a run: its training (and model load and export) time, or the
    time an earlier run took when the cache had it."""
    rec = artifact.record
    seconds = (rec.get("seconds") or 0.0) + (rec.get("load_seconds") or 0.0) if "seconds" in rec else None
    return OneTimeWork(kind="finetune", name=str(rec.get("name", artifact.path.parent.name)), seconds=seconds,
                       reused=artifact.cached, detail={"key": artifact.key, "steps": rec.get("steps"),
                                                       "train_examples": rec.get("train_examples")})  # fmt: skip
