"""Export a peft LoRA adapter to llama.cpp's GGUF LoRA format, and check the export numerically.

Format (as llama.cpp's convert_lora_to_gguf.py writes it): ``general.architecture`` = the base
architecture, ``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha`` (float32), and
per layer ``blk.{i}.{attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down}.weight.lora_a`` = peft's
``lora_A`` as is (numpy shape (r, in)) and ``...lora_b`` = ``lora_B`` ((out, r)).  llama.cpp scales by
alpha / r, as peft does without rsLoRA.  Gemma 3 has no q/k permutation, so nothing is transposed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_KEY = re.compile(r"(?:^|\.)layers\.(\d+)\.(self_attn\.\w+|mlp\.\w+)\.lora_([AB])(?:\.default)?\.weight$")


def export_gguf_lora(model: Any, path: Path, *, alpha: float, arch: str = "gemma3") -> Path:
    """Write the LoRA weights of a peft model to ``path`` as a GGUF adapter llama.cpp loads."""
    import gguf
    import torch
    from peft import get_peft_model_state_dict

    state = get_peft_model_state_dict(model)
    tensors: dict[str, np.ndarray] = {}
    for key, value in sorted(state.items()):
        m = _KEY.search(key)
        if m is None:
            raise ValueError(f"unexpected LoRA tensor {key!r}: only {sorted(GGUF_NAMES)} are exported")
        layer, module, ab = m.groups()
        if module not in GGUF_NAMES:
            raise ValueError(f"LoRA on {module!r} cannot be exported; use target_modules among {sorted(GGUF_NAMES)}")
        tensors[f"blk.{layer}.{GGUF_NAMES[module]}.weight.lora_{ab.lower()}"] = (
            value.detach().to(torch.float32).contiguous().numpy()
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)  # atomic: a killed export never leaves a half-written adapter in the cache
    return path


def llama_last_logits(gguf: Path, tokens: list[int], *, lora: Path | None = None, threads: int = 2) -> np.ndarray:
    """llama.cpp's logits at the last position for ``tokens`` (with the LoRA applied when given)."""
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(gguf), lora_path=str(lora) if lora else None, n_ctx=max(512, len(tokens) + 8),
        n_threads=threads, logits_all=False, verbose=False,
    )  # fmt: skip
    try:
        llm.reset()
        llm.eval(tokens)
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float64).copy()
    finally:
        llm.close()


def llama_tokens(gguf: Path, text: str) -> list[int]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    try:
        return llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    finally:
        llm.close()


def peft_last_logits(model: Any, tokens: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """peft's logits at the last position: ``(with the adapter, with it disabled)``."""
    import torch

    ids = torch.tensor([tokens])
    with torch.no_grad():
        adapted = model(input_ids=ids).logits[0, -1].double().numpy()
        with model.disable_adapter():
            base = model(input_ids=ids).logits[0, -1].double().numpy()
    return adapted, base


def compare_export(model: Any, gguf: Path, adapter: Path, text: str) -> dict[str, float | bool]:
    """Adapted-minus-base logits at the last position in peft and in llama.cpp: Pearson r, top-1 agreement,
    and the size of the LoRA effect against the base model's quantisation noise (peft base vs llama.cpp base)."""
    tokens = llama_tokens(gguf, text)
    peft_adapted, peft_base = peft_last_logits(model, tokens)
    cpp_base = llama_last_logits(gguf, tokens)
    cpp_adapted = llama_last_logits(gguf, tokens, lora=adapter)
    d_peft, d_cpp = peft_adapted - peft_base, cpp_adapted - cpp_base
    r = float(np.corrcoef(d_peft, d_cpp)[0, 1])
    noise = float(np.std(cpp_base - peft_base))
    effect = float(np.std(d_peft))
    return {
        "pearson_r": r,
        "same_top1": bool(np.argmax(peft_adapted) == np.argmax(cpp_adapted)),
        "top1_peft": int(np.argmax(peft_adapted)),
        "top1_llama_cpp": int(np.argmax(cpp_adapted)),
        "lora_effect_std": effect,
        "quantisation_noise_std": noise,
        "effect_over_noise": effect / noise if noise > 0 else float("inf"),
        "n_tokens": len(tokens),
    }
