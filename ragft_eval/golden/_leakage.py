"""Leakage between the train split and the evaluated splits (one function, used by validation and finetune)."""

from __future__ import annotations

from collections.abc import Iterable

from ..records import Case, Message
from ._normalize import normalize_input


def input_key(case: Case) -> str:
    """The normalised text of a case's whole input (every message for chat inputs)."""
    if isinstance(case.input, str):
        return normalize_input(case.input)
    return normalize_input("\n".join(m.content for m in case.input if isinstance(m, Message)))


def find_leaks(
    cases: Iterable[Case], *, train: str = "train", evaluated: Iterable[str] = ("dev", "test")
) -> list[tuple[str, str]]:
    """Pairs ``(train_case_id, evaluated_case_id)`` whose inputs are equal after :func:`normalize_input`."""
    evaluated = set(evaluated)
    by_key: dict[str, list[str]] = {}
    others: list[tuple[str, str]] = []
    for case in cases:
        if case.split == train:
            by_key.setdefault(input_key(case), []).append(case.id)
        elif case.split in evaluated:
            others.append((input_key(case), case.id))
    return [(t, e) for key, e in others for t in by_key.get(key, ())]
