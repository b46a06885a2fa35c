"""Structured output: JSON extraction, JSON-Schema validity, and field-level match.

- :func:`extract_json` takes the answer as bare JSON, else the first fenced block (```json ... ```),
  else the outermost ``{...}`` or ``[...]`` span; anything else is "no parseable JSON".
- ``schema_valid`` validates with jsonschema under the draft the schema names in ``$schema``
  (draft 2020-12 when absent; draft 7 and others supported).  ``format`` is an annotation by default,
  as the specification says; ``format_assertion: true`` makes it an assertion.
- ``json_field_match`` compares leaf fields: the share of the expected JSON's leaf paths whose value
  in the answer is equal (strings compared after case-folding and trimming), in [0, 1].

An answer without parseable JSON scores 0 on all three (it is a failed structured answer, not an
undefined one); a case that expects no JSON is unscored.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import referencing.exceptions

from ..answers import extract_json, field_match
from ..golden import validator_for
from ..records import Case, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext


def schema_errors(instance: Any, schema: dict[str, Any], *, format_assertion: bool = False) -> list[str]:
    """Validation error messages (empty when valid), under the draft the schema declares."""
    cls = validator_for(schema if isinstance(schema, dict) else {})
    checker = cls.FORMAT_CHECKER if format_assertion else None
    validator = cls(schema, format_checker=checker)
    return [e.message for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.path))]


def _expects_json(case: Case) -> bool:
    return case.schema_ref is not None or (case.expected is not None and case.expected.json_value is not None)


class _StructuredMetric(BaseMetric):
    def parsed(self, response: Response) -> tuple[Any, str | None]:
        if response.parsed_json is not None or response.json_error is not None:
            return response.parsed_json, response.json_error
        return extract_json(response.answer)


@register("metric", "json_valid")
class JSONValid(_StructuredMetric):
    """1 if the answer holds parseable JSON (bare or fenced), else 0; unscored when no JSON is expected."""

    name = "json_valid"

    def undefined_reason(self, case: Case) -> str | None:
        return None if _expects_json(case) else "the case expects no JSON"

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        _, err = self.parsed(response)
        return self.scored(0.0, reason=err) if err else self.scored(1.0)


@register("metric", "schema_valid")
class SchemaValid(_StructuredMetric):
    """1 if the answer's JSON validates against the case's schema, else 0; unscored without a schema."""

    name = "schema_valid"

    def __init__(self, *, format_assertion: bool = False):
        self.format_assertion = format_assertion

    def undefined_reason(self, case: Case) -> str | None:
        return None if case.schema_ref is not None else "the case names no schema"

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        value, err = self.parsed(response)
        if err:
            return self.scored(0.0, reason=err)
        try:
            errors = schema_errors(
                value, ctx.golden_set.schemas[case.schema_ref], format_assertion=self.format_assertion
            )
        except (jsonschema.SchemaError, referencing.exceptions.Unresolvable, re.error) as exc:  # e.g. a remote $ref
            return self.unscored(f"schema cannot be applied: {exc}")
        return self.scored(0.0 if errors else 1.0, errors=errors[:5])


@register("metric", "json_field_match")
class JSONFieldMatch(_StructuredMetric):
    """Share of the expected JSON's leaf fields equal in the answer's JSON, in [0, 1]."""

    name = "json_field_match"

    def undefined_reason(self, case: Case) -> str | None:
        return (
            None
            if case.expected is not None and case.expected.json_value is not None
            else "the case has no expected JSON"
        )

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        value, err = self.parsed(response)
        if err:
            return self.scored(0.0, reason=err)
        share, missed = field_match(value, case.expected.json_value)
        return self.scored(share, missed=missed)


@register("metric", "format_match")
class FormatMatch(BaseMetric):
    """1 if the answer matches the case's house-format ``expected.pattern`` (``re.search``), else 0."""

    name = "format_match"

    def undefined_reason(self, case: Case) -> str | None:
        return None if case.expected is not None and case.expected.pattern else "the case states no house format"

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        ok = re.search(case.expected.pattern, (response.answer or "").strip()) is not None
        return self.scored(float(ok))
