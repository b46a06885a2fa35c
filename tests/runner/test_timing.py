"""Where a run's time goes: each system's start, answering and pairwise judging are timed and told to the
hooks as phases (begin, then end with the seconds), recorded with the run, and printed under the table."""

from __future__ import annotations

from ragft_eval import run
from ragft_eval.report.files import run_notes
from ragft_eval.runner import BaseHook, Phase
from ragft_eval.store import open_store

from .test_run import ECHO, suite


class Phases(BaseHook):
    def __init__(self) -> None:
        self.seen: list[Phase] = []

    def on_phase(self, event: Phase) -> None:
        self.seen.append(event)


class Old:
    """A hook written before phases existed: it has no on_phase, and the run must not need one."""

    def on_run_start(self, event) -> None: ...

    def on_case_end(self, event) -> None: ...

    def on_run_end(self, event) -> None: ...


def test_phases_are_timed_told_and_recorded(tmp_path):
    path = suite(tmp_path, [ECHO, {**ECHO, "name": "echo2"}])
    hook = Phases()
    result = run(path, hooks=[hook, Old()])
    begun = [(p.name, p.detail) for p in hook.seen if p.seconds is None]
    ended = [(p.name, p.detail) for p in hook.seen if p.seconds is not None]
    assert begun == ended == [("start", "echo"), ("start", "echo2"), ("answer", ""), ("pairwise", "")]
    assert all(p.seconds >= 0 and p.run_id == result.summary.run_id for p in hook.seen if p.seconds is not None)
    (leg,) = result.summary.timing
    assert [p["phase"] for p in leg["phases"]] == ["start", "start", "answer", "pairwise"]
    answer = next(p["seconds"] for p in leg["phases"] if p["phase"] == "answer")
    assert 0 < answer <= leg["total_s"]
    rows = leg["systems"]
    assert set(rows) == {"echo", "echo2"} and all(r["answers"] == 12 and r["model_s"] > 0 for r in rows.values())
    notes = run_notes(result.summary)
    assert any(n.startswith("time: total ") and "answering and scoring" in n for n in notes)
    assert any(n.startswith("model time per system (") and "echo " in n and "for 12 answers" in n for n in notes)
    with open_store(tmp_path / "store.sqlite") as db:
        assert [r["run_id"] for r in db.artifacts("timing")] == [result.summary.run_id]
