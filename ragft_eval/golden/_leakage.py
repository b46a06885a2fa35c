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
        key = input_key(case)
        if case.split == train:
            by_key.setdefault(key, []).append(case.id)
        if case.split in evaluated:  # a train split that is also evaluated leaks every one of its inputs
            others.append((key, case.id))
    return [(t, e) for key, e in others for t in by_key.get(key, ())]
