"""Judge drift on a replayed history: two weekly runs of a replay system graded by a loopback judge, then
the same judge (same endpoint, same name, so the same recorded identity) re-asked today.  A judge that
now flips its verdict on a known 20% of the answers is reported at about 20% flipped and flagged; the
unchanged judge is reported at 0% flipped and within tolerance (the control).  The first runs fill the
call cache with the original verdicts, so a check that read the cache would report 0% in both."""

from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ragft_eval.cli import main
from ragft_eval.evaluate import run
from ragft_eval.exit_codes import ExitCode
from ragft_eval.golden import write_golden_set
from ragft_eval.judges.drift import drift_report
from ragft_eval.records import Case
from ragft_eval.runner import load_suite
from ragft_eval.stats.drift_run import DRIFT_KIND, check_drift
from ragft_eval.store import open_store

from .fault_server import FaultServer

N = 100  # cases; two runs make 200 stored verdicts
SAMPLE = 150  # items re-judged (of 200), so the sampling is exercised
START = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)
ANSWER = re.compile(r"Answer to grade: fact (\d+) is")


def _grade(score: int) -> str:
    return json.dumps({"score": score, "verdict": "pass" if score >= 3 else "fail", "reason": "r"})


def first_judge(body: dict) -> str:
    """The judge as it was: 5 for even facts, 1 for odd ones (two balanced categories)."""
    i = int(ANSWER.search(body["messages"][0]["content"]).group(1))
    return _grade(5 if i % 2 == 0 else 1)


def flipped_judge(body: dict) -> str:
    """Today's judge under the same name: the other verdict on every fifth fact (exactly 20% of answers)."""
    i = int(ANSWER.search(body["messages"][0]["content"]).group(1))
    return _grade((1 if i % 2 == 0 else 5) if i % 5 == 0 else (5 if i % 2 == 0 else 1))


def _history(root: Path, base_url: str) -> Path:
    cases = [Case(id=f"c{i:03d}", task_type="factual", input=f"What is fact {i}?", expected={"answer": str(7 * i)})
             for i in range(N)]  # fmt: skip
    write_golden_set(root / "golden", manifest={"name": "drift", "version": "1"}, cases=cases)
    lines = [{"case_id": f"c{i:03d}", "answer": f"fact {i} is {7 * i}"} for i in range(N)]
    (root / "answers.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    cfg = {
        "name": "drifty",
        "golden_sets": ["golden"],
        "models": {"remote-judge": {"model": "judge-x", "base_url": base_url, "timeout_s": 5,
                                    "retry": {"max_attempts": 2, "backoff_s": 0.01, "max_backoff_s": 0.02}}},
        "systems": [{"name": "replayed", "kind": "replay", "path": "answers.jsonl"}],
        "metrics": [{"metric": "judge_grade"}],
        "judge": {"model": "remote-judge", "structured": "json_schema"},
        "bootstrap": {"resamples": 200, "seed": 0},
        "store": "store.sqlite",
        "reports_dir": "reports",
        "cache_dir": "cache",
    }  # fmt: skip
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    for week in range(2):
        when = START + timedelta(weeks=week)
        run(path, now=lambda when=when: when)
    return path


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    with FaultServer(respond=first_judge) as server:
        yield server, _history(root, server.base_url)


def test_an_unchanged_judge_reports_no_drift(history):
    server, suite = history
    server.respond = first_judge
    calls = server.calls
    with open_store(suite.parent / "store.sqlite") as db:
        report = asyncio.run(check_drift(db, since="2026-07-01", suite_config=load_suite(suite), sample=SAMPLE))
    (m,) = report.metrics
    assert server.calls - calls == 2 * SAMPLE, "every item judged twice, afresh"
    assert (m.metric, m.n, m.n_unusable) == ("judge_grade", SAMPLE, 0)
    assert m.flipped == 0.0 and m.noise == 0.0 and m.excess_ci == (0.0, 0.0)
    assert m.kappa == 1.0 and m.agreement == 1.0
    assert not m.drifted and not report.drifted
    assert report.judge_identity and report.suite == "drifty" and len(report.runs) == 2


def test_a_judge_that_flips_a_fifth_of_its_verdicts_is_reported_as_drift(history, capsys):
    server, suite = history
    server.respond = flipped_judge
    store = suite.parent / "store.sqlite"
    # through the command line: today's judge as the newest run recorded it, the report stored
    code = main(["judge", "drift", "--since", "2026-07-01", "--sample", str(SAMPLE), "--seed", "3",
                 "--store", str(store)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == ExitCode.JUDGE_DRIFT == 7 and "DRIFT" in out
    with open_store(store) as db:
        stored = db.artifacts(DRIFT_KIND)[-1]
    (m,) = stored["metrics"]
    # 40 of the 200 stored verdicts flip; a sample of 150 of 200 holds 30 +- 2.5 of them (hypergeometric sd
    # 0.016 as a share), so 0.05 is three sd: "about 20%" without depending on the seed
    assert abs(m["flipped"] - 0.2) <= 0.05
    assert m["noise"] == 0.0, "a temperature-0 judge asked the same thing twice answers the same"
    # two balanced categories with 20% disagreement: kappa = (0.8 - 0.5) / 0.5 = 0.6
    assert 0.45 <= m["kappa"] <= 0.75 and m["kappa_ci"][1] < 0.9
    assert m["excess_ci"][0] > m["tolerance"] == 0.05 and m["drifted"] and stored["drifted"]
    assert set(m["changes"]) == {"0.0 -> 1.0", "1.0 -> 0.0"}
    assert stored["suite"] == "drifty" and stored["checked_at"] and stored["sample"] == SAMPLE
    # the quarterly report shows the latest stored drift check
    assert main(["report", "--since", "2026-07-01", "--store", str(store), "--out", str(suite.parent / "q")]) == 0
    html = (suite.parent / "q" / "quarterly.html").read_text(encoding="utf-8")
    assert "Latest drift check" in html and "<td><b>drift</b></td>" in html
    lo, hi = m["excess_ci"]
    assert "beyond noise [95% CI]" in html and f"[{lo:.3f}, {hi:.3f}]" in html


def test_noise_is_subtracted_before_drift_is_called():
    rng = random.Random(0)

    def draw(truth: int, p: float) -> int:
        return truth if rng.random() >= p else 1 - truth

    truths = [i % 2 for i in range(400)]
    # a temperature > 0 judge flipping 10% of its draws, unchanged: stored and now disagree by noise alone
    noisy = [(draw(t, 0.1), draw(t, 0.1), draw(t, 0.1)) for t in truths]
    # the same judge after a change that moved 20% of its verdicts (the truth it draws around)
    moved = [(draw(t, 0.1), draw(1 - t if i % 5 == 0 else t, 0.1), draw(1 - t if i % 5 == 0 else t, 0.1))
             for i, t in enumerate(truths)]  # fmt: skip
    report = drift_report({"noisy": noisy, "moved": moved}, suite="s")
    by = {m.metric: m for m in report.metrics}
    assert by["noisy"].flipped > 0.1 and abs(by["noisy"].excess) < 0.05 and not by["noisy"].drifted
    assert by["moved"].noise == pytest.approx(0.18, abs=0.05) and by["moved"].drifted
    assert drift_report({"m": [(None, 1, 1)]}, suite="s").metrics[0].n == 0
