"""The pytest plugin, tested with ``pytester``: gates as items, failures with their evidence, a run that
cannot be made as an error, the ``ragft_run`` fixture, and nothing at all without ``--ragft-suite``."""

from __future__ import annotations

import json
import random

import yaml

from ..runner.test_run import golden

N = 120


def _project(pytester, *, degrade: float, gates: list[dict]) -> str:
    root = pytester.path
    golden(root, n=N)
    answerable = [i for i in range(N) if i % 3]
    rng = random.Random(0)
    good = set(rng.sample(answerable, int(0.8 * len(answerable))))
    bad = set(rng.sample(sorted(good), int(degrade * len(answerable))))
    lines = [{"case_id": f"c{i:02d}", "answer": str(i * 7) if i in good - bad else "no idea", "latency_s": 0.1}
             for i in range(N)]  # fmt: skip
    (root / "bot.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    bot = {"name": "bot", "kind": "replay", "path": "bot.jsonl"}
    cfg = {"name": "plugged", "golden_sets": ["gs"], "systems": [bot],
           "metrics": [{"metric": "exact_match"}, {"metric": "latency"}], "gates": gates,
           "store": "store.sqlite", "reports_dir": "reports"}  # fmt: skip
    (root / "suite.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(root / "suite.yaml")


GATES = [
    {"name": "em-floor", "kind": "threshold", "metric": "exact_match", "system": "bot", "min": 0.9},
    {"name": "errors", "kind": "errors", "max_error_rate": 0.05},
]


def test_each_gate_is_an_item_and_a_failure_prints_its_evidence(pytester):
    suite = _project(pytester, degrade=0.0, gates=GATES)
    result = pytester.runpytest("--ragft-suite", suite, "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "em-floor[bot-(all)]" in out and "max_error_rate" in out
    result.stdout.fnmatch_lines([
        "*exact_match of bot in (all): mean 0.800 ?0.7*? n 80*must be at least 0.9",
        "*observed: 0.8000 ?0.7*? (n 80)*", "*threshold: 0.9*", "*worst cases: c*",
    ])  # fmt: skip


def test_a_run_that_cannot_be_made_is_an_error_not_a_failure(pytester):
    suite = _project(pytester, degrade=0.0, gates=GATES)
    (pytester.path / "bot.jsonl").unlink()  # the replay file is gone: the suite cannot run
    result = pytester.runpytest("--ragft-suite", suite, "-p", "no:cacheprovider")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*RunFailed: ConfigError*replay file*does not exist*"])


def test_the_ragft_run_fixture_gives_a_users_test_the_summary(pytester):
    suite = _project(pytester, degrade=0.0, gates=GATES[1:])
    pytester.makepyfile(test_custom="""
        def test_my_own_assert(ragft_run):
            em = [c for c in ragft_run.cells if c.metric == "exact_match" and c.task_type == "(all)"]
            assert em[0].mean > 0.7
            assert ragft_run.manifest.suite_name == "plugged"
    """)  # fmt: skip
    result = pytester.runpytest("--ragft-suite", suite, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)  # the user's test, max_error_rate, errors


def test_without_a_suite_the_plugin_adds_nothing_and_imports_nothing_heavy(pytester):
    pytester.makepyfile(test_plain="""
        import sys

        def test_it():
            loaded = sorted(m for m in sys.modules if m.startswith("ragft_eval"))
            assert loaded == ["ragft_eval", "ragft_eval.pytest_plugin"], loaded
    """)  # fmt: skip
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_suites_named_in_the_ini_file_are_collected(pytester):
    suite = _project(pytester, degrade=0.0, gates=GATES[1:])
    pytester.makeini(f"[pytest]\nragft_suites =\n    {suite}\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
