"""Completion-style prompt templates owned by the LLM-backed systems.

Gemma 3 270M is a base model without a chat template, so the systems build plain-text prompts.  A
template is a ``str.format`` string with the fields ``{context}`` (numbered passages; RAG only),
``{examples}`` (the few-shot block, may be empty), ``{question}`` and ``{prefix}`` (what the answer
starts with: `` {`` for cases that expect JSON, so a small model starts an object).  A suite overrides
them with ``template:``; every template's hash goes into the run manifest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..hashing import content_hash
from ..records import Case

PROMPT_ONLY = (
    "Answer the question in one short sentence. If you do not know the answer, reply exactly: I don't know.\n\n"
    "{examples}Question: {question}\nAnswer:{prefix}"
)
RAG = (
    "Answer the question using only the context. If the context does not contain the answer, reply exactly: "
    "I don't know.\n\nContext:\n{context}\n\n{examples}Question: {question}\nAnswer:{prefix}"
)
JSON_PREFIX = " {"
TEXT_STOP = ("\n",)
JSON_STOP = ("\n\n", "\nQuestion:", "\nAnswer:")
REFUSAL = "I don't know."
FIELDS = ("context", "examples", "question", "prefix")


def check_template(template: str, *, needs_context: bool, setting: str) -> None:
    """Raise TypeError (reported as a config error) when a template lacks a field or names an unknown one."""
    import string

    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    unknown = names - set(FIELDS)
    if unknown:
        raise TypeError(f"{setting}: unknown template field(s) {sorted(unknown)}; known: {list(FIELDS)}")
    required = {"question", "prefix"} | ({"context"} if needs_context else set())
    if required - names:
        raise TypeError(f"{setting}: the template must contain {sorted(required - names)}")


def expects_json(case: Case) -> bool:
    return case.schema_ref is not None or (case.expected is not None and case.expected.json_value is not None)


def example_answer(case: Case) -> str:
    """The answer a few-shot example shows: the expected JSON, the reference answer, or a refusal."""
    if case.expected is not None and case.expected.json_value is not None:
        return " " + json.dumps(case.expected.json_value, ensure_ascii=False)
    if not case.answerable or case.expected is None or case.expected.answer is None:
        return " " + REFUSAL
    return " " + case.expected.answer


def examples_block(examples: Sequence[Case]) -> str:
    return "".join(f"Question: {ex.question}\nAnswer:{example_answer(ex)}\n\n" for ex in examples)


def context_block(texts: Sequence[str]) -> str:
    return "\n".join(f"[{i}] {t}" for i, t in enumerate(texts, 1))


def render(
    template: str, case: Case, *, examples: Sequence[Case] = (), passages: Sequence[str] = ()
) -> tuple[str, str]:
    """``(prompt, prefix)``: the prompt for ``case``; the model's completion continues ``prefix``."""
    prefix = JSON_PREFIX if expects_json(case) else ""
    prompt = template.format(
        context=context_block(passages), examples=examples_block(examples), question=case.question, prefix=prefix
    )
    return prompt, prefix.strip()


def template_hash(template: str) -> str:
    return content_hash({"template": template})
