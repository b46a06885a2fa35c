"""Load a golden-set folder and validate all of it, reporting every problem as ``file:line: field: message``."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import GoldenSetError, Problem, validation_problems
from ..hashing import content_hash
from ..records import Case, Document
from ._leakage import find_leaks

MANIFEST = "manifest.yaml"
CASES = "cases.jsonl"
CORPUS = "corpus.jsonl"
SCHEMAS = "schemas"

DEFAULT_REFUSAL_PATTERNS = (
    r"\bI (?:do not|don'?t) know\b",
    r"\b(?:can ?not|can't|unable to) (?:answer|find|tell)\b",
    r"\bnot (?:mentioned|covered|stated|specified|provided|available) in the\b",
    r"\bno (?:information|mention)\b",
    r"\binsufficient (?:information|context)\b",
)


class Manifest(BaseModel):
    """``manifest.yaml`` of a golden set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    description: str = ""
    licence: str = "unspecified"
    refusal_patterns: tuple[str, ...] = DEFAULT_REFUSAL_PATTERNS
    training_cutoff: date | None = None


@dataclass(frozen=True)
class GoldenSet:
    """A validated golden set: manifest, cases, corpus (all versions) and JSON Schemas."""

    path: Path
    manifest: Manifest
    cases: tuple[Case, ...]
    corpus: tuple[Document, ...] = ()
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def content_hash(self) -> str:
        """Hash of the parsed manifest, cases, corpus and schemas: equal on every machine for equal content."""
        return content_hash(
            {
                "manifest": self.manifest.model_dump(mode="json"),
                "cases": [c.model_dump(mode="json", by_alias=True) for c in self.cases],
                "corpus": [d.model_dump(mode="json") for d in self.corpus],
                "schemas": self.schemas,
            }
        )

    def select(self, *, splits: Iterable[str] | None = None, tags: Iterable[str] | None = None) -> list[Case]:
        """Cases in any of ``splits`` having any of ``tags`` (None: no filter), in file order."""
        splits_set = set(splits) if splits is not None else None
        tags_set = set(tags) if tags is not None else None
        return [
            c
            for c in self.cases
            if (splits_set is None or c.split in splits_set) and (tags_set is None or tags_set & set(c.tags))
        ]

    def corpus_as_of(self, when: date | None = None) -> list[Document]:
        """The corpus as it stood on ``when`` (None: the latest): each doc's newest version effective then.

        A document with ``metadata.supersedes`` replaces the document it names once its
        ``effective_date`` has come; documents not yet effective are left out.
        """

        def effective(doc: Document) -> date | None:
            raw = doc.metadata.get("effective_date")
            return date.fromisoformat(str(raw)) if raw else None

        live = [d for d in self.corpus if when is None or (effective(d) or date.min) <= when]
        superseded = {str(d.metadata["supersedes"]) for d in live if d.metadata.get("supersedes")}
        return [d for d in live if d.id not in superseded]


def _read_jsonl(path: Path, problems: list[Problem]) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                problems.append(
                    Problem(path.name, lineno, "(line)", f"malformed JSON: {exc.msg} at column {exc.colno}")
                )
                continue
            if not isinstance(obj, dict):
                problems.append(
                    Problem(path.name, lineno, "(line)", f"expected a JSON object, got {type(obj).__name__}")
                )
                continue
            yield lineno, obj


def validator_for(schema: dict[str, Any]) -> type[jsonschema.protocols.Validator]:
    """The validator class named by ``$schema``; draft 2020-12 when there is none."""
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)


def load_golden_set(path: str | Path) -> GoldenSet:
    """Load and validate the golden set at ``path``; raise :class:`GoldenSetError` with every problem found."""
    root = Path(path)
    problems: list[Problem] = []
    if not root.is_dir():
        raise GoldenSetError([Problem(str(root), None, "(folder)", "golden set folder does not exist")])

    manifest = _load_manifest(root, problems)
    schemas = _load_schemas(root, problems)
    corpus = _load_corpus(root, problems)
    doc_ids = {d.id for d in corpus}

    cases: list[Case] = []
    lines: dict[str, int] = {}
    cases_path = root / CASES
    if not cases_path.is_file():
        problems.append(Problem(CASES, None, "(file)", "missing: a golden set needs cases.jsonl"))
    else:
        for lineno, obj in _read_jsonl(cases_path, problems):
            try:
                case = Case.model_validate(obj)
            except ValidationError as exc:
                problems.extend(validation_problems(exc, CASES, lineno))
                continue
            if case.id in lines:
                problems.append(
                    Problem(CASES, lineno, "id", f"duplicate case id {case.id!r} (first at line {lines[case.id]})")
                )
                continue
            lines[case.id] = lineno
            if manifest is not None:
                case = case.model_copy(update={"golden_set": manifest.name})
            problems.extend(_check_case(case, lineno, doc_ids, schemas, has_corpus=bool(corpus)))
            cases.append(case)
        if not cases and not problems:
            problems.append(Problem(CASES, None, "(file)", "no cases"))

    for train_id, eval_id in find_leaks(cases):
        problems.append(
            Problem(
                CASES,
                lines[eval_id],
                "input",
                f"same input as train case {train_id!r} (line {lines[train_id]}) after normalising case, "
                "whitespace and punctuation: a train input must not appear in an evaluated split",
            )
        )
    if problems or manifest is None:
        raise GoldenSetError(problems)
    return GoldenSet(path=root, manifest=manifest, cases=tuple(cases), corpus=tuple(corpus), schemas=schemas)


def _load_manifest(root: Path, problems: list[Problem]) -> Manifest | None:
    path = root / MANIFEST
    if not path.is_file():
        problems.append(Problem(MANIFEST, None, "(file)", "missing: a golden set needs manifest.yaml"))
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(MANIFEST, mark.line + 1 if mark else None, "(file)", f"malformed YAML: {exc}"))
        return None
    if not isinstance(raw, dict):
        problems.append(Problem(MANIFEST, 1, "(file)", "expected a mapping"))
        return None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, MANIFEST))
        return None
    for i, pattern in enumerate(manifest.refusal_patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(Problem(MANIFEST, None, f"refusal_patterns.{i}", f"invalid regex {pattern!r}: {exc}"))
    return manifest


def _load_schemas(root: Path, problems: list[Problem]) -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    folder = root / SCHEMAS
    if not folder.is_dir():
        return schemas
    for path in sorted(folder.glob("*.json")):
        rel = f"{SCHEMAS}/{path.name}"
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            problems.append(Problem(rel, exc.lineno, "(file)", f"malformed JSON: {exc.msg}"))
            continue
        if not isinstance(schema, dict | bool):
            problems.append(Problem(rel, 1, "(file)", "a JSON Schema is an object or a boolean"))
            continue
        try:
            validator_for(schema if isinstance(schema, dict) else {}).check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            problems.append(Problem(rel, None, where, f"not a valid JSON Schema: {exc.message}"))
            continue
        schemas[path.name] = schema
    return schemas


def _load_corpus(root: Path, problems: list[Problem]) -> list[Document]:
    path = root / CORPUS
    if not path.is_file():
        return []
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for lineno, obj in _read_jsonl(path, problems):
        try:
            doc = Document.model_validate(obj)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, CORPUS, lineno))
            continue
        if doc.id in seen:
            problems.append(
                Problem(CORPUS, lineno, "id", f"duplicate doc id {doc.id!r} (first at line {seen[doc.id]})")
            )
            continue
        seen[doc.id] = lineno
        docs.append(doc)
    ids = set(seen)
    for doc in docs:
        sup = doc.metadata.get("supersedes")
        if sup is not None and sup not in ids:
            problems.append(Problem(CORPUS, seen[doc.id], "metadata.supersedes", f"unknown doc id {sup!r}"))
    return docs


def _check_case(
    case: Case, lineno: int, doc_ids: set[str], schemas: dict[str, Any], *, has_corpus: bool
) -> list[Problem]:
    out: list[Problem] = []
    for doc_id in case.relevant_docs:
        if not has_corpus:
            out.append(
                Problem(
                    CASES,
                    lineno,
                    f"relevant_docs.{doc_id}",
                    "relevance label but the golden set has no corpus.jsonl",
                )
            )
        elif doc_id not in doc_ids:
            out.append(
                Problem(
                    CASES,
                    lineno,
                    f"relevant_docs.{doc_id}",
                    f"unknown doc id {doc_id!r} (not in corpus.jsonl)",
                )
            )
    if case.schema_ref is not None:
        if case.schema_ref not in schemas:
            out.append(
                Problem(CASES, lineno, "schema", f"schema {case.schema_ref!r} not found in schemas/ (or invalid)")
            )
        elif case.expected is not None and case.expected.json_value is not None:
            schema = schemas[case.schema_ref]
            errors = sorted(validator_for(schema)(schema).iter_errors(case.expected.json_value), key=str)
            if errors:
                out.append(
                    Problem(
                        CASES,
                        lineno,
                        "expected.json",
                        f"does not validate against {case.schema_ref}: {errors[0].message}",
                    )
                )
    if case.expected is not None and case.expected.pattern is not None:
        try:
            re.compile(case.expected.pattern)
        except re.error as exc:
            out.append(Problem(CASES, lineno, "expected.pattern", f"invalid regex: {exc}"))
    tests = case.expected.tests if case.expected is not None else None
    if case.task_type == "code" and not tests:
        out.append(Problem(CASES, lineno, "expected.tests", "a code case needs expected.tests (test_* functions)"))
    if tests:
        out.extend(Problem(CASES, lineno, "expected.tests", message) for message in _test_source_problems(tests))
    if case.answerable and case.expected is None:
        out.append(Problem(CASES, lineno, "expected", "an answerable case needs expected (or set answerable: false)"))
    return out


def _test_source_problems(tests: str) -> list[str]:
    """What is wrong with a code case's test source: it must compile and define a test_* function."""
    try:
        compile(tests, "expected.tests", "exec")  # the whole compiler: some errors are not the parser's
    except (SyntaxError, ValueError) as exc:  # ValueError: a null byte, before Python 3.12
        line = f" at line {exc.lineno} of the tests" if getattr(exc, "lineno", None) else ""
        return [f"does not compile: {getattr(exc, 'msg', exc)}{line}"]
    names = [node.name for node in ast.parse(tests).body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not any(name.startswith("test_") for name in names):
        return ["defines no top-level test_* function"]
    return []
