"""The records that flow through ragft-eval: Case -> Response -> MetricResult -> CaseResult, and RunManifest.

Every record is a frozen pydantic model with a ``schema_version`` so the store and reports can migrate
old rows, and every record round-trips through JSON (``model_dump_json`` / ``model_validate_json``).
A record read with an older ``schema_version`` is upgraded on validation, one version at a time, by its
class's ``_UPGRADES`` (version -> function of the raw dict); a newer version than this code knows is
refused with a message rather than misread.
A MetricResult carries a ``status``: ``scored`` (``value`` is a finite number), ``unscored`` (the
metric is undefined for this case; ``reason`` says why) or ``error`` (the system, or the judge, failed
on the case; ``reason`` says how).  NaN never enters a record: validation rejects it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1
MANIFEST_SCHEMA_VERSION = 2

Status = Literal["scored", "unscored", "error"]
# What a system's responses may record besides the answer (a system's ``records``, a metric's ``needs``):
# ``retrieved`` docs, the ``context`` given to the model, the ``route`` a routed system took.
RECORDABLE = frozenset({"retrieved", "context", "route"})
Split = Literal["train", "dev", "test"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # version -> upgrade of a raw dict from that version to the next; records at version 1 need none
    _UPGRADES: ClassVar[dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "schema_version" not in cls.model_fields:
            return data
        current = cls.model_fields["schema_version"].default
        version = data.get("schema_version", current)
        if not isinstance(version, int) or version > current:
            raise ValueError(f"{cls.__name__}: schema_version {version!r} is newer than this ragft-eval ({current})")
        while version < current:
            data = {**cls._UPGRADES[version](data), "schema_version": version + 1}
            version += 1
        return data


class Message(_Record):
    """One chat message of a case's input."""

    role: Literal["system", "user", "assistant"]
    content: str


class Expected(_Record):
    """What a correct answer looks like.

    ``answer`` and ``aliases`` for text answers (scored by the max over all of them), ``json_value``
    (key ``json`` in files) for structured answers, ``pattern`` for a house format the answer must match.
    ``demonstration`` is a whole answer as the case asks for it (in the house format, or a reference
    solution to a code case): what fine-tuning trains on and few-shot examples show, where ``answer`` is
    only the key fact that scoring looks for.  ``tests`` is the Python test source a ``code`` case's
    answer is executed against (``test_*`` functions that import the answer from module ``solution``).
    """

    answer: str | None = None
    aliases: tuple[str, ...] = ()
    json_value: Any = Field(default=None, alias="json")
    pattern: str | None = None
    # added after golden sets were first hashed: left out of dumps while unset, so a set that does not
    # use them keeps its content hash (and its resumable runs)
    demonstration: str | None = Field(default=None, exclude_if=lambda v: v is None)
    tests: str | None = Field(default=None, exclude_if=lambda v: v is None)

    @property
    def answers(self) -> tuple[str, ...]:
        """The reference answer followed by its accepted aliases."""
        return ((self.answer,) if self.answer is not None else ()) + tuple(self.aliases)


class Case(_Record):
    """One golden-set case. ``relevant_docs`` maps doc id -> graded relevance (>= 1 is relevant)."""

    schema_version: int = SCHEMA_VERSION
    id: str
    task_type: str
    input: str | tuple[Message, ...]
    expected: Expected | None = None
    relevant_docs: dict[str, int] = Field(default_factory=dict)
    schema_ref: str | None = Field(default=None, alias="schema")
    rubric: str | None = None
    tags: tuple[str, ...] = ()
    split: Split = "test"
    answerable: bool = True
    as_of: date | None = None
    golden_set: str = Field(default="", exclude=True)  # set by the loader; not part of the case file

    @property
    def question(self) -> str:
        """The input as plain text: the string, or the last user message of a chat input."""
        if isinstance(self.input, str):
            return self.input
        users = [m.content for m in self.input if m.role == "user"]
        return users[-1] if users else self.input[-1].content


class Document(_Record):
    """One corpus document; ``metadata`` may hold version, effective_date, supersedes, section."""

    id: str
    title: str = ""
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class RetrievedDoc(_Record):
    """One retrieved document in rank order (rank 1 first); ``score`` is None when the system reports none."""

    doc_id: str
    score: float | None = None  # absent, not 0.0: a made-up score would read as a measurement
    rank: int


class Usage(_Record):
    """Token usage of every model call the system made for a case (None when not reported)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    calls: int = 0


class ErrorInfo(_Record):
    """Why a system (stage ``system``), the harness's timeout (``timeout``) or a judge (``judge``) failed."""

    type: str
    message: str
    stage: Literal["system", "timeout", "judge"] = "system"


class Response(_Record):
    """What a system returned for one case.

    ``latency_s`` is the time the system itself took (queueing inside the harness excluded);
    ``context`` is the exact text given to the model; ``parsed_json`` is filled for cases that
    expect JSON (None with ``json_error`` when the answer holds no parseable JSON).
    """

    schema_version: int = SCHEMA_VERSION
    case_id: str
    system: str
    answer: str | None = None
    parsed_json: Any = None
    json_error: str | None = None
    retrieved: tuple[RetrievedDoc, ...] | None = None
    context: str | None = None
    usage: Usage = Usage()
    latency_s: float | None = None
    cost_usd: float | None = None
    model: dict[str, str] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None

    @model_validator(mode="after")
    def _finite(self) -> Response:
        for name in ("latency_s", "cost_usd"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
        return self

    @property
    def failed(self) -> bool:
        return self.error is not None


class MetricResult(_Record):
    """One metric's result for one (system, case).

    ``value`` is set iff ``status == "scored"``; quality metrics lie in [0, 1]; ``unit`` names the unit
    of operational metrics (``s``, ``tokens``, ``usd``).
    """

    schema_version: int = SCHEMA_VERSION
    metric: str
    status: Status
    value: float | None = None
    reason: str | None = None
    unit: str = "ratio"
    higher_is_better: bool = True
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> MetricResult:
        if self.status == "scored":
            if self.value is None or not math.isfinite(self.value):
                raise ValueError(f"metric {self.metric}: a scored result needs a finite value, got {self.value}")
        else:
            if self.value is not None:
                raise ValueError(f"metric {self.metric}: a {self.status} result has no value, got {self.value}")
            if not self.reason:
                raise ValueError(f"metric {self.metric}: a {self.status} result needs a reason")
        return self

    @classmethod
    def scored(cls, metric: str, value: float, **kw: Any) -> MetricResult:
        return cls(metric=metric, status="scored", value=float(value), **kw)

    @classmethod
    def unscored(cls, metric: str, reason: str, **kw: Any) -> MetricResult:
        return cls(metric=metric, status="unscored", reason=reason, **kw)

    @classmethod
    def error(cls, metric: str, reason: str, **kw: Any) -> MetricResult:
        return cls(metric=metric, status="error", reason=reason, **kw)


class CaseResult(_Record):
    """Everything about one (system, case): the response and every metric's result."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    system: str
    case_id: str
    golden_set: str
    task_type: str
    tags: tuple[str, ...] = ()
    response: Response
    results: tuple[MetricResult, ...]


# The judged metrics of schema-1 manifests (which did not record it): every judged metric of that version.
_JUDGED_V1 = ("judge_grade", "judge_style", "judge_pairwise", "faithfulness")


def _manifest_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 recorded no metric list, golden-set versions, case hashes or judge identity: derive the
    metric list from the stored suite config (what schema 1 knew), leave the rest unknown (empty)."""
    metrics: dict[str, dict[str, Any]] = {}
    for spec in (data.get("suite_config") or {}).get("metrics", []):
        kind = spec.get("metric", "")
        name = f"judge_pairwise_vs_{spec['baseline']}" if kind == "judge_pairwise" and "baseline" in spec else kind
        metrics[name] = {"kind": kind, "judged": kind in _JUDGED_V1, "baseline": spec.get("baseline")}
    return {**data, "metrics": metrics}


class RunManifest(_Record):
    """What a run was built from, in a form two runs can be diffed by: enough to reproduce it and to
    refuse a resume that would mix two different runs.

    ``suite_config`` and ``systems`` (each system's config, model ids, served-model and adapter hashes,
    template hashes), ``retrievers`` (settings and index hashes), ``golden_sets`` (name -> content hash),
    ``golden_set_versions`` (name -> version), ``case_hashes`` (golden set -> case id -> content hash,
    for the selected cases), ``metrics`` (name -> kind, unit, direction, judged, baseline), ``judge`` and
    ``judge_identity`` (what calibrations are keyed by), ``judges`` (the named judges metrics use, each
    with its description and identity), ``package_versions``.
    """

    _UPGRADES: ClassVar[dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {1: _manifest_v1_to_v2}

    schema_version: int = MANIFEST_SCHEMA_VERSION
    run_id: str
    created_at: str
    suite_name: str
    suite_path: str | None = None
    suite_hash: str
    suite_config: dict[str, Any]
    golden_sets: dict[str, str]
    golden_set_versions: dict[str, str] = Field(default_factory=dict)
    case_hashes: dict[str, dict[str, str]] = Field(default_factory=dict)
    selection: dict[str, Any]
    systems: dict[str, dict[str, Any]]
    retrievers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    judge: dict[str, Any] = Field(default_factory=dict)
    judge_identity: str | None = None
    # the judges of ``judges:`` that metrics name: name -> {"describe": ..., "identity": ...}
    judges: dict[str, dict[str, Any]] = Field(default_factory=dict)
    package_versions: dict[str, str]
    bootstrap: dict[str, int]
    python: str


class OneTimeWork(_Record):
    """Work the harness itself did for a run, once, before the cases: a fine-tune, an index build (with
    its embeddings).  ``reused`` work was found in the cache, done by an earlier run (this run paid
    nothing for it); ``seconds`` is the work's time: a fine-tune's training (for a reused one, that of the
    run that trained it), an index's build (for a reused one, loading it).  ``usd`` is the seconds at the
    machine's price (``usd_per_hour`` of the suite's local models; None: not priced)."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["finetune", "index"]
    name: str
    seconds: float | None = Field(default=None, ge=0)
    reused: bool = False
    usd: float | None = Field(default=None, ge=0)
    detail: dict[str, Any] = Field(default_factory=dict)

    def priced(self, usd_per_hour: float | None) -> OneTimeWork:
        """This work with its cost at ``usd_per_hour`` (unchanged when either is unknown)."""
        if usd_per_hour is None or self.seconds is None:
            return self
        return self.model_copy(update={"usd": usd_per_hour * self.seconds / 3600})

