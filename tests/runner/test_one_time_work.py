"""What the harness does once for a run (index builds with their embeddings, fine-tunes) is recorded with
the run, timed and priced at the machine's rate; work found in the cache is marked reused, and this run
pays nothing for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.finetune.artifact import Artifact, work_of
from ragft_eval.report.files import one_time_notes

from ..judges.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
RATE = 0.067  # $/h of this machine, as the demo declares it


def _suite(tmp: Path, base_url: str) -> Path:
    cfg = {"name": "one-time", "golden_sets": [str(ROOT / "golden_sets" / "example")],
           "models": {"m": {"model": "gpt-4o-mini", "base_url": base_url, "max_tokens": 8},
                      # never started (no system uses it): it only says what this machine's hour costs
                      "local": {"model": "g", "local": {"gguf": "gemma3-270m"}, "price": {"usd_per_hour": RATE}}},
           "retrievers": {"bm25": {"kind": "bm25"}, "dense": {"kind": "dense", "model": "all-MiniLM-L6-v2"}},
           "systems": [{"name": "a", "kind": "rag", "model": "m", "retriever": "bm25"},
                       {"name": "b", "kind": "rag", "model": "m", "retriever": "dense"}],
           "metrics": [{"metric": "token_recall"}], "store": str(tmp / "store.sqlite"),
           "reports_dir": str(tmp / "reports"), "cache_dir": str(tmp / "cache")}  # fmt: skip
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_index_builds_are_recorded_with_their_time_and_cost_and_reuse(tmp_path):
    with FaultServer(replies=["ok"], models=["gpt-4o-mini"]) as server:
        suite = _suite(tmp_path, server.base_url)
        first = run(suite).summary
        second = run(suite).summary
    by_name = {w["name"]: w for w in first.one_time}
    assert set(by_name) == {"bm25/example", "dense/example"}
    for w in first.one_time:
        assert w["kind"] == "index" and not w["reused"] and w["seconds"] > 0
        assert w["usd"] == pytest.approx(RATE * w["seconds"] / 3600)
    assert by_name["dense/example"]["detail"]["documents"] > 0
    # the second run found the embeddings in the cache
    assert {w["name"]: w["reused"] for w in second.one_time} == {"bm25/example": False, "dense/example": True}
    (note,) = one_time_notes(first)
    paid = sum(w["usd"] for w in first.one_time)
    assert note.startswith(f"one-time work (paid by this run: ${paid:.4f})") and "index dense/example done now" in note
    assert "reused (an earlier run's work)" in one_time_notes(second)[0]


def test_a_fine_tune_is_timed_from_its_record_and_reused_when_cached(tmp_path):
    record = {"name": "ft-demo", "seconds": 400.0, "load_seconds": 35.0, "steps": 46, "train_examples": 80}
    fresh = work_of(Artifact("sha256:k", tmp_path / "adapter.gguf", record, cached=False))
    assert (fresh.kind, fresh.name, fresh.seconds, fresh.reused) == ("finetune", "ft-demo", 435.0, False)
    assert fresh.priced(RATE).usd == pytest.approx(RATE * 435 / 3600)
    assert fresh.priced(None).usd is None  # not priced: no cost, never a cost of 0
    assert work_of(Artifact("sha256:k", tmp_path / "adapter.gguf", record, cached=True)).reused
    unknown = work_of(Artifact("sha256:k", tmp_path / "a.gguf", {"name": "x"}, cached=True))
    assert unknown.seconds is None and unknown.priced(RATE).usd is None


def test_the_parts_of_a_start_are_timed_and_printed(tmp_path):
    """A system's start is profiled by part (its server or endpoint, each index) and the run's time line
    says how long each part took, with the slowest named."""
    from ragft_eval.report.files import timing_notes
    from ragft_eval.runner import BaseHook

    class Parts(BaseHook):
        def __init__(self) -> None:
            self.ended: list[tuple[str, str]] = []

        def on_phase(self, event) -> None:
            if event.seconds is not None:
                self.ended.append((event.name, event.detail))

    hook = Parts()
    with FaultServer(replies=["ok"], models=["gpt-4o-mini"]) as server:
        summary = run(_suite(tmp_path, server.base_url), hooks=[hook]).summary
    assert hook.ended[:3] == [("server", "m"), ("index", "bm25 on example"), ("start", "a")]
    assert ("index", "dense on example") in hook.ended
    (leg,) = summary.timing
    took = {(p["phase"], p["detail"]): p["seconds"] for p in leg["phases"]}
    assert 0 < took["index", "dense on example"] <= took["start", "b"]
    (line,) = [n for n in timing_notes(summary) if n.startswith("time:")]
    assert "of which server " in line and "index " in line and "dense on example" in line
