"""The pytest plugin: every gate of a suite as one test item (``pytest --ragft-suite evals/nightly.yaml``).

pytest loads this module in every project where ragft-eval is installed (the ``pytest11`` entry point),
so it imports nothing heavy and adds no item unless ``--ragft-suite`` or the ``ragft_suites`` ini key
names a suite.  Then each gate (the suite's ``gates:`` and its ``max_error_rate``) is a test item named
``GATE[SYSTEM-SLICE]``; the suite runs once, when the first item is set up (or ``--ragft-resume RUN_ID``
continues a run, ``--ragft-run RUN_ID`` reuses a finished one), and the baseline gates compare with
``--ragft-baseline NAME``.  A failing item prints the observed value with its CI, the threshold or
baseline, the test and p-value, and the worst or regressed cases.  A run that could not be made (an
invalid suite, a dead endpoint, a budget stop) is a pytest *error* with its reason, not a gate failure.

The ``ragft_run`` fixture gives a user's own tests the run summary (:class:`ragft_eval.RunSummary`) of
the first suite, for custom asserts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ragft-eval", "ragft-eval regression gates")
    group.addoption("--ragft-suite", action="append", default=[], metavar="SUITE",
                    help="a suite YAML whose gates become test items (repeatable)")  # fmt: skip
    group.addoption("--ragft-baseline", metavar="NAME", help="the promoted baseline the regression gates compare with")
    group.addoption("--ragft-resume", metavar="RUN_ID", help="continue this run instead of starting a new one")
    group.addoption("--ragft-run", metavar="RUN_ID", help="evaluate this finished run instead of running the suite")
    group.addoption("--ragft-store", metavar="URL", help="run store (default: the suite's)")
    parser.addini("ragft_suites", "suite YAML files whose gates become test items", type="linelist", default=[])


def _suites(config: pytest.Config) -> list[Path]:
    names = list(config.getoption("ragft_suite") or []) + list(config.getini("ragft_suites") or [])
    root = Path(str(config.rootpath))
    return [p if (p := Path(n)).is_absolute() else (Path.cwd() / p if (Path.cwd() / p).exists() else root / p)
            for n in names]  # fmt: skip


class RunFailed(Exception):
    """The suite's run could not be made: every gate item of the suite errors with this reason."""


class _SuiteRun:
    """One suite's run and gate results, made once for all of its items."""

    def __init__(self, config: pytest.Config, path: Path):
        self.config, self.path = config, path
        self.summary: Any = None
        self.results: dict[str, Any] = {}
        self.error: str | None = None

    def ensure(self) -> None:
        if self.summary is not None:
            return
        if self.error is not None:
            raise RunFailed(self.error)
        try:
            self._run()
        except Exception as exc:  # a run that could not be made is an error of every item, with its reason
            self.error = f"{type(exc).__name__}: {exc}"
            raise RunFailed(self.error) from exc

    def _run(self) -> None:
        from .evaluate import run
        from .gates import declared_gates, evaluate_gates
        from .gates.baselines import resolve
        from .report.gate_files import gate_test_name
        from .runner import load_suite
        from .stats import build_summary
        from .store import open_store

        suite = load_suite(self.path)
        store = self.config.getoption("ragft_store") or suite.store_url()
        run_id = self.config.getoption("ragft_run")
        if run_id is None:
            run_id = run(suite, store=store, resume=self.config.getoption("ragft_resume")).run_id
        baseline_name = self.config.getoption("ragft_baseline")
        with open_store(store) as db:
            self.summary = build_summary(db, run_id)
            baseline = build_summary(db, resolve(db, baseline_name)) if baseline_name else None
        specs = declared_gates(self.summary.manifest.suite_config, source=str(self.path))
        results = evaluate_gates(self.summary, specs, baseline=baseline, baseline_name=baseline_name)
        self.results = {gate_test_name(r): r for r in results}


class GateFailed(Exception):
    def __init__(self, result: Any):
        super().__init__(result.message)
        self.result = result


class GateItem(pytest.Item):
    """One gate of one suite."""

    def __init__(self, *, suite_run: _SuiteRun, **kwargs: Any):
        super().__init__(**kwargs)
        self.suite_run = suite_run

    def setup(self) -> None:
        self.suite_run.ensure()

    def runtest(self) -> None:
        result = self.suite_run.results.get(self.name)
        if result is None:
            raise RunFailed(f"gate {self.name} was not evaluated (the suite's gates changed?)")
        if result.skipped:
            pytest.skip(result.message)
        if not result.passed:
            raise GateFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GateFailed):
            from .report.gate_files import failure_text

            return failure_text(excinfo.value.result)
        if isinstance(excinfo.value, RunFailed):
            return f"the run could not be made: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.suite_run.path, None, f"ragft-eval gate {self.name}"


def _gate_names(path: Path) -> list[str]:
    """The item names of a suite's gates, read from the suite without running it."""
    from .gates import declared_gates
    from .report.gate_files import gate_test_name
    from .runner import load_suite

    return [gate_test_name(g) for g in declared_gates(load_suite(path).config_dump(), source=str(path))]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    paths = _suites(config)
    if not paths:
        return
    runs = config.stash.setdefault(_RUNS, {})
    for path in paths:
        suite_run = runs.setdefault(str(path), _SuiteRun(config, path))
        try:
            names = _gate_names(path)
        except Exception as exc:  # an invalid suite: one erroring item says why
            suite_run.error = f"{type(exc).__name__}: {exc}"
            names = [f"suite[{path.name}]"]
        for name in names:
            items.append(GateItem.from_parent(session, name=name, suite_run=suite_run))


_RUNS = pytest.StashKey[dict[str, _SuiteRun]]()


@pytest.fixture(scope="session")
def ragft_run(request: pytest.FixtureRequest) -> Any:
    """The run summary of the first ``--ragft-suite`` (running it if no gate item did yet)."""
    paths = _suites(request.config)
    if not paths:
        pytest.skip("no --ragft-suite (or ragft_suites ini key) names a suite")
    runs = request.config.stash.setdefault(_RUNS, {})
    suite_run = runs.setdefault(str(paths[0]), _SuiteRun(request.config, paths[0]))
    suite_run.ensure()
    return suite_run.summary
