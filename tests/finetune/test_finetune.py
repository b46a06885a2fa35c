"""Fine-tuning end to end on the real model (a few steps, a small subset): train, export to GGUF LoRA,
verify the export numerically against peft, serve it with llama.cpp as the finetuned, hybrid and routed
systems, and refuse to train on leaked inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.errors import LeakageError
from ragft_eval.finetune import compare_export, finetune, load_finetune_config

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory) -> Path:
    pytest.importorskip("peft", reason="needs the finetune extra (transformers, peft, gguf)")
    pytest.importorskip("llama_cpp", reason="needs the local extra (llama-cpp-python)")
    folder = tmp_path_factory.mktemp("ft")
    cfg = {
        "name": "tiny",
        "golden_set": str(ROOT / "golden_sets" / "demo"),
        "limit": 12,
        "validation_limit": 6,
        "include_corpus": False,
        "lora": {"r": 8, "alpha": 16, "init_b_scale": 0.3},
        "train": {"max_steps": 3, "eval_every": 1, "max_tokens_per_step": 512, "learning_rate": 0.0003},
        "cache_dir": str(folder / "cache"),
    }
    path = folder / "ft.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def trained(tiny_config):
    return finetune(load_finetune_config(tiny_config), progress=False, keep_model=True)


def test_training_records_losses_and_exports_an_adapter(trained):
    assert trained.path.is_file() and trained.path.suffix == ".gguf" and not trained.cached
    r = trained.record
    assert r["steps"] == 3 and len(r["train_loss"]) == 3 and len(r["validation_loss"]) == 3
    assert r["train_examples"] == 12 and r["validation_examples"] == 6
    assert r["adapter_hash"].startswith("sha256:") and r["seconds_per_step"] > 0


def test_export_matches_peft_numerically(trained):
    """Adapted-minus-base logits at the last position: peft (dequantised weights) vs llama.cpp (Q4_K_M)."""
    from ragft_eval.llm import resolve_gguf

    for text in ("Question: How much does the Pro plan cost?\nAnswer:",
                 "Answer the question in one short sentence.\n\nQuestion: Can I export notes to PDF?\nAnswer:"):
        out = compare_export(trained.model, resolve_gguf("gemma3-270m"), trained.path, text)
        assert out["pearson_r"] >= 0.99, out
        assert out["same_top1"], out
        assert out["effect_over_noise"] >= 5, out  # the LoRA effect is well above quantisation noise


def test_second_call_is_a_cache_hit(trained, tiny_config):
    again = finetune(load_finetune_config(tiny_config), progress=False)
    assert again.cached and again.path == trained.path and again.key == trained.key


def test_refuses_to_train_on_inputs_of_an_evaluated_split(tmp_path):
    cfg = {"name": "leaky", "golden_set": str(ROOT / "golden_sets" / "demo"), "train_split": "test",
           "evaluated_splits": ["test"], "cache_dir": str(tmp_path)}
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(cfg))
    leak = r"train split shares 112 input\(s\) with an evaluated split: demo-fs-test-01 ~ demo-fs-test-01"
    with pytest.raises(LeakageError, match=leak):
        finetune(load_finetune_config(path), progress=False)


def test_finetuned_hybrid_and_routed_systems_serve_the_adapter(trained, tiny_config, tmp_path):
    suite = {
        "name": "ft-e2e",
        "golden_sets": [str(ROOT / "golden_sets" / "demo")],
        "models": {"gemma": {"model": "g", "local": {"n_threads": 2}, "max_tokens": 24},
                   "gemma-lp": {"model": "g-lp", "local": {"n_threads": 2, "logits_all": True}, "max_tokens": 24}},
        "retrievers": {"bm25": {"kind": "bm25"}},
        "systems": [
            {"name": "ft", "kind": "finetuned", "model": "gemma", "adapter": str(tiny_config)},
            {"name": "hy", "kind": "hybrid", "model": "gemma", "adapter": str(tiny_config), "retriever": "bm25"},
            {"name": "ro", "kind": "routed", "model": "gemma-lp", "adapter": str(tiny_config), "retriever": "bm25",
             "fallback_model": "gemma", "calibration_limit": 4},
        ],
        "metrics": [{"metric": "token_recall"}, {"metric": "fallback_rate"}, {"metric": "recall", "k": 3}],
        "store": str(tmp_path / "s.sqlite"), "reports_dir": str(tmp_path / "r"), "cache_dir": str(tmp_path / "c"),
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    result = run(path, sample=4, seed=3)
    assert result.error_rates == {"ft": (0, 4), "hy": (0, 4), "ro": (0, 4)}
    systems = result.manifest.systems
    assert systems["ft"]["model"]["local"]["lora_hash"] == trained.record["adapter_hash"]
    assert "threshold" in systems["ro"]["calibration"] and systems["ro"]["calibration"]["n"] == 4
    routes = {cr.response.extra["route"] for cr in result.results if cr.system == "ro"}
    assert routes <= {"finetuned", "rag"} and routes
    assert all(cr.response.retrieved for cr in result.results if cr.system == "hy")


def test_a_stopped_finetune_ends_after_its_current_step(tiny_config, tmp_path):
    """The stop flag a cancelled run sets ends training after the step in progress, and nothing is cached
    (c00306c's fine-tune thread trained on at full CPU after SIGTERM)."""
    import threading

    from ragft_eval.finetune import artifact as artifact_module

    cfg = yaml.safe_load(tiny_config.read_text())
    cfg |= {"train": {**cfg["train"], "max_steps": 50}, "cache_dir": str(tmp_path / "cache")}
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(cfg))
    stop = threading.Event()
    stop.set()
    with pytest.raises(artifact_module.Interrupted, match=r"stopped after step 1 of 50; nothing was cached"):
        finetune(load_finetune_config(path), progress=False, stop=stop)
    assert not list((tmp_path / "cache").rglob("adapter.gguf"))
