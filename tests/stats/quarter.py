"""A quarter of weekly history in seconds: 12 runs of one suite into one SQLite store, with changes at
known weeks.

Two systems answer a generated golden set of 240 factual cases (exact match):

- ``stable``: a ``replay`` system on one unchanging JSONL (70% right): its series is flat;
- ``hosted``: a hosted model replayed (:class:`HostedReplay`, a ``python`` system): its recorded config is
  its ``model``, ``template`` and ``max_tokens`` (in the manifest, as a generative system's would be),
  and its answers come from the week's JSONL, named by an ``{env: ...}`` param, which the manifest keeps
  as the reference, never the value: what a hosted endpoint serves can change under the same name.
  (``replay`` records its file's hash, so a replay system cannot change without its manifest changing.)

Week by week (``WEEKS``): w2 the template changes and the answers get better (a prompt change that
helps), w4 the golden set goes to version 2 (20 cases changed, 20 added), w6 the model is swapped and
the answers get worse, w8 ``max_tokens`` changes and nothing else (a recorded no-op), w10 the answers get
worse with nothing recorded (an unrecorded shift).  Each week also flips a few answers at random (3%), as
a drifting endpoint does, so steps without a change are not exactly zero.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from ragft_eval.evaluate import run
from ragft_eval.golden import write_golden_set
from ragft_eval.records import Case

N = 240
ADDED = 20  # cases golden set v2 adds
CHANGED = range(0, 200, 10)  # the cases v2 changes (20: a new expected answer)
START = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)  # a Monday; 12 weekly runs
ENV = "RAGFT_QUARTER_ANSWERS"


@dataclass(frozen=True)
class Week:
    template: str
    model: str
    max_tokens: int
    skill: float  # share of the cases the hosted model gets right
    golden: int


WEEKS = (
    Week("v1", "gpt-x-2026-05", 256, 0.55, 1),
    Week("v1", "gpt-x-2026-05", 256, 0.55, 1),
    Week("v2", "gpt-x-2026-05", 256, 0.75, 1),  # 2: prompt change that helps
    Week("v2", "gpt-x-2026-05", 256, 0.75, 1),
    Week("v2", "gpt-x-2026-05", 256, 0.75, 2),  # 4: golden set version bump
    Week("v2", "gpt-x-2026-05", 256, 0.75, 2),
    Week("v2", "gpt-y-mini", 256, 0.55, 2),  # 6: model swap that hurts
    Week("v2", "gpt-y-mini", 256, 0.55, 2),
    Week("v2", "gpt-y-mini", 512, 0.55, 2),  # 8: recorded change that does nothing
    Week("v2", "gpt-y-mini", 512, 0.55, 2),
    Week("v2", "gpt-y-mini", 512, 0.38, 2),  # 10: unrecorded shift (same manifest, worse answers)
    Week("v2", "gpt-y-mini", 512, 0.38, 2),
)
HELPS, BUMP, HURTS, NOOP, SHIFT = 2, 4, 6, 8, 10


class HostedReplay:
    """A hosted model's answers replayed from a JSONL (``{"case_id", "answer", "latency_s", "cost_usd"}``
    lines); ``model``, ``template`` and ``max_tokens`` are what its config records."""

    def __init__(self, *, model: str, template: str, max_tokens: int, answers: str):
        self.answers_path = answers

    def start(self) -> None:
        lines = Path(self.answers_path).read_text(encoding="utf-8").splitlines()
        self._lines = {d["case_id"]: d for d in map(json.loads, lines)}

    def answer(self, case: Case) -> dict:
        line = self._lines[case.id]
        return {"answer": line["answer"], "latency_s": line["latency_s"], "cost_usd": line["cost_usd"]}


def expected(i: int, version: int) -> str:
    return str(i * 7 + 1) if version == 2 and i in CHANGED else str(i * 7)


def write_golden(dest: Path, version: int):
    n = N + (ADDED if version == 2 else 0)
    cases = [Case(id=f"c{i:03d}", task_type="factual", input=f"What is fact {i}?",
                  expected={"answer": expected(i, version)}) for i in range(n)]  # fmt: skip
    return write_golden_set(dest, manifest={"name": "quarter", "version": str(version)}, cases=cases)


def _answers(path: Path, week: int, w: Week, right: list[float], *, noise: float = 0.03) -> Path:
    rng = random.Random(1000 + week)
    fast = w.model == "gpt-y-mini"
    lines = []
    for i in range(N + ADDED):
        correct = right[i] < w.skill
        if rng.random() < noise:  # the endpoint's own week-to-week wobble
            correct = not correct
        lines.append({"case_id": f"c{i:03d}", "answer": expected(i, w.golden) if correct else "I am not sure",
                      "latency_s": round(rng.uniform(0.2, 0.5) if fast else rng.uniform(0.6, 1.4), 3),
                      "cost_usd": 0.0004 if fast else 0.0021})  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def _stable(path: Path) -> Path:
    rng = random.Random(7)
    lines = [{"case_id": f"c{i:03d}", "answer": expected(i, 1) if rng.random() < 0.65 else "unknown",
              "latency_s": round(rng.uniform(0.8, 1.6), 3), "cost_usd": 0.0012} for i in range(N + ADDED)]  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def _suite(root: Path, w: Week) -> Path:
    cfg = {
        "name": "quarterly",
        "description": "A quarter of weekly runs with changes at known weeks",
        "golden_sets": ["golden"],
        "systems": [
            {"name": "hosted", "kind": "python", "target": "tests.stats.quarter:HostedReplay",
             "params": {"model": w.model, "template": w.template, "max_tokens": w.max_tokens,
                        "answers": {"env": ENV}}},
            {"name": "stable", "kind": "replay", "path": "stable.jsonl"},
        ],
        "metrics": [{"metric": "exact_match"}, {"metric": "latency"}, {"metric": "cost"}],
        "gates": [{"name": "hosted-em", "kind": "threshold", "metric": "exact_match", "system": "hosted", "min": 0.5}],
        "max_error_rate": 0.1,
        "decide": {"primary": {"metric": "exact_match"}, "p95_latency_s": 3.0},
        "bootstrap": {"resamples": 300, "seed": 0},
        "store": "store.sqlite",
        "reports_dir": "reports",
    }  # fmt: skip
    path = root / "quarterly.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Quarter:
    root: Path
    store: Path
    run_ids: tuple[str, ...]
    dates: tuple[datetime, ...]


def build_quarter(root: Path, weeks: tuple[Week, ...] = WEEKS) -> Quarter:
    """Run the 12 weeks into ``root/store.sqlite`` (each run stamped with its week's date)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    right = [rng.random() for _ in range(N + ADDED)]  # how hard each case is for the hosted model
    _stable(root / "stable.jsonl")
    ids, dates = [], []
    old = os.environ.get(ENV)
    try:
        for k, w in enumerate(weeks):
            write_golden(root / "golden", w.golden)
            os.environ[ENV] = str(_answers(root / f"hosted-w{k:02d}.jsonl", k, w, right))
            when = START + timedelta(weeks=k)
            result = run(_suite(root, w), now=lambda when=when: when)
            ids.append(result.run_id)
            dates.append(when)
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old
    return Quarter(root=root, store=root / "store.sqlite", run_ids=tuple(ids), dates=tuple(dates))
