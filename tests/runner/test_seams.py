"""The seams of the redesign, and a regression test for each defect the review of c00306c found."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.cli import main
from ragft_eval.errors import ConfigError
from ragft_eval.exit_codes import ExitCode
from ragft_eval.llm import ModelClient, ModelSpec, queueing
from ragft_eval.llm.spec import LocalServerSpec
from ragft_eval.records import Case, Expected, Response, Usage
from ragft_eval.runner import BaseHook, CaseEnd, LocalExecutor, Plan, RunEnd, RunStart, answer_case
from ragft_eval.stats.aggregate import BALANCED
from ragft_eval.store import SQLiteStore, Store, open_store

from .test_run import ECHO, FLAKY, suite

ROOT = Path(__file__).resolve().parents[2]
OLD = ROOT / "tests" / "fixtures" / "main_v1_store"


def _example(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "evals" / "example.yaml").read_text())
    cfg |= {"golden_sets": [str(ROOT / "golden_sets" / "example")], "store": str(tmp_path / "s.sqlite"),
            "reports_dir": str(tmp_path / "reports"), "cache_dir": str(tmp_path / "cache")}  # fmt: skip
    for s in cfg["systems"]:
        s["path"] = str(ROOT / "evals" / s["path"])
    path = tmp_path / "example.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_the_example_suite_gives_the_numbers_it_gave_before_the_redesign(tmp_path):
    result = run(_example(tmp_path))
    table = (result.report_dir / "table.csv").read_text().splitlines(keepends=True)
    # the rows the redesign's table had, unchanged; today's table adds the derived abstention_balanced rows
    assert "".join(line for line in table if BALANCED not in line) == (OLD / "example_report" / "table.csv").read_text()
    assert any(BALANCED in line for line in table)


def test_report_rebuilds_exactly_what_the_run_wrote(tmp_path, capsys):
    """``ragft-eval report RUN --out`` writes the run's files byte for byte (c00306c's left out the judge flag
    and the error-rate note)."""
    path = _example(tmp_path)
    path.write_text(path.read_text().replace("max_error_rate: 0.25", "max_error_rate: 0.05"))
    result = run(path)
    out = tmp_path / "again"
    assert main(["report", result.run_id, "--store", f"sqlite:///{tmp_path / 's.sqlite'}", "--out", str(out)]) == 0
    for name in ("results.jsonl", "table.csv", "table.md", "report.html", "comparisons.csv"):
        assert (out / name).read_bytes() == (result.report_dir / name).read_bytes(), name
    assert "error rate above max_error_rate=5% for: baseline" in (out / "table.md").read_text()
    printed = capsys.readouterr().out
    assert result.run_id in printed


def test_report_of_a_judged_run_keeps_the_judge_flag(tmp_path):
    store = tmp_path / "judged.sqlite"
    shutil.copy(OLD / "judged.sqlite", store)
    with SQLiteStore(store) as db:  # make the newest calibration unreliable: the judge is flagged
        rec = db.artifacts("calibration")[0]
        db.put_artifact("newest", "calibration", {**{k: v for k, v in rec.items() if k not in ("key", "created_at")},
                                                  "seed": 7, "created_at": "2026-12-01T00:00:00+00:00"})  # fmt: skip
    out = tmp_path / "r"
    assert main(["report", "20261201-091231-094e74", "--store", str(store), "--out", str(out)]) == 0
    md = (out / "table.md").read_text()
    assert "| judge_grade ⚠ unreliable judge |" in md
    assert "error rate above max_error_rate=5% for: baseline" in md


def test_the_cli_prints_user_text_in_error_messages_verbatim(tmp_path, capsys):
    """An error message that echoes user data with rich markup in it ("[/docs]", "[bold]") is printed as
    text: c00306c's error printer raised inside its own handler on "[/docs]" and ate "[bold]"."""
    store = tmp_path / "s.sqlite"
    SQLiteStore(store).close()
    code = main(["report", "[/docs] and [bold]x[/bold]", "--store", str(store)])
    assert code == ExitCode.INPUT
    assert "no run '[/docs] and [bold]x[/bold]'" in capsys.readouterr().err


def test_the_readme_lists_every_exit_code():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Exit codes") :]
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| `{code.name}` \|", table, re.M), code


def test_stores_open_from_a_url_or_a_path(tmp_path):
    for url in (f"sqlite:///{tmp_path / 'a.sqlite'}", tmp_path / "b.sqlite", str(tmp_path / "c.sqlite")):
        with open_store(url) as db:
            assert isinstance(db, Store) and db.schema_version == 1
    with pytest.raises(ConfigError, match="unsupported store URL scheme 'mysql'"):
        open_store("mysql://db/x")
    with pytest.raises(ConfigError, match="three slashes"):
        open_store("sqlite://x.sqlite")


def test_hooks_follow_a_run_through_frozen_events(tmp_path):
    class Recorder(BaseHook):
        def __init__(self):
            self.events = []

        def on_run_start(self, event):
            self.events.append(event)

        def on_case_end(self, event):
            self.events.append(event)

        def on_run_end(self, event):
            self.events.append(event)

    rec = Recorder()
    result = run(suite(tmp_path, [ECHO, FLAKY]), hooks=[rec])
    start, *cases, end = rec.events
    assert isinstance(start, RunStart) and start.planned == {"echo": 12, "flaky": 12}
    assert all(isinstance(e, CaseEnd) for e in cases) and len(cases) == 24
    assert sum(e.failed for e in cases) == sum(cr.response.failed for cr in result.results) == 6
    assert isinstance(end, RunEnd) and end.status == "finished" and end.run_id == result.run_id
    with pytest.raises(AttributeError):
        start.run_id = "x"  # frozen


def test_an_executor_is_a_seam_the_run_goes_through(tmp_path):
    """A different executor (one case at a time, in reverse order) gives the same results."""

    class Reversed(LocalExecutor):
        async def execute(self, plan: Plan, finish, *, timeout_s):
            self.seen = len(plan.items)
            for item in reversed(plan.items):
                await finish(item, await answer_case(plan.systems[item.system], item.case, timeout_s))

    ex = Reversed(concurrency=1)
    a = run(suite(tmp_path / "a", [ECHO, FLAKY]))
    b = run(suite(tmp_path / "b", [ECHO, FLAKY]), executor=ex)
    assert ex.seen == 24
    strip = [(c.system, c.task_type, c.metric, c.n_scored, c.n_error) for c in a.cells if c.metric != "latency"]
    assert strip == [(c.system, c.task_type, c.metric, c.n_scored, c.n_error) for c in b.cells if c.metric != "latency"]


class _Waits:
    """A system that first waits ``queued`` s for a model's turn (on the queue clock), then works ``work`` s."""

    def __init__(self, queued: float, work: float):
        self.name, self.records, self.max_concurrency = "w", None, None
        self.queued, self.work = queued, work

    async def answer(self, case: Case) -> Response:
        with queueing.waiting():
            await asyncio.sleep(self.queued)
        await asyncio.sleep(self.work)
        return Response(case_id=case.id, system=self.name, answer="ok")


def test_the_timeout_excludes_time_waiting_for_a_models_turn():
    case = Case(id="c", task_type="t", input="q")
    ok = asyncio.run(answer_case(_Waits(queued=0.6, work=0.05), case, timeout_s=0.3))
    assert not ok.failed, "0.6 s queued behind other systems is not the system's time"
    slow = asyncio.run(answer_case(_Waits(queued=0.0, work=0.6), case, timeout_s=0.3))
    assert slow.failed and slow.error.stage == "timeout"


def test_a_local_models_turn_is_on_the_queue_clock():
    """The wait for a local server's turn (another case holding it) goes on the waiting case's clock."""
    client = ModelClient("m", ModelSpec(model="m", local=LocalServerSpec()), base_dir=ROOT)

    async def go() -> float:
        async def hold():
            async with client.turn():
                await asyncio.sleep(0.3)

        holder = asyncio.ensure_future(hold())
        await asyncio.sleep(0.01)
        clock = queueing.QueueClock()
        token = queueing.CURRENT.set(clock)
        try:
            async with client.turn():
                pass
        finally:
            queueing.CURRENT.reset(token)
        await holder
        return clock.waited()

    assert asyncio.run(go()) >= 0.25


def test_a_replay_without_latency_is_unscored_not_the_harness_wall_time(tmp_path):
    replay = tmp_path / "r.jsonl"
    replay.write_text("\n".join(json.dumps({"case_id": f"c{i:02d}", "answer": "x"}) for i in range(12)) + "\n")
    result = run(suite(tmp_path, [{"name": "r", "kind": "replay", "path": str(replay)}]))
    lat = [m for cr in result.results for m in cr.results if m.metric == "latency"]
    assert lat and all(m.status == "unscored" and m.reason == "the system reports no latency" for m in lat)


def test_a_failed_replay_case_is_unscored_on_what_the_file_never_records(tmp_path):
    lines = [{"case_id": f"c{i:02d}", "answer": "x"} for i in range(1, 12)]
    lines[0] = {"case_id": "c01", "error": {"type": "Boom", "message": "down"}}
    replay = tmp_path / "r.jsonl"
    replay.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = run(suite(tmp_path, [{"name": "r", "kind": "replay", "path": str(replay)}]))
    c01 = {m.metric: m for cr in result.results if cr.case_id == "c01" for m in cr.results}
    assert c01["recall@3"].status == "unscored" and c01["recall@3"].reason == "the system records no retrieval"
    assert c01["exact_match"].status == "error"  # what the system does answer is its to fail
    c00 = {m.metric: m for cr in result.results if cr.case_id == "c00" for m in cr.results}
    assert c00["abstention"].status == "error" and "no replay record" in c00["abstention"].reason


def test_routed_usage_with_a_stage_that_reports_none_is_not_counted_as_zero():
    from ragft_eval.systems.routed import RoutedSystem

    class Stage:
        def __init__(self, response):
            self._r = response

        async def answer(self, case):
            return self._r

    case = Case(id="c", task_type="t", input="q", expected=Expected(answer="a"))
    first = Response(case_id="c", system="x", answer="?", usage=Usage(prompt_tokens=10, completion_tokens=2, calls=1),
                     latency_s=0.2, extra={"mean_logprob": -3.0})  # fmt: skip
    second = Response(case_id="c", system="x", answer="a", usage=Usage(calls=1), latency_s=None)
    routed = RoutedSystem(name="x", model="m", retriever="r", threshold=-1.0)
    routed.first, routed.second = Stage(first), Stage(second)
    out = asyncio.run(routed.answer(case))
    assert out.extra["route"] == "rag"
    assert out.usage == Usage(prompt_tokens=None, completion_tokens=None, calls=2)
    assert out.latency_s is None and out.cost_usd is None
