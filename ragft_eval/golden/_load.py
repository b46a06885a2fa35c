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

# What an answer may name as the place the fact should have been: the context a RAG system was given,
# a document, the knowledge base, a filing.  Used only after a negation, so "the context says" is not a refusal.
_REFUSAL_SOURCE_WORDS = (
    r"context|documents?|documentation|docs|passages?|text|excerpts?|sources?|source material|articles?"
    r"|knowledge base|help[ -]cent(?:re|er)|information|data|material|reports?|filings?|statements?"
    r"|balance sheet|10-[KQ]|pages?|release notes|records?|snippets?|results"
)
_REFUSAL_SOURCE = "(?:" + _REFUSAL_SOURCE_WORDS + ")"
_REFUSAL_NEG = r"(?:do(?:es)? not|did not|do(?:es)?n['’]?t|didn['’]?t)"
# a first person who cannot: "I cannot", "we can't", "I'm unable to", "I wasn't able to", "I'm not in a position to"
_REFUSAL_I_CANNOT = (
    r"\b(?:I|we)(?:['’]m|['’]re| am| are| was| were)?\s+(?:\w+ly\s+)?"
    r"(?:can\s?not|can['’]?t|could not|couldn['’]?t|unable to|not able to|wasn['’]?t able to|weren['’]?t able to"
    r"|not in a position to)\s+"
)
# what a system cannot do when it lacks the fact (not "export" or "invite": "you cannot export" is an answer)
_REFUSAL_EPISTEMIC = (
    r"(?:answer|determine|calculate|compute|derive|provide|give|say|tell|confirm|verify|find|locate|state"
    r"|work out|establish|identify|access|see|know|offer|share|assess|ascertain|look up|retrieve|check|browse)"
)

DEFAULT_REFUSAL_PATTERNS = (
    # "I don't know", "I do not have (enough) information", "I didn't find", "I don't see any information"
    r"\bI\s+(?:do not|don['’]?t|did not|didn['’]?t)\s+(?:know|have|see|find|possess)\b",
    # "I'm not sure", "I am not certain", "I'm unsure", "I'm not aware of"
    r"\bI(?:['’]m| am)\s+(?:not\s+(?:sure|certain|aware)|unsure|uncertain)\b",
    # "I have no information / details / way of knowing / idea"
    r"\bI\s+(?:have|had)\s+no\s+(?:\w+\s+)?(?:information|data|details?|idea|way|knowledge|access|record|figures?)\b",
    # "I cannot calculate", "I'm unable to provide", "I couldn't find", "we can't determine", "I'm not able to tell"
    _REFUSAL_I_CANNOT + _REFUSAL_EPISTEMIC + r"\b",
    # "I'd need X to answer", "we would need the cash flow statement"
    r"\b(?:I|we)(?:['’]d| would)\s+need\b",
    # "As an AI (language model / assistant)", "I'm an AI"
    r"\bas an? (?:AI|artificial intelligence|(?:large )?language model|LLM)\b",
    r"\bI(?:['’]m| am) an AI\b",
    # "my training data does not include", "my knowledge has a cutoff"
    r"\bmy (?:training data|knowledge|training)\b(?:\s+\w+){0,2}?\s+(?:has a cut-?off|cut-?off|ends|"
    + _REFUSAL_NEG
    + ")",
    # the source lacks it: "the provided context does not include", "the text doesn't provide", "the documents
    # here do not list", "the docs don't (actually) say", "the articles don't seem to include"
    r"\b" + _REFUSAL_SOURCE + r"\b(?:\s+[\w'’-]+){0,4}?\s+" + _REFUSAL_NEG + r"\s+(?:\w+ly\s+|seem\s+to\s+)?"
    r"(?:say|mention|specify|state|include|contain|cover|provide|give|list|disclose|address|discuss|explain|show"
    r"|report|break (?:out|down)|indicate|offer|detail|have|relate|describe|reference|identify|tell|reveal)\b",
    # "the context lacks", "the balance sheet is missing", "is silent on", "is unclear on this point"
    r"\b" + _REFUSAL_SOURCE + r"\b(?:\s+[\w'’-]+){0,3}?\s+"
    r"(?:lacks?|(?:is|are) missing|(?:is|are) silent|(?:is|are) (?:unclear|vague) on)\b",
    # "says nothing about", "makes no mention", "contains no data", "provides no figures", "gives no indication"
    r"\b(?:says|mentions|contains|provides|gives|makes|offers|includes|has|have)\s+(?:no|nothing)\s+(?:\w+\s+)?"
    r"(?:about|on|regarding|mention|reference|indication|information|data|details?|figures?|article|numbers?)\b",
    # "none of the documents mention", "neither of the retrieved articles says", "none of them discuss"
    r"\b(?:none|neither)\s+of\s+(?:the|these|those|them)\b(?:\s+[\w-]+){0,3}?\s+(?:mention|say|discuss|cover|contain"
    r"|explain|specif|include|address|provide|list|state|give|describe)",
    # "nothing in the context indicates", "there's nothing in the knowledge base about", "there is nothing about"
    r"\bnothing in the\b(?:\s+\w+){0,2}?\s+" + _REFUSAL_SOURCE + r"\b",
    r"\bthere(?:['’]s| is)\s+nothing\s+(?:about|on|regarding|in)\b",
    # "there is no information about", "there's no mention of", "there isn't any data", "there are no details"
    r"\bthere(?:['’]s|\s+is|\s+are|\s+was|\s+were|\s+isn['’]t|\s+aren['’]t)\s+(?:no|any|not\s+(?:any|enough))\b"
    r"(?:\s+[\w-]+){0,3}?\s+(?:information|mention|data|details?|reference|indication|figures?|record)\b(?!\s+loss)",
    # "no information regarding X", "no details are given", "no relevant information was found", "no answer found"
    r"\bno\s+(?:relevant\s+|specific\s+|such\s+)?(?:information|data|details|mention|reference|indication|answer)\s+"
    r"(?:about|on|regarding|concerning|is|are|was|were|found)\b(?!\s+(?:shared|sold|sent|stored|collected|lost|kept))",
    # not said where it should be: "not mentioned in the knowledge base", "isn't stated anywhere", "not available
    # in the provided context" (but not "not available on the Free plan" or "not available after 14 days")
    r"(?:\bnot|n['’]t)\s+(?:\w+ly\s+)?(?:specified|stated|mentioned|given|disclosed|documented|provided|reported"
    r"|addressed|discussed|indicated|described|covered|included|listed|available|found|shown|published|present"
    r"|contained|known)\s+(?:anywhere|to me|to us|(?:in|within|by|from)\s+(?:the\s+|these\s+|this\s+|any\s+|those\s+)?"
    r"(?:\w+\s+){0,2}?" + _REFUSAL_SOURCE + r")\b",
    # not said, at the end of a clause: "is not specified.", "Data not provided.", "which are not given, so"
    r"\bnot\s+(?:\w+ly\s+)?(?:specified|stated|mentioned|given|disclosed|documented|provided|reported|known)"
    r"(?=\s*(?:[.;,!?)]|$))",
    # "cannot be determined", "can't be calculated", "could not be found" (not "cannot be undone/recovered")
    r"\b(?:can\s?not|can['’]?t|could not|couldn['’]?t)\s+be\s+(?:\w+ly\s+)?(?:determined|calculated|computed|derived"
    r"|answered|established|found|confirmed|verified|ascertained|identified|inferred|known|worked out)\b",
    # "not possible to determine", "impossible to tell", "not computable", "not answerable"
    r"\b(?:not possible|impossible) to (?:determine|calculate|compute|answer|say|tell|know|derive|establish|give)\b",
    r"\b(?:not\s+|un)(?:computable|calculable|determinable|answerable|derivable)\b",
    # "not clear from the context", "unclear from", "not evident from the documents"
    r"\b(?:not (?:clear|evident|apparent|obvious)|unclear) (?:from|in|based on)\b",
    # "not enough information", "insufficient context", "the context is insufficient", "not sufficient to answer"
    r"\b(?:not enough|insufficient|inadequate|not sufficient)\s+(?:\w+\s+)?(?:information|context|data|details)\b",
    r"\b(?:information|context|data|details|evidence)\s+(?:provided\s+|given\s+)?(?:is|are)\s+(?:insufficient"
    r"|inadequate|not (?:sufficient|enough))\b",
    r"\b(?:insufficient|inadequate|not sufficient|not enough) to (?:answer|determine|calculate|compute|give|say)\b",
    # "the answer is unknown", "the answer isn't in the provided context", "the answer is not contained"
    r"\banswer (?:is|was)\s+(?:unknown|not (?:known|available|contained|included|present|in))\b",
    r"\banswer isn['’]t (?:in|known|available|contained)\b",
    # "absent from the passages", "missing from the context" (not "missing from the toolbar")
    r"\b(?:absent|missing) (?:from|in) (?:the|these|this)\s+(?:\w+\s+){0,2}?" + _REFUSAL_SOURCE + r"\b",
    # "outside the scope of the provided documents", "outside what the knowledge base covers"
    r"\b(?:outside|beyond)\s+(?:the\s+scope\s+of|what)\s+(?:the\s+|these\s+|this\s+|my\s+)?(?:\w+\s+)?"
    r"(?:" + _REFUSAL_SOURCE_WORDS + r"|knowledge|training)\b",
    # "that isn't something the documents cover", "this is not something I can help with"
    r"\b(?:is not|isn['’]t) (?:something|anything) (?:that )?(?:I|we|(?:the|these|this)\s+(?:\w+\s+)?"
    + _REFUSAL_SOURCE
    + r")\b",
    # "I can't help with that", "I'm afraid I can't help"
    r"\bcan['’]?t help with\b|\bcannot help with\b",
    # the answer opens with a bare non-answer: "N/A", "Unknown.", "Not sure, sorry.", "Answer: unknown"
    # (a clause must end there: "N/A values are exported as blanks" and "Unknown senders ..." are answers)
    r"^\W*(?:answer:\s*)?(?:n/?a|unknown|unclear|not sure|no idea|not available|can['’]?t say|no comment)"
    r"(?:\s*[.,;:!]|\s*$)",
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
