"""LoRA fine-tuning on CPU with transformers + peft, export to llama.cpp's GGUF LoRA format, artifact cache.

``finetune(cfg)`` trains (or finds in the cache) the adapter a config describes; the ``finetuned`` and
``hybrid`` systems call :func:`ensure_adapter` with the config's path, so a suite's first run trains it.
The cache key is the base model's file hash, the training and validation data and the hyper-parameters;
the artifact folder holds ``adapter.gguf`` and ``record.json`` (losses per step, timings, key).
"""

from .artifact import Artifact, ensure_adapter, finetune
from .config import Example, FinetuneConfig, build_examples, load_finetune_config
from .export import compare_export, export_gguf_lora
from .train import TrainLog, add_lora, load_base, train_lora

__all__ = [
    "Artifact",
    "Example",
    "FinetuneConfig",
    "TrainLog",
    "add_lora",
    "build_examples",
    "compare_export",
    "ensure_adapter",
    "export_gguf_lora",
    "finetune",
    "load_base",
    "load_finetune_config",
    "train_lora",
]
