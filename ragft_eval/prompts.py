"""Prompt templates of the LLM-backed systems and of fine-tuning, in both API forms.

A :class:`Template` has a completion form and a chat form, and says how one maps to the other:

- **completions** (``/v1/completions``; the local demo model is a base model without a chat template):
  ``completion`` is a ``str.format`` string with the fields ``{context}`` (numbered passages; RAG only),
  ``{examples}`` (the few-shot block, may be empty), ``{question}`` and ``{prefix}`` (what the answer
  starts with: `` {`` for cases that expect JSON, so a small model starts an object).  Generation stops
  where the case's format ends (:func:`stop_for`): a one-line answer at the end of its block, and the
  answer is its first non-empty line (:func:`shape_answer`: a base model may start with a newline); a
  multi-line house format (a ``pattern`` that spans lines) and JSON at a blank line; code at a blank
  line pair or the next ``Question:``.
- **chat** (``/v1/chat/completions``): ``instructions`` is the system message; each few-shot example
  is a user turn (``Question: ...``) followed by an assistant turn (its answer); the last user turn is
  ``user`` (``{context}`` and ``{question}``).  The completion-only tricks have chat equivalents: the
  `` {`` prefill becomes a ``response_format`` (the case's JSON Schema where it has one, else a JSON
  object) and a line in the user turn asking for JSON; the newline stop becomes the end of the
  assistant's turn (no stop sequence).

A suite overrides a system's template with ``template:``: a string (the completion form; on a chat
model it is rendered with an empty prefix and sent as one user message) or a mapping with
``completion``, ``instructions`` and ``user``.  Every template's hash goes into the run manifest.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .hashing import content_hash
from .records import Case

_PROMPT_ONLY_INSTRUCTIONS = (
    "Answer the question in one short sentence. If you do not know the answer, reply exactly: I don't know."
)
_RAG_INSTRUCTIONS = (
    "Answer the question using only the context. If the context does not contain the answer, reply exactly: "
    "I don't know."
)
JSON_REQUEST = "Reply with one JSON object."


@dataclass(frozen=True)
class Template:
    """One prompt in its completion form and its chat form (see the module docstring)."""

    completion: str
    instructions: str | None = None
    user: str | None = None

    @property
    def has_chat_form(self) -> bool:
        return self.user is not None

    def as_dict(self) -> dict[str, str | None]:
        return {"completion": self.completion, "instructions": self.instructions, "user": self.user}


PROMPT_ONLY = Template(
    completion=_PROMPT_ONLY_INSTRUCTIONS + "\n\n{examples}Question: {question}\nAnswer:{prefix}",
    instructions=_PROMPT_ONLY_INSTRUCTIONS,
    user="Question: {question}",
)
RAG = Template(
    completion=_RAG_INSTRUCTIONS + "\n\nContext:\n{context}\n\n{examples}Question: {question}\nAnswer:{prefix}",
    instructions=_RAG_INSTRUCTIONS,
    user="Context:\n{context}\n\nQuestion: {question}",
)
JSON_PREFIX = " {"
TEXT_STOP = ("\n",)  # a suite's explicit one-line stop (``stop: ["\n"]``); the default is stop_for(case)
BLOCK_STOP = ("\n\n", "\nQuestion:", "\nAnswer:")  # the end of an answer block in the few-shot layout
JSON_STOP = BLOCK_STOP
# a multi-line format may itself have an "Answer:" line, and code has single blank lines inside
MULTILINE_STOP = ("\n\n", "\nQuestion:")
CODE_STOP = ("\n\n\n", "\nQuestion:")
REFUSAL = "I don't know."
FIELDS = ("context", "examples", "question", "prefix")
CHAT_FIELDS = ("context", "question")


def _check_fields(text: str, *, known: Sequence[str], required: set[str], setting: str) -> None:
    names = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    unknown = names - set(known)
    if unknown:
        raise TypeError(f"{setting}: unknown template field(s) {sorted(unknown)}; known: {list(known)}")
    if required - names:
        raise TypeError(f"{setting}: the template must contain {sorted(required - names)}")


def template_from_config(value: str | dict[str, Any] | None, default: Template, *, setting: str) -> Template:
    """The template a suite's ``template:`` gives (a completion string or a mapping), else ``default``."""
    if value is None:
        return default
    if isinstance(value, str):
        return Template(completion=value)
    if isinstance(value, dict):
        unknown = set(value) - {"completion", "instructions", "user"}
        if unknown or "completion" not in value:
            raise TypeError(f"{setting}: expected a string or a mapping with completion, instructions, user; "
                            f"got keys {sorted(value)}")  # fmt: skip
        return Template(**value)
    raise TypeError(f"{setting}: expected a string or a mapping, got {type(value).__name__}")


def check_template(template: Template, *, needs_context: bool, setting: str) -> None:
    """Raise TypeError (reported as a config error) when a template lacks a field or names an unknown one."""
    context = {"context"} if needs_context else set()
    _check_fields(template.completion, known=FIELDS, required={"question", "prefix"} | context, setting=setting)
    if template.user is not None:
        _check_fields(template.user, known=CHAT_FIELDS, required={"question"} | context, setting=f"{setting}.user")


def expects_json(case: Case) -> bool:
    return case.schema_ref is not None or (case.expected is not None and case.expected.json_value is not None)


def is_code(case: Case) -> bool:
    """A case whose answer is code (a ``code`` task: executed against the case's tests)."""
    return case.task_type == "code" or (case.expected is not None and case.expected.tests is not None)


def is_multiline(case: Case) -> bool:
    """A case whose answer spans lines: code, or a house format whose pattern spans lines (two lines,
    bullets), as the case's own question asks for."""
    pattern = case.expected.pattern if case.expected is not None else None
    return is_code(case) or (pattern is not None and ("\\n" in pattern or "\n" in pattern))


def stop_for(case: Case) -> tuple[str, ...]:
    """Where a completion for ``case`` ends: code at :data:`CODE_STOP`, a multi-line format at
    :data:`MULTILINE_STOP`, JSON at :data:`JSON_STOP`, a one-line answer at the end of its answer block
    (:data:`BLOCK_STOP`; it is then cut to its first line by :func:`shape_answer`)."""
    if is_code(case):
        return CODE_STOP
    if expects_json(case):
        return JSON_STOP
    return MULTILINE_STOP if is_multiline(case) else BLOCK_STOP


def shape_answer(case: Case, text: str) -> str:
    """The answer a completion gives: its first non-empty line for a one-line case (a base model may start
    with a newline, or go on past its answer), the whole text for JSON and multi-line formats."""
    text = text.strip()
    if expects_json(case) or is_multiline(case):
        return text
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def example_answer(case: Case) -> str:
    """The answer a few-shot example shows (and a fine-tune learns): the expected JSON, the whole answer in
    the case's format (``demonstration``: the house style, a reference solution), the reference answer,
    or a refusal."""
    if case.expected is not None and case.expected.json_value is not None:
        return " " + json.dumps(case.expected.json_value, ensure_ascii=False)
    if case.expected is not None and case.expected.demonstration is not None:
        demo = case.expected.demonstration
        return ("\n" if is_multiline(case) and "\n" in demo else " ") + demo
    if not case.answerable or case.expected is None or case.expected.answer is None:
        return " " + REFUSAL
    return " " + case.expected.answer


def examples_block(examples: Sequence[Case]) -> str:
    return "".join(f"Question: {ex.question}\nAnswer:{example_answer(ex)}\n\n" for ex in examples)


def context_block(texts: Sequence[str]) -> str:
    return "\n".join(f"[{i}] {t}" for i, t in enumerate(texts, 1))


def render(
    template: Template, case: Case, *, examples: Sequence[Case] = (), passages: Sequence[str] = ()
) -> tuple[str, str]:
    """``(prompt, prefix)``: the completion prompt for ``case``; the model's completion continues ``prefix``."""
    prefix = JSON_PREFIX if expects_json(case) else ""
    prompt = template.completion.format(
        context=context_block(passages), examples=examples_block(examples), question=case.question, prefix=prefix
    )
    return prompt, prefix.strip()


def render_chat(
    template: Template, case: Case, *, examples: Sequence[Case] = (), passages: Sequence[str] = ()
) -> list[dict[str, str]]:
    """The chat messages for ``case``: instructions, a user/assistant turn per example, then the question."""
    json_line = f"\n{JSON_REQUEST}" if expects_json(case) else ""
    if not template.has_chat_form:  # a completion-only template: the whole prompt as one user message
        text = template.completion.format(context=context_block(passages), examples=examples_block(examples),
                                          question=case.question, prefix="")  # fmt: skip
        return [{"role": "user", "content": text.rstrip() + json_line}]
    messages = [{"role": "system", "content": template.instructions}] if template.instructions else []
    for ex in examples:
        ex_json = f"\n{JSON_REQUEST}" if expects_json(ex) else ""
        messages.append({"role": "user", "content": f"Question: {ex.question}{ex_json}"})
        messages.append({"role": "assistant", "content": example_answer(ex).strip()})
    assert template.user is not None
    user = template.user.format(context=context_block(passages), question=case.question)
    messages.append({"role": "user", "content": user + json_line})
    return messages


def template_hash(template: Template, api: str = "completions") -> str:
    """The hash of the form ``api`` sends (the completion form hashes as it did before chat forms existed)."""
    if api == "completions" or not template.has_chat_form:
        return content_hash({"template": template.completion})
    return content_hash({"template": {"instructions": template.instructions, "user": template.user}})
