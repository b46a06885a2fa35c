"""The exception tree of ragft-eval.

::

    RagftError                      anything this package raises on purpose
    ├── InputError                  bad input from the user; the CLI exits 2
    │   ├── GoldenSetError          a golden set failed validation (carries every Problem)
    │   ├── SuiteConfigError        a suite YAML failed validation (names the key)
    │   ├── ConfigError             a setting is wrong: missing env var, bad import path, unknown retriever
    │   └── LeakageError            a train input also appears in an evaluated split
    ├── ResumeError                 a run cannot be resumed (unknown id, or the suite/golden set changed)
    ├── ServerError                 a local model server failed to start or died
    ├── TrainingStopped             a fine-tune or a judge's training was stopped; nothing was cached
    ├── RunStopped                  the run stopped itself before it finished; what finished is kept (resume)
    │   ├── BudgetExceeded          the next call would take the projected spend over --max-cost
    │   └── BatchPending            a Batch API batch is not done after the configured wait (--resume collects it)
    └── EndpointError               an OpenAI-compatible endpoint is unreachable or rejects the model
        └── CircuitOpenError        an endpoint failed too many calls in a row: its other calls fail at once

:class:`RunStopped` is the one exception a case lets through: it stops the whole run (no new case starts,
the cases in flight finish), and the CLI exits with its own code.  Per-case failures of a system are
*not* raised through the runner: they become a Response with an
``error`` and results with status ``error``.  Messages name the parameter, what was expected and
what came, and where a file is involved, the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class RagftError(Exception):
    """Base class of every error ragft-eval raises on purpose."""


class InputError(RagftError):
    """The user's input (files, config, arguments) is wrong."""


@dataclass(frozen=True)
class Problem:
    """One validation problem, located as ``file:line: field: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


def validation_problems(
    exc: ValidationError,
    file: str,
    line: int | None = None,
    *,
    prefix: tuple[str, ...] = (),
    noun: str = "field",
    whole: str = "(object)",
    locate: Callable[[tuple[Any, ...]], int | None] | None = None,
) -> list[Problem]:
    """Every error of a pydantic ``ValidationError`` as a located Problem, worded for a user.

    One wording for golden sets, suites, fine-tune configs and replay files: ``noun`` is "field" in
    data files and "key" in configs; ``locate`` finds a config key's line when the file is YAML.
    """
    out = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        if err["type"] == "missing":
            msg = f"required {noun} is missing"
        elif err["type"] == "extra_forbidden":
            msg = f"unknown {noun}"
        elif not isinstance(got, dict | list):
            # Scalars are short and say what came; containers would flood the message.
            msg = f"{msg} (got {json.dumps(got, default=str)[:60]})"
        where = line if line is not None else (locate(tuple(err["loc"])) if locate else None)
        out.append(Problem(file, where, ".".join(map(str, loc)) or whole, msg))
    return out


class GoldenSetError(InputError):
    """A golden set has one or more problems; all of them are in ``problems``."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in golden set:\n{lines}")


class SuiteConfigError(InputError):
    """A suite config does not validate; the message names the file and key."""


class ConfigError(InputError):
    """A setting is wrong: the message names the setting."""


class LeakageError(InputError):
    """An input of the train split also appears (after normalisation) in an evaluated split."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = list(pairs)
        shown = ", ".join(f"{a} ~ {b}" for a, b in self.pairs[:20])
        more = f" (+{len(self.pairs) - 20} more)" if len(self.pairs) > 20 else ""
        super().__init__(f"train split shares {len(self.pairs)} input(s) with an evaluated split: {shown}{more}")


class ResumeError(RagftError):
    """A run cannot be resumed."""


class ServerError(RagftError):
    """A local model server failed to start, or died."""


class TrainingStopped(RagftError):
    """Training (a fine-tune, a learned judge) was stopped before it finished; nothing was cached."""


class EndpointError(RagftError):
    """An OpenAI-compatible endpoint is unreachable or rejects the configured model."""


class CircuitOpenError(EndpointError):
    """An endpoint failed ``breaker_failures`` calls in a row (retries exhausted): the rest of the run's
    calls to it fail at once, without a request, naming the endpoint and the last failure."""


class RunStopped(RagftError):
    """The run stopped itself before it finished (what finished is stored; ``--resume`` continues it)."""

    exit_code: int = 1


class BudgetExceeded(RunStopped):
    """The next model call would take the run's projected spend over its ``--max-cost`` cap."""

    exit_code = 4


class BatchPending(RunStopped):
    """A batch of a ``batch:`` model had not finished after its ``wait_s``: the run stopped waiting
    (what finished is stored, the batch id with it) and ``--resume RUN_ID`` collects the batch later."""

    exit_code = 5
