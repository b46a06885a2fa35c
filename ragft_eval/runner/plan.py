"""The plan of a run: which system answers which case.

A :class:`Plan` is built from the suite, the loaded golden sets and the :class:`Selection`, before any
model is called; resume removes what the store already holds.  An executor carries it out
(:mod:`ragft_eval.runner.executor`); scoring is the metrics' business, not the plan's.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, SuiteConfigError
from ..golden import GoldenSet
from ..records import Case
from ..registry import create
from ..systems import System
from .suite import Suite


@dataclass(frozen=True)
class Selection:
    """Which cases a run covers; recorded in the manifest and compared on resume."""

    systems: tuple[str, ...] | None = None
    split: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    limit: int | None = None
    sample: int | None = None
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    def apply(self, cases: list[Case]) -> list[Case]:
        if self.sample is not None and self.sample < len(cases):
            picked = set(random.Random(self.seed).sample(range(len(cases)), self.sample))
            cases = [c for i, c in enumerate(cases) if i in picked]
        if self.limit is not None:
            cases = cases[: self.limit]
        return cases

    def cases(self, golden_sets: Iterable[GoldenSet]) -> list[tuple[GoldenSet, Case]]:
        """The selected cases of every golden set, in file order."""
        out: list[tuple[GoldenSet, Case]] = []
        for gs in golden_sets:
            out += [(gs, c) for c in self.apply(gs.select(splits=self.split, tags=self.tags))]
        return out


@dataclass(frozen=True)
class WorkItem:
    """One (system, case) to answer."""

    system: str
    golden_set: GoldenSet
    case: Case

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.system, self.golden_set.name, self.case.id)


@dataclass(frozen=True)
class Plan:
    """Every (system, case) of the run still to answer, and the systems that answer them."""

    items: tuple[WorkItem, ...]
    systems: dict[str, System]

    def without(self, done: set[tuple[str, str, str]]) -> Plan:
        """The plan minus the (system, golden set, case id) triples already stored (resume)."""
        return Plan(items=tuple(i for i in self.items if i.key not in done), systems=self.systems)

    def counts(self) -> dict[str, int]:
        """Work items per system."""
        return dict(Counter(i.system for i in self.items))


def build_systems(suite: Suite, only: Sequence[str] | None) -> dict[str, System]:
    """The suite's systems (those named by ``--systems`` when given), constructed but not started."""
    known = [s.name for s in suite.systems]
    wanted = list(only) if only else known
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ConfigError(f"--systems: unknown system(s) {', '.join(unknown)}; the suite has {', '.join(known)}")
    systems: dict[str, System] = {}
    for i, spec in enumerate(suite.systems):
        if spec.name not in wanted:
            continue
        try:
            systems[spec.name] = create("system", spec.kind, name=spec.name, **spec.params)
        except ConfigError as exc:
            raise SuiteConfigError(f"{suite.path}: systems.{i}: {exc}") from exc
    return systems


def build_plan(systems: dict[str, System], cases: Sequence[tuple[GoldenSet, Case]]) -> Plan:
    """Every system on every selected case, system by system (so a server's prompt prefix stays warm)."""
    items = tuple(WorkItem(name, gs, case) for name in systems for gs, case in cases)
    return Plan(items=items, systems=systems)
