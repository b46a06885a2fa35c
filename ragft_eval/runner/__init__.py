"""The runner: suite configs, the plan of a run, executors that carry it out, the per-case timeout,
the manifest, and hooks that follow a run."""

from .answering import answer_case
from .executor import Executor, LocalExecutor
from .hooks import BaseHook, CaseEnd, Hook, Hooks, Phase, ProgressHook, RunEnd, RunStart
from .manifest import build_manifest, case_hash, manifest_diff, resume_conflicts
from .plan import Plan, Selection, WorkItem, build_plan, build_systems
from .ray_executor import RayExecutor, build_executor
from .suite import MetricSpec, Suite, SystemSpec, Where, load_suite

__all__ = [
    "BaseHook",
    "CaseEnd",
    "Executor",
    "Hook",
    "Hooks",
    "LocalExecutor",
    "MetricSpec",
    "Phase",
    "Plan",
    "ProgressHook",
    "RayExecutor",
    "RunEnd",
    "RunStart",
    "Selection",
    "Suite",
    "SystemSpec",
    "Where",
    "WorkItem",
    "answer_case",
    "build_executor",
    "build_manifest",
    "build_plan",
    "build_systems",
    "case_hash",
    "load_suite",
    "manifest_diff",
    "resume_conflicts",
]
