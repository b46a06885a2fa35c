"""Gate declarations: in the suite (``gates:``) or in a separate gates file, each with a name.

Kinds (``kind:``):

- ``threshold``: ``metric`` on ``system`` in ``slice`` must reach ``min`` (or stay under ``max``), judged
  on the mean or on the pessimistic bound of its CI (``on: mean | ci``);
- ``relative``: ``system`` not worse than ``than`` on ``metric``, by the paired test of the decision
  report (two-sided, Holm-corrected across the pairs the gate names);
- ``no_regression``: against a promoted baseline run, on the cases both share (same id and content hash),
  fails when ``system`` is worse by more than ``tolerance`` with one-sided significance at ``alpha``;
- ``non_inferiority``: passes only when ``system`` is *shown* no worse than the baseline by more than
  ``margin`` at confidence 1 - ``alpha`` (strict: with a small golden set it fails often, by design);
- ``errors``: error rate and unscored share at most ``max_error_rate`` / ``max_unscored`` (errors never
  silently leave a pass rate);
- ``budget``: ``p95_latency_s``, ``max_cost_per_query_usd``, ``max_total_cost_usd``.

The suite's ``max_error_rate`` is shorthand for an ``errors`` gate over every system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from ..errors import SuiteConfigError, validation_problems

Slice = str  # "(all)", "task_type=X" or "tag=Y"


class _Gate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class ThresholdGate(_Gate):
    kind: Literal["threshold"] = "threshold"
    metric: str
    system: str
    slice: Slice = "(all)"
    min: float | None = None
    max: float | None = None
    on: Literal["mean", "ci"] = "mean"

    @model_validator(mode="after")
    def _bound(self) -> ThresholdGate:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min or max")
        return self


class RelativeGate(_Gate):
    kind: Literal["relative"] = "relative"
    metric: str
    system: str
    than: str
    slice: Slice = "(all)"
    alpha: float = Field(default=0.05, gt=0, lt=1)


class NoRegressionGate(_Gate):
    kind: Literal["no_regression"] = "no_regression"
    metric: str
    system: str
    slice: Slice = "(all)"
    tolerance: float = Field(default=0.0, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)


class NonInferiorityGate(_Gate):
    kind: Literal["non_inferiority"] = "non_inferiority"
    metric: str
    system: str
    slice: Slice = "(all)"
    margin: float = Field(gt=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)


class ErrorsGate(_Gate):
    kind: Literal["errors"] = "errors"
    system: str | None = None  # None: every system
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    max_unscored: float | None = Field(default=None, ge=0, le=1)
    metric: str | None = None  # the unscored share of this metric (default: every metric's)

    @model_validator(mode="after")
    def _something(self) -> ErrorsGate:
        if self.max_error_rate is None and self.max_unscored is None:
            raise ValueError("give max_error_rate or max_unscored")
        return self


class BudgetGate(_Gate):
    kind: Literal["budget"] = "budget"
    system: str | None = None
    p95_latency_s: float | None = Field(default=None, gt=0)
    max_cost_per_query_usd: float | None = Field(default=None, ge=0)
    max_total_cost_usd: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something(self) -> BudgetGate:
        if self.p95_latency_s is None and self.max_cost_per_query_usd is None and self.max_total_cost_usd is None:
            raise ValueError("give p95_latency_s, max_cost_per_query_usd or max_total_cost_usd")
        return self


Gate = Annotated[
    ThresholdGate | RelativeGate | NoRegressionGate | NonInferiorityGate | ErrorsGate | BudgetGate,
    Field(discriminator="kind"),
]
_GATES = TypeAdapter(list[Gate])

BASELINE_KINDS = ("no_regression", "non_inferiority")


def parse_gates(raw: Any, *, source: str, prefix: tuple[str | int, ...] = ("gates",)) -> list[Gate]:
    """Validated gates from a YAML list; errors name the source, the gate's position and the key."""
    try:
        gates = _GATES.validate_python(raw or [])
    except ValidationError as exc:
        lines = [str(p) for p in validation_problems(exc, source, prefix=prefix, noun="key")]
        raise SuiteConfigError("invalid gates:\n" + "\n".join(lines)) from exc
    names = [g.name for g in gates]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SuiteConfigError(f"{source}: gates: duplicate gate name(s): {', '.join(dupes)}")
    return gates


def load_gates_file(path: str | Path) -> list[Gate]:
    """Gates from a separate file: a YAML mapping with a ``gates:`` list (or the list itself)."""
    path = Path(path)
    if not path.is_file():
        raise SuiteConfigError(f"{path}: gates file does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteConfigError(f"{path}: malformed YAML: {exc}") from exc
    if isinstance(raw, dict):
        raw = raw.get("gates")
    return parse_gates(raw, source=str(path))


def suite_gate_specs(suite_config: dict[str, Any], *, source: str) -> list[Gate]:
    """The gates a stored suite config declares, with ``max_error_rate`` as an ``errors`` gate."""
    gates = parse_gates(suite_config.get("gates"), source=source)
    rate = suite_config.get("max_error_rate", 1.0)
    if rate is not None and float(rate) < 1.0:
        gates.insert(0, ErrorsGate(name="max_error_rate", max_error_rate=float(rate)))
    return gates
