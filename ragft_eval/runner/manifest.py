"""The run manifest: what a run was built from, recorded before the first case, diffable between runs.

:func:`build_manifest` records the suite and per-system config (model ids, adapter and GGUF hashes,
template hashes), index hashes, golden-set names, versions and hashes, the selected cases' hashes, the
metrics, the judge and its identity, and package versions.  :func:`manifest_diff` lists the dotted keys
where two manifests differ; resume refuses on a difference in what decides the results
(:func:`resume_conflicts`), and comparisons of runs read the same diff.
"""

from __future__ import annotations

import contextlib
import platform
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..golden import GoldenSet
from ..hashing import content_hash
from ..records import Case, RunManifest
from ..systems import System
from .plan import Selection
from .suite import Suite

PACKAGES = (
    "ragft-eval", "pydantic", "numpy", "scipy", "pandas", "jsonschema", "openai", "ragas", "llama_cpp_python",
    "bm25s", "sentence-transformers", "torch", "transformers", "peft", "gguf",
)  # fmt: skip

# What decides a run's results: a resume with any of these changed would mix two different runs.
RESUME_KEYS = ("suite_config", "golden_sets", "selection", "systems")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def case_hash(case: Case) -> str:
    """A case's content hash: a golden-set bump that changes a case under the same id changes it."""
    return content_hash(case.model_dump(mode="json", by_alias=True))


def build_manifest(
    *,
    run_id: str,
    now: datetime,
    suite: Suite,
    golden_sets: dict[str, GoldenSet],
    cases: Sequence[tuple[GoldenSet, Case]],
    selection: Selection,
    systems: dict[str, System],
    retrievers: dict[str, dict[str, Any]],
    metrics: dict[str, dict[str, Any]],
    judge: dict[str, Any] | None,
    judge_identity: str | None,
    judges: dict[str, dict[str, Any]] | None = None,
) -> RunManifest:
    hashes: dict[str, dict[str, str]] = {name: {} for name in golden_sets}
    for gs, case in cases:
        hashes[gs.name][case.id] = case_hash(case)
    return RunManifest(
        run_id=run_id,
        created_at=now.astimezone(UTC).isoformat(timespec="seconds"),
        suite_name=suite.name,
        suite_path=str(suite.path) if suite.path else None,
        suite_hash=suite.config_hash,
        suite_config=suite.config_dump(),
        golden_sets={name: gs.content_hash for name, gs in golden_sets.items()},
        golden_set_versions={name: str(gs.manifest.version) for name, gs in golden_sets.items()},
        case_hashes=hashes,
        selection=selection.as_dict(),
        systems={name: s.describe() for name, s in systems.items()},
        retrievers=retrievers,
        metrics=metrics,
        judge=judge or {},
        judge_identity=judge_identity,
        judges=judges or {},
        package_versions=package_versions(),
        bootstrap={"resamples": suite.bootstrap.resamples, "seed": suite.bootstrap.seed},
        python=platform.python_version(),
    )


def _diff(old: Any, new: Any, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if old == new else [prefix]


def manifest_diff(a: RunManifest, b: RunManifest, *, keys: Sequence[str] | None = None) -> list[str]:
    """Dotted paths where two manifests differ (all recorded fields, or only ``keys``)."""
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    wanted: Callable[[str], bool] = (lambda k: k in keys) if keys is not None else (lambda k: True)
    return _diff({k: v for k, v in da.items() if wanted(k)}, {k: v for k, v in db.items() if wanted(k)}, "")


def resume_conflicts(stored: RunManifest, planned: RunManifest) -> list[str]:
    """What changed, since the run started, in what decides its results (empty: the resume may go on)."""
    changed = manifest_diff(stored, planned, keys=RESUME_KEYS)
    # the run was recorded as ``suite`` (its config) by schema 1: keep naming it that way for users
    return [c.replace("suite_config", "suite", 1) for c in changed]
