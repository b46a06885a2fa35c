"""Judge noise alone does not fail the no-regression gate; a real drop of the size of that noise's
apparent swing does.

The apparent swing: judged once more under another seed, single verdicts move cases from pass to fail
(a per-case pass/fail comparison of single judgments, as tools without repeats make, calls that a
regression).  The real drop: that many right answers turned wrong, judged the same way (3 repeats).

The judge is a loopback stand-in for a hosted judge sampled at temperature > 0 (a boundary we cannot
reach from here): its verdict for one request is drawn from the answer's true quality, seeded by the
request's seed (judge seed + repeat), so two judge seeds give two noisy readings of the same answers.
With ``judge.repeats: 3`` each case's value is the mean of its three verdicts.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import yaml

from ragft_eval import run
from ragft_eval.gates import evaluate_gates, parse_gates
from ragft_eval.gates.baselines import promote
from ragft_eval.stats import build_summary
from ragft_eval.store import open_store

from ..judges.fault_server import FaultServer
from ..runner.test_run import golden

N = 600
GOOD_P, BAD_P = 0.85, 0.15  # the chance a judge sample passes a right and a wrong answer


def noisy_judge(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    answer = re.search(r"Answer to grade: (.*)\n", prompt).group(1)
    reference = re.search(r"Reference answer: (.*)\n", prompt).group(1)
    p = GOOD_P if answer.strip() == reference.split(" / ")[0].strip() else BAD_P
    draw = int(hashlib.sha256(f"{body['seed']}|{prompt}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    ok = draw < p
    return json.dumps({"score": 5 if ok else 1, "verdict": "pass" if ok else "fail", "reason": "sampled"})


def _suite(tmp: Path, base_url: str, wrong: set[int], judge_seed: int, name: str) -> Path:
    if not (tmp / "gs").exists():
        golden(tmp, n=N)
    lines = [{"case_id": f"c{i:03d}", "answer": "3" if i in wrong else str(i * 7)} for i in range(N)]
    (tmp / f"{name}.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    cfg = {"name": "judged", "golden_sets": ["gs"], "models": {"j": {"model": "judge-x", "base_url": base_url}},
           "systems": [{"name": "bot", "kind": "replay", "path": f"{name}.jsonl"}],
           "judge": {"model": "j", "temperature": 0.7, "repeats": 3, "seed": judge_seed},
           "metrics": [{"metric": "judge_grade", "where": {"task_types": ["factual"]}}],
           "concurrency": 16, "store": "store.sqlite", "reports_dir": "reports"}  # fmt: skip
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _first_labels(result) -> dict[str, str]:
    return {cr.case_id: m.details["verdicts"][0]["label"] for cr in result.results for m in cr.results
            if m.metric == "judge_grade" and m.status == "scored"}  # fmt: skip


def _single_verdict_flips(a, b) -> int:
    la, lb = _first_labels(a), _first_labels(b)
    return sum(la[c] == "pass" and lb.get(c) == "fail" for c in la)


def _mean(result) -> float:
    return next(c.mean for c in result.cells if c.metric == "judge_grade" and c.task_type == "(all)")


def test_judge_noise_passes_and_a_real_drop_of_its_size_fails(tmp_path):
    factual = [i for i in range(N) if i % 3]
    rng = random.Random(3)
    wrong = set(rng.sample(factual, 40))
    gate = parse_gates([{"name": "grade-holds", "kind": "no_regression", "metric": "judge_grade", "system": "bot",
                         "alpha": 0.05}], source="test")  # fmt: skip
    with FaultServer(respond=noisy_judge, models=["judge-x"]) as server:
        base = run(_suite(tmp_path, server.base_url, wrong, judge_seed=11, name="base"))
        noise = run(_suite(tmp_path, server.base_url, wrong, judge_seed=97, name="noise"))
        with open_store(tmp_path / "store.sqlite") as db:
            promote(db, base.run_id, name="main")
            baseline = build_summary(db, base.run_id)
            noise_verdict = evaluate_gates(build_summary(db, noise.run_id), gate, baseline=baseline)[0]
        k = _single_verdict_flips(base, noise)  # cases noise alone moved from pass to fail, one verdict each
        worse = wrong | set(rng.sample(sorted(set(factual) - wrong), k))  # that many real regressions
        drop = run(_suite(tmp_path, server.base_url, worse, judge_seed=53, name="drop"))
    with open_store(tmp_path / "store.sqlite") as db:
        drop_verdict = evaluate_gates(build_summary(db, drop.run_id), gate, baseline=baseline)[0]
    verdicts = {noise.run_id: noise_verdict, drop.run_id: drop_verdict}
    swing = k / len(factual)
    flips = [m.details["flipped"] for cr in noise.results for m in cr.results if m.status == "scored"]
    print(f"\njudge noise: mean {_mean(base):.3f} (seed 11) vs {_mean(noise):.3f} (seed 97); noise moved {k} of "
          f"{len(factual)} cases from pass to fail on single verdicts ({swing:.1%}); verdicts flipped across "
          f"repeats on {sum(flips) / len(flips):.0%} of cases; real drop: {k} answers wrong, mean {_mean(drop):.3f}"
          f"\n  noise: {noise_verdict.message}\n  drop: {drop_verdict.message}")  # fmt: skip
    assert swing > 0.05, "the judge is noisy: another seed moves cases from pass to fail"
    assert verdicts[noise.run_id].passed, "judge noise alone must not fail the gate"
    assert not verdicts[drop.run_id].passed, "a real drop of the noise's size must fail it"
