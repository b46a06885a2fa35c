"""pass@1 for ``code`` cases: the answer's code run against the case's tests in the sandbox.

``code_pass`` is 1.0 when every ``test_*`` function of the case's ``expected.tests`` passes against the
code of the answer, else 0.0, in [0, 1], higher is better.  Its mean over cases is pass@1 with one sample
per case (n = k = 1 in Chen et al. 2021, "Evaluating Large Language Models Trained on Code"); repeats of a
case are separate samples.

- The code (:func:`extract_code`) is the first fenced block tagged ``python``/``py``/``python3``/``py3``
  or untagged; else the first fenced block of any tag; else the whole answer.  An unclosed fence (a
  truncated answer) runs to the end; the block is dedented.
- The tests import the code as module ``solution`` and run in :mod:`ragft_eval.metrics.sandbox` (its
  docstring says what is contained, and how).
- Unscored, with the reason, when the case has no ``expected.tests`` or they do not compile (the
  golden-set loader refuses such a case; a case built in code may still have one).
- A syntax error, a failing or raising test, a timeout, a resource limit or a crash is the answer's
  failure: 0.0, never an error result.  ``details`` give ``outcome`` (the sandbox's: ``passed``,
  ``failed``, ``syntax_error``, ``timeout``, ``killed``, ``crashed``), ``reason``, ``tests_run``,
  ``tests_passed``, ``failed_tests`` and ``isolation``, plus the tails of stdout and stderr when it did
  not pass (no wall time: a result depends on the answer, not on the machine's load).  A sandbox that
  cannot start at all raises: a scorer error, not the system's.

Sandboxes run in worker threads (``asyncio.to_thread``), at most one per CPU at once in the process, so
that scoring many cases concurrently does not starve their tests of CPU into false timeouts.

>>> extract_code("Sure:\\n```python\\ndef f():\\n    return 1\\n```\\nCall f().")
'def f():\\n    return 1\\n'
>>> extract_code("def f():\\n    return 1")
'def f():\\n    return 1'
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import textwrap
import threading

from ..records import Case, MetricResult, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext
from .sandbox import SandboxResult, run_tests

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3"})
_DETAIL_CHARS = 1000  # of stdout/stderr kept in a failed result's details (the store keeps every result)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# Process-wide, and a thread semaphore rather than an asyncio one: metric instances outlive event loops
# (asyncio.run per call in tests), and a sandbox holds a CPU for its whole run.
_SLOTS = threading.BoundedSemaphore(_cpus())


def extract_code(answer: str) -> str:
    """The code of an answer: its first Python (or untagged) fenced block, else its first fenced block,
    else the whole answer."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(answer)]
    if not blocks:
        return answer
    code = next((body for tag, body in blocks if tag in _PYTHON_TAGS), blocks[0][1])
    return textwrap.dedent(code)


@functools.lru_cache(maxsize=256)
def _compile_error(tests: str) -> str | None:
    try:
        compile(tests, "test_solution.py", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: a null byte, before Python 3.12
        return f"{type(exc).__name__}: {exc}"
    return None


@register("metric", "code_pass")
class CodePass(BaseMetric):
    """1 if the answer's code passes every test of the case (pass@1), else 0; unscored without tests.

    ``timeout_s`` (wall clock), ``cpu_s`` and ``memory_mb`` are the sandbox's limits per case.
    """

    name = "code_pass"

    def __init__(self, *, timeout_s: float = 10.0, cpu_s: int = 5, memory_mb: int = 512):
        for label, value in (("timeout_s", timeout_s), ("cpu_s", cpu_s), ("memory_mb", memory_mb)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise TypeError(f"code_pass: expected {label} > 0, got {value!r}")
        self.timeout_s = timeout_s
        self.cpu_s = cpu_s
        self.memory_mb = memory_mb

    def undefined_reason(self, case: Case) -> str | None:
        tests = case.expected.tests if case.expected is not None else None
        if not tests:
            return "the case has no tests (expected.tests)"
        if error := _compile_error(tests):
            return f"the case's tests do not compile: {error}"
        return None

    async def score(self, case: Case, response: Response, ctx: ScoreContext) -> MetricResult:
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        code = extract_code(response.answer or "")
        result = await asyncio.to_thread(self._run, code, case.expected.tests)
        details = {
            "outcome": result.outcome,
            "reason": result.reason,
            "tests_run": result.tests_run,
            "tests_passed": result.tests_passed,
            "failed_tests": list(result.failed_tests),
            "isolation": list(result.isolation),
        }
        if not result.passed:
            details["stdout"] = result.stdout[-_DETAIL_CHARS:]
            details["stderr"] = result.stderr[-_DETAIL_CHARS:]
        return self.scored(1.0 if result.passed else 0.0, **details)

    def _run(self, code: str, tests: str) -> SandboxResult:
        with _SLOTS:
            return run_tests(code, tests, timeout_s=self.timeout_s, cpu_s=self.cpu_s, memory_mb=self.memory_mb)
