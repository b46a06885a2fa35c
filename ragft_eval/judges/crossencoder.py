"""The cross-encoder under the learned judges: a BERT-style encoder reading ``[CLS] context [SEP]
answer [SEP]``, its token states mean-pooled into one logit, P(supported) = sigmoid(logit).  Long
contexts are split into windows of ``tokens`` tokens every ``stride`` tokens; the answer is judged
against each and the best-supporting window decides (max over windows).

torch and transformers are imported on first use, so importing the judges package stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_POSITIONS = 512  # BERT-style encoders: the answer and a window together fit in this
_WORD = re.compile(r"\w+")


HEAD_FILE = "head.safetensors"


def _classifier(encoder: Any, head: Any = None) -> Any:
    """The encoder with a one-logit head on the *mean* of its token states.

    Mean pooling, not BERT's [CLS] pooler: a sentence-transformers encoder was trained to mean-pool, and
    its [CLS] state barely varies between inputs, so a [CLS] head starts (and stays, for a few hundred
    steps) near a constant; the mean-pooled state separates pairs from the first step.
    """
    import torch

    class MeanPoolClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(0.1)
            self.head = head if head is not None else torch.nn.Linear(encoder.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state  # fmt: skip
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(self.dropout(pooled)).squeeze(-1)

    return MeanPoolClassifier()


@dataclass
class CrossEncoder:
    """A loaded tokenizer and encoder with its one-logit head, on CPU."""

    tokenizer: Any
    model: Any
    folder: Path
    _tokens: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, folder: Path) -> CrossEncoder:
        """From a local folder, never a hub; a folder without a trained head (the base encoder) gets a new one."""
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        encoder = AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32,
                                            add_pooling_layer=False)  # fmt: skip
        head = None
        if (Path(folder) / HEAD_FILE).is_file():
            from safetensors.torch import load_file

            weights = load_file(str(Path(folder) / HEAD_FILE))
            head = torch.nn.Linear(weights["weight"].shape[1], 1)
            head.load_state_dict(weights)
        model = _classifier(encoder, head)
        model.eval()
        return cls(tokenizer, model, Path(folder))

    def windows(self, context: str, *, tokens: int, stride: int) -> list[str]:
        """``context`` cut into windows of ``tokens`` tokens starting every ``stride`` tokens (one when short)."""
        enc = self.tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) <= tokens:
            return [context]
        out = []
        start = 0
        while True:
            end = min(start + tokens, len(offsets))
            out.append(context[offsets[start][0] : offsets[end - 1][1]])
            if end == len(offsets):
                return out
            start += stride

    def best_window(self, context: str, answer: str, *, tokens: int, stride: int) -> str:
        """The window sharing most words with ``answer``: what a training pair is read against."""
        wins = self.windows(context, tokens=tokens, stride=stride)
        if len(wins) == 1:
            return wins[0]
        words = set(_WORD.findall(answer.lower()))
        return max(wins, key=lambda w: len(words & set(_WORD.findall(w.lower()))))

    def encode(self, contexts: Sequence[str], answers: Sequence[str], *, max_length: int) -> Any:
        """A padded batch; the context is cut first when a pair is too long, then the answer."""
        return self.tokenizer(list(contexts), list(answers), truncation="longest_first",
                              max_length=min(max_length, MAX_POSITIONS), padding=True, return_tensors="pt")  # fmt: skip

    def logits(self, contexts: Sequence[str], answers: Sequence[str], *, max_length: int) -> Any:
        return self.model(**self.encode(contexts, answers, max_length=max_length))

    def probabilities(
        self, contexts: Sequence[str], answers: Sequence[str], *, max_length: int, batch_size: int = 16
    ) -> list[float]:
        """P(supported) of each (context, answer), in batches, without gradients."""
        import torch

        self.model.eval()
        out: list[float] = []
        with torch.inference_mode():
            for i in range(0, len(contexts), batch_size):
                logits = self.logits(contexts[i : i + batch_size], answers[i : i + batch_size], max_length=max_length)
                out.extend(torch.sigmoid(logits.float()).tolist())
        return out

    def supported(self, context: str, answer: str, *, tokens: int, stride: int, batch_size: int = 16
                  ) -> tuple[float, list[float]]:  # fmt: skip
        """Max over the windows of P(supported), and each window's probability."""
        wins = self.windows(context, tokens=tokens, stride=stride)
        probs = self.probabilities(wins, [answer] * len(wins), max_length=MAX_POSITIONS, batch_size=batch_size)
        return max(probs), probs

    def save(self, folder: Path) -> None:
        """Encoder weights in fp16 (half the bytes; read back in fp32), the head, and the tokenizer."""
        import copy

        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        copy.deepcopy(self.model.encoder).half().save_pretrained(str(folder), safe_serialization=True)
        save_file({k: v.contiguous() for k, v in self.model.head.state_dict().items()}, str(folder / HEAD_FILE))
        self.tokenizer.save_pretrained(str(folder))
