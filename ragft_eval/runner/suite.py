"""Suite configs: YAML validated by pydantic, with errors that name the file and the key.

A suite names golden sets, model endpoints, retrievers, systems and metrics::

    name: example
    golden_sets: [../golden_sets/example]
    split: test
    systems:
      - {name: baseline, kind: replay, path: replays/baseline.jsonl}
    metrics:
      - {metric: recall, k: 5}
      - {metric: exact_match}

Paths are relative to the suite file.  Systems and metrics take their kind-specific parameters as
keyword arguments (``metric: recall, k: 10``), never as strings such as ``recall@10``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import SuiteConfigError, validation_problems
from ..golden import GoldenSet, load_golden_set
from ..hashing import content_hash
from ..judges import JudgeSpec
from ..llm.cache import CacheSpec
from ..llm.spec import ModelSpec
from ..retrieval.spec import RetrieverSpec


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemSpec(BaseModel):
    """A system under test: ``name``, ``kind`` and the kind's keyword parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    kind: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Where(_Spec):
    """Which cases a metric scores (the rest are ``unscored``, "not selected"): a way to spend an expensive
    judge on some task types, tags or a seeded fraction of the cases.  The fraction is chosen by a hash
    of (golden set, case id, seed), so the same cases are picked on every run and on resume."""

    task_types: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    fraction: float = Field(default=1.0, gt=0, le=1)
    seed: int = 0

    def selects(self, case: Any) -> bool:
        if self.task_types is not None and case.task_type not in self.task_types:
            return False
        if self.tags is not None and not set(self.tags) & set(case.tags):
            return False
        if self.fraction < 1.0:
            digest = content_hash({"g": case.golden_set, "c": case.id, "s": self.seed})
            return int(digest[7:15], 16) / 0xFFFFFFFF < self.fraction
        return True

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.model_dump(exclude_defaults=True).items())


class NamedJudgeSpec(BaseModel):
    """A judge of ``judges:``: its registered ``kind`` (``learned``) and the kind's keyword parameters.

    A judged metric names one with ``judge: NAME``; metrics that name none use the suite's ``judge:``."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MetricSpec(BaseModel):
    """A metric: ``metric`` (its registered name), its keyword parameters, and optionally ``where``.

    ``judge: NAME`` (a judged metric) names a judge of the suite's ``judges:`` instead of ``judge:``."""

    model_config = ConfigDict(extra="allow", frozen=True)
    metric: str
    where: Where | None = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BootstrapSpec(_Spec):
    resamples: int = Field(default=1000, ge=100)
    seed: int = 0


# --- decision report specs (costs:, decide:, attribution:) ------------------------------------------
# Read by stats.cost, stats.decision and stats.attribution; the runner only validates them.


def _check_finite(spec: BaseModel, keys: tuple[str, ...], *, non_negative: bool) -> None:
    """ValueError naming the entries of the dict fields ``keys`` that are not finite (or are negative)."""
    for key in keys:
        low = 0.0 if non_negative else float("-inf")
        bad = sorted(n for n, v in getattr(spec, key).items() if not low <= v < float("inf"))  # NaN fails too
        if bad:
            raise ValueError(f"{key}: expected finite numbers{' >= 0' if non_negative else ''} for {', '.join(bad)}")


class CostSpec(_Spec):
    """What a run cannot measure about cost: the volume to project at, per-system fixed monthly costs
    (vector store hosting, a GPU for a self-hosted fine-tune), one-time costs (a fine-tune, an index build)
    amortised over ``amortise_months``, and the judge's price per 1,000 prompt / completion tokens.
    A system absent from ``fixed_monthly_usd`` / ``one_time_usd`` has no such cost declared."""

    volume_per_month: int | None = Field(default=None, ge=0)
    fixed_monthly_usd: dict[str, float] = Field(default_factory=dict)
    one_time_usd: dict[str, float] = Field(default_factory=dict)
    amortise_months: int = Field(default=12, ge=1)
    judge_usd_per_1k_prompt_tokens: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    judge_usd_per_1k_completion_tokens: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _amounts(self) -> CostSpec:
        _check_finite(self, ("fixed_monthly_usd", "one_time_usd"), non_negative=True)
        return self


class PrimarySpec(_Spec):
    """The metric the decision ranks by, in one slice: ``(all)``, ``task_type=X`` or ``tag=Y``."""

    metric: str
    slice: str = Field(default="(all)", pattern=r"^(\(all\)|task_type=.+|tag=.+)$")


class DecideSpec(_Spec):
    """The decision: constraints every shipped system must be shown to meet, then the best on ``primary``.
    ``min`` / ``max``: metric -> bound on its overall mean (inclusive); ``p95_latency_s`` and
    ``max_cost_per_1k_usd`` bound the p95 latency and the system's own cost per 1,000 queries."""

    primary: PrimarySpec
    p95_latency_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_cost_per_1k_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    min: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounds(self) -> DecideSpec:
        _check_finite(self, ("min", "max"), non_negative=False)
        return self


class ExecutorSpec(_Spec):
    """Where a run's work is done (``executor:``): ``local`` (this process, asyncio) or ``ray`` (sharded
    over a Ray cluster at ``address``, default a local one started for the run, by ``workers`` worker
    processes, default one per CPU of the cluster; see :mod:`ragft_eval.runner.ray_executor`)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    workers: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ray_only(self) -> ExecutorSpec:
        if self.kind == "local" and (self.address is not None or self.workers is not None):
            raise ValueError("address and workers are settings of kind: ray")
        return self


class AttributionSpec(_Spec):
    """Failure attribution: a headline value below ``threshold`` is a wrong answer."""

    threshold: float = Field(default=0.5, ge=0, le=1)


# the decision report's fields of Suite: left out of config_hash while at their defaults, so the hash of
# every suite written before them is unchanged
# Fields added after suites were first hashed: left out of the config (and its hash) while at their
# default, so a suite that does not use them keeps the hash (and the resumable runs) it had.
_OPTIONAL_FIELDS = ("costs", "decide", "attribution", "gates", "cache", "judges", "executor", "human_labels")

# --- end of decision report specs -------------------------------------------------------------------


class Suite(_Spec):
    """A validated suite config."""

    name: str
    description: str = ""
    golden_sets: tuple[str, ...] = Field(min_length=1)
    split: tuple[str, ...] | None = ("test",)
    tags: tuple[str, ...] | None = None
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    retrievers: dict[str, RetrieverSpec] = Field(default_factory=dict)
    systems: tuple[SystemSpec, ...] = Field(min_length=1)
    metrics: tuple[MetricSpec, ...] = Field(min_length=1)
    judge: dict[str, Any] | None = None
    # named judges beside judge: (a learned faithfulness judge next to a prompted grader), by name
    judges: dict[str, NamedJudgeSpec] = Field(default_factory=dict)
    concurrency: int = Field(default=4, ge=1)
    timeout_s: float = Field(default=300, gt=0)
    max_error_rate: float = Field(default=1.0, ge=0, le=1)
    store: str = "reports/ragft-eval.sqlite"
    reports_dir: str = "reports"
    cache_dir: str = ".ragft_cache"
    bootstrap: BootstrapSpec = BootstrapSpec()
    headline: dict[str, str] | None = None
    costs: CostSpec | None = None
    decide: DecideSpec | None = None
    attribution: AttributionSpec = AttributionSpec()
    # gates: validated by ragft_eval.gates (which sits above the runner); kept here as written
    gates: tuple[dict[str, Any], ...] | None = None
    cache: CacheSpec = CacheSpec()
    executor: ExecutorSpec | None = None
    # a JSONL of human labels for some of this suite's cases: PPI estimates of its judged metrics
    human_labels: str | None = None

    # where the file was; not part of the config's hash
    base_dir: Path = Field(default=Path("."), exclude=True)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _references(self) -> Suite:
        names = [s.name for s in self.systems]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"systems: duplicate system name(s): {', '.join(dupes)}")
        for i, s in enumerate(self.systems):
            model = s.params.get("model")
            if isinstance(model, str) and model not in self.models:
                raise ValueError(f"systems.{i}.model: unknown model {model!r}; defined models: {sorted(self.models)}")
            retriever = s.params.get("retriever")
            fallback = s.params.get("fallback_model")
            if isinstance(fallback, str) and fallback not in self.models:
                known = sorted(self.models)
                raise ValueError(f"systems.{i}.fallback_model: unknown model {fallback!r}; defined models: {known}")
            if isinstance(retriever, str) and retriever not in self.retrievers:
                raise ValueError(
                    f"systems.{i}.retriever: unknown retriever {retriever!r}; defined: {sorted(self.retrievers)}"
                )
        for i, m in enumerate(self.metrics):
            named = m.params.get("judge")
            if named is not None and not isinstance(named, str):
                raise ValueError(f"metrics.{i}.judge: expected the name of a judge of judges:, got {named!r}")
            if named is not None and named not in self.judges:
                raise ValueError(f"metrics.{i}.judge: unknown judge {named!r}; defined judges: {sorted(self.judges)}")
        if self.costs is not None:
            for key in ("fixed_monthly_usd", "one_time_usd"):
                unknown = sorted(set(getattr(self.costs, key)) - set(names))
                if unknown:
                    raise ValueError(f"costs.{key}: unknown system(s) {', '.join(unknown)}; the suite has {names}")
        return self

    def cache_spec(self, override: str | None = None) -> CacheSpec:
        """The cache policies of a run: the suite's ``cache:``, or ``override`` (``--cache``) for both roles."""
        if override is None:
            return self.cache
        return CacheSpec.model_validate(override).model_copy(update={"dir": self.cache.dir})

    def load_golden_sets(self) -> dict[str, GoldenSet]:
        """The suite's golden sets, loaded and validated, by name."""
        out: dict[str, GoldenSet] = {}
        for path in self.golden_sets:
            gs = load_golden_set(self.resolve(path))
            out[gs.name] = gs
        return out

    def judge_spec(self) -> JudgeSpec:
        """The validated ``judge:`` block (SuiteConfigError naming the key when it is missing or invalid)."""
        if self.judge is None:
            raise SuiteConfigError(f"{self.path}: judge: the suite has no judge: section")
        try:
            spec = JudgeSpec.model_validate(self.judge)
        except ValidationError as exc:
            lines = [str(p) for p in validation_problems(exc, str(self.path), prefix=("judge",), noun="key")]
            raise SuiteConfigError("invalid judge config:\n" + "\n".join(lines)) from exc
        if spec.model not in self.models:
            raise SuiteConfigError(
                f"{self.path}: judge.model: unknown model {spec.model!r}; defined: {sorted(self.models)}"
            )
        return spec

    @property
    def config_hash(self) -> str:
        return content_hash(self.config_dump())

    def config_dump(self) -> dict[str, Any]:
        """The config as recorded in the manifest and hashed: optional fields at their default left out."""
        fields = type(self).model_fields
        default = lambda f: fields[f].get_default(call_default_factory=True)  # noqa: E731 (judges: a factory)
        defaults = {f for f in _OPTIONAL_FIELDS if f in fields and getattr(self, f) == default(f)}
        return self.model_dump(mode="json", exclude=defaults)

    def store_url(self) -> str:
        """The run store: ``$RAGFT_STORE_URL`` when the suite names none; a URL (``postgresql://...``) as
        written; a path from the suite's folder."""
        if "store" not in self.model_fields_set and (env := os.environ.get("RAGFT_STORE_URL")):
            return env
        return self.store if "://" in self.store else str(self.resolve(self.store))

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def _locate(raw_text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a key path in the YAML text."""
    try:
        node = yaml.compose(raw_text)
    except yaml.YAMLError:
        return None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == str(part)), None)
            if nxt is None:
                key = next((k for k, _ in node.value if k.value == str(part)), None)
                return key.start_mark.line + 1 if key else node.start_mark.line + 1
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node.start_mark.line + 1 if node is not None else None


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite YAML; :class:`SuiteConfigError` names ``file:line: key: problem``."""
    path = Path(path)
    if not path.is_file():
        raise SuiteConfigError(f"{path}: suite file does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteConfigError(f"{path}: malformed YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SuiteConfigError(f"{path}: expected a mapping of keys at the top level")
    try:
        return Suite.model_validate({**raw, "base_dir": path.parent.resolve(), "path": path.resolve()})
    except ValidationError as exc:
        problems = validation_problems(
            exc, str(path), noun="key", whole="(suite)", locate=lambda loc: _locate(text, loc)
        )
        lines = [str(p) for p in problems]
        raise SuiteConfigError("invalid suite config:\n" + "\n".join(lines)) from exc
