"""Hooks: follow a run through frozen event objects, the same way for a progress bar, a CI log, a web
page or a cluster driver.

A hook implements any of ``on_run_start(RunStart)``, ``on_case_end(CaseEnd)`` and ``on_run_end(RunEnd)``
(:class:`Hook`; :class:`BaseHook` gives no-op defaults), and may implement ``on_phase(Phase)``: the run's
phases before and after the cases (each system's start: a fine-tune, index builds, a threshold search;
then answering; pairwise judging), each once as it begins and once as it ends with its seconds.  Events
are frozen dataclasses, so fields can be added without breaking a hook.  A hook observes; it cannot
change what is scored or stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


@dataclass(frozen=True)
class RunStart:
    """A run starts (or resumes): ``planned`` work items per system still to answer, ``already_done``
    the items a resumed run found in the store."""

    run_id: str
    suite: str
    planned: dict[str, int]
    already_done: int = 0
    resumed: bool = False


@dataclass(frozen=True)
class CaseEnd:
    """One (system, case) answered, scored and stored."""

    run_id: str
    system: str
    golden_set: str
    case_id: str
    failed: bool
    latency_s: float | None
    statuses: dict[str, str] = field(default_factory=dict)  # metric -> scored | unscored | error


@dataclass(frozen=True)
class RunEnd:
    """The run finished (``status`` ``finished``) or stopped (``failed``, with ``reason``)."""

    run_id: str
    status: str
    seconds: float
    reason: str | None = None


@dataclass(frozen=True)
class Phase:
    """A phase of the run begins (``seconds`` None) or ends (``seconds`` it took): ``name`` is ``start``
    (``detail``: the system started), ``answer`` (every case answered, scored and stored) or ``pairwise``
    (metrics judged against a baseline's answers).  Within a start (:data:`START_PARTS`): ``fine-tune``
    (``detail``: the fine-tune config), ``server`` (a model's server), ``index`` (a retriever's index) and
    ``threshold search`` (the routed system's answers on its calibration split)."""

    run_id: str
    name: str
    detail: str = ""
    seconds: float | None = None


START_PARTS = ("fine-tune", "server", "index", "threshold search")


@runtime_checkable
class Hook(Protocol):
    def on_run_start(self, event: RunStart) -> None: ...

    def on_case_end(self, event: CaseEnd) -> None: ...

    def on_run_end(self, event: RunEnd) -> None: ...


class BaseHook:
    """No-op defaults: a hook overrides only what it follows."""

    def on_run_start(self, event: RunStart) -> None:
        return None

    def on_case_end(self, event: CaseEnd) -> None:
        return None

    def on_run_end(self, event: RunEnd) -> None:
        return None

    def on_phase(self, event: Phase) -> None:
        return None


class Hooks(BaseHook):
    """Several hooks as one, called in order."""

    def __init__(self, hooks: Sequence[Hook] = ()):
        self.hooks = tuple(hooks)

    def on_run_start(self, event: RunStart) -> None:
        for h in self.hooks:
            h.on_run_start(event)

    def on_case_end(self, event: CaseEnd) -> None:
        for h in self.hooks:
            h.on_case_end(event)

    def on_run_end(self, event: RunEnd) -> None:
        for h in self.hooks:
            h.on_run_end(event)

    def on_phase(self, event: Phase) -> None:
        for h in self.hooks:
            if (follow := getattr(h, "on_phase", None)) is not None:  # optional: older hooks lack it
                follow(event)


class AnswersPerMinute(ProgressColumn):
    """A system's answers per minute so far (rich's own speed, per minute: answers take seconds)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed * 60:.1f}/min")


class ProgressHook(BaseHook):
    """The terminal progress bar: one line per system, answered / total, answers per minute, the time
    elapsed and an estimate of the time left."""

    def __init__(self, **progress: Any):
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            AnswersPerMinute(), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                            transient=False, **progress)  # fmt: skip
        self._tasks: dict[str, TaskID] = {}

    def on_phase(self, event: Phase) -> None:
        # the phases before the bar (a fine-tune or a threshold search takes minutes): say what is going on
        if event.name == "start":
            what = event.detail if event.detail.startswith("judge ") else f"system {event.detail}"
            said = f"starting {what}" if event.seconds is None else f"started {what} in {event.seconds:.1f} s"
            self.bar.console.print(Text(said, style="dim"))
        elif event.name in ("threshold search", "fine-tune") and event.seconds is None:
            self.bar.console.print(Text(f"  {event.name} {event.detail} (minutes when nothing is cached)", style="dim"))
        elif event.name in START_PARTS and event.seconds is not None and event.seconds >= 1.0:
            self.bar.console.print(Text(f"  {event.name} {event.detail}: {event.seconds:.1f} s", style="dim"))

    def on_run_start(self, event: RunStart) -> None:
        self.bar.start()
        for system, n in event.planned.items():
            self._tasks[system] = self.bar.add_task(system, total=n)

    def on_case_end(self, event: CaseEnd) -> None:
        if event.system in self._tasks:
            self.bar.advance(self._tasks[event.system])

    def on_run_end(self, event: RunEnd) -> None:
        self.bar.stop()
