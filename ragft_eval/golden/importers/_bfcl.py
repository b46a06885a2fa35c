"""Berkeley Function-Calling Leaderboard (BFCL) data -> function-call golden set with JSON Schemas.

``src`` is BFCL's ``bfcl_eval/data`` folder (imports ``BFCL_v4_simple_python.json``) or one category
file in it; the acceptable answers are read from ``possible_answer/<same file name>``.  Both are JSON
Lines: ``{"id", "question": [[{"role", "content"}]], "function": [{"name", "description",
"parameters"}]}`` and ``{"id", "ground_truth": [{<function name>: {<argument>: [acceptable values]}}]}``.

Mapping: each record -> a :class:`Case` with ``id`` the BFCL id, ``task_type: function_call``, ``input``
the question's messages (every turn, in order) as a :class:`Message` tuple, ``tags`` the category
(e.g. ``simple_python``) and ``schema`` a generated ``<id>.schema.json`` (draft 2020-12).  That schema
describes one call ``{"name": <const function name>, "arguments": {...}}`` (``anyOf`` over the
functions when several are offered; an array of exactly N calls when the answer has N calls, as in
the parallel categories).  BFCL parameter schemas are converted recursively: ``dict`` -> ``object``,
``float`` -> ``number``, ``tuple`` -> ``array``, ``any`` -> unconstrained, an ``enum`` of scalars on an
array moves to its ``items``; ``properties``, ``items``,
``required``, ``enum``, ``description``, ``default`` and standard bounds are kept, other keys dropped,
and the top-level arguments allow no extra keys.  ``expected.json`` is the first acceptable answer
taking, per argument, its first acceptable value other than ``""`` (``""`` marks an omittable argument;
an argument whose only value is ``""`` is left out); nested dicts are resolved the same way.  The full
ground truth goes into ``rubric`` as ``acceptable values: <json>``.  When the expected call does not
validate against the converted schema (BFCL data quirks: an int for a string, a value outside the
enum, an argument missing from the definition, a required argument omitted), the schema is relaxed
just enough (type widened, value added to the enum, property added, requirement dropped), the case
is tagged ``schema-relaxed`` and the description counts the relaxations.  Every case is in split
``test``; ``limit`` keeps the first N records.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema

from ...errors import InputError
from ...records import Case, Expected, Message
from .._load import GoldenSet
from .._write import write_golden_set
from ._common import check_dest, check_limit, field, manifest, plural, read_jsonl, require_file, unique

DEFAULT_FILE = "BFCL_v4_simple_python.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

_TYPES: dict[str, str | None] = {
    "dict": "object", "object": "object", "hashmap": "object",
    "float": "number", "double": "number", "number": "number",
    "integer": "integer", "int": "integer", "long": "integer",
    "string": "string", "str": "string", "char": "string",
    "boolean": "boolean", "bool": "boolean",
    "array": "array", "list": "array", "tuple": "array", "arraylist": "array",
    "null": "null", "any": None,
}  # fmt: skip
_KEEP = (
    "description", "enum", "const", "default", "format", "examples", "title",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minItems", "maxItems", "uniqueItems", "minLength", "maxLength",
)  # fmt: skip
_JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


def convert(node: Any) -> dict[str, Any]:
    """A BFCL parameter schema as standard JSON Schema (recursively; unknown types become unconstrained)."""
    if not isinstance(node, dict):
        return {}
    out: dict[str, Any] = {}
    raw = node.get("type")
    types = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    mapped = [_TYPES.get(str(t).lower()) for t in types]
    if mapped and None not in mapped:
        uniq = list(dict.fromkeys(t for t in mapped if t))
        out["type"] = uniq[0] if len(uniq) == 1 else uniq
    for key in _KEEP:
        if key in node:
            out[key] = node[key]
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: convert(v) for k, v in node["properties"].items()}
    if isinstance(node.get("required"), list):
        req = [r for r in node["required"] if isinstance(r, str)]
        if req:
            out["required"] = list(dict.fromkeys(req))
    if isinstance(node.get("items"), dict):
        out["items"] = convert(node["items"])
    enum = out.get("enum")
    if out.get("type") == "array" and isinstance(enum, list) and not any(isinstance(v, list) for v in enum):
        out.setdefault("items", {})["enum"] = out.pop("enum")  # BFCL puts an array's item enum on the array
    return out


def _call_schema(func: dict[str, Any], where: str) -> dict[str, Any]:
    fname = field(func, "name", where)
    args = convert(func.get("parameters") or {})
    args["type"] = "object"
    args["additionalProperties"] = False
    schema: dict[str, Any] = {"type": "object"}
    if isinstance(func.get("description"), str):
        schema["description"] = func["description"]
    schema["properties"] = {"name": {"const": fname}, "arguments": args}
    schema["required"] = ["name", "arguments"]
    schema["additionalProperties"] = False
    return schema


def _pick(alternatives: Any, schema: dict[str, Any]) -> tuple[bool, Any]:
    """The first acceptable value other than ``""`` (resolved recursively), or ``(False, None)`` to omit it.

    ``""`` marks an omittable argument, and for one an explicit ``null`` is the same as leaving it out.
    """
    if not isinstance(alternatives, list):
        return True, alternatives
    omittable = "" in alternatives
    for value in alternatives:
        if value != "" and not (omittable and value is None):  # null for an omittable argument = omitted
            return True, _resolve(value, schema)
    return False, None


def _resolve(value: Any, schema: dict[str, Any]) -> Any:
    if schema.get("type") == "object" and isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        props = schema.get("properties") or {}
        out = {}
        for key, alts in value.items():
            ok, picked = _pick(alts, props.get(key) or {})
            if ok:
                out[key] = picked
        return out
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(value, list) and isinstance(items, dict):
        return [_resolve(v, items) for v in value]
    return value


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPE.get(type(value), "string")


def _relax(schema: dict[str, Any], instance: Any) -> int:
    """Loosen ``schema`` in place until ``instance`` validates; the number of changes made."""
    changes = 0
    for _ in range(200):
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(instance))
        if not errors:
            return changes
        err = errors[0]
        *where, keyword = list(err.absolute_schema_path)
        node: Any = schema
        for step in where:
            node = node[step]
        if keyword == "type":
            have = node["type"] if isinstance(node["type"], list) else [node["type"]]
            node["type"] = [*have, _json_type(err.instance)]
        elif keyword == "enum":
            node["enum"] = [*node["enum"], err.instance]
        elif keyword == "required":
            node["required"] = [r for r in node["required"] if r in err.instance]
            if not node["required"]:
                del node["required"]
        elif keyword == "additionalProperties" and isinstance(err.instance, dict):
            props = node.setdefault("properties", {})
            for key in err.instance:
                props.setdefault(key, {})
        elif keyword == "const":
            raise ValueError(f"function name {err.instance!r} is not offered")
        else:
            del node[keyword]
        changes += 1
    raise ValueError("the schema could not be relaxed to fit the answer")


def _source(src: Path) -> tuple[Path, Path]:
    if src.is_dir():
        path = src / DEFAULT_FILE
        if not path.is_file():
            found = sorted(p.name for p in (src / "possible_answer").glob("BFCL_*.json"))
            hint = f"; pass one of these files instead: {', '.join(found)}" if found else ""
            raise InputError(f"{path}: BFCL category file not found{hint}")
    else:
        path = require_file(src, "BFCL category file")
    answers = path.parent / "possible_answer" / path.name
    if not answers.is_file():
        raise InputError(
            f"{answers}: possible answers not found (categories without them, such as irrelevance, cannot be imported)"
        )
    return path, answers


def _category(path: Path) -> str:
    return re.sub(r"^BFCL_v\d+_", "", path.stem)


def import_bfcl(src: str | Path, dest: str | Path, *, name: str | None = None, limit: int | None = None) -> GoldenSet:
    """Import a BFCL category into ``dest`` (see the module docstring for the mapping)."""
    src, dest = Path(src), Path(dest)
    check_limit(limit)
    path, answers_path = _source(src)
    check_dest(dest)
    category = _category(path)

    truths: dict[str, tuple[str, list[Any]]] = {}
    for lineno, obj in read_jsonl(answers_path):
        where = f"{answers_path}:{lineno}"
        truths[str(field(obj, "id", where, (str, int)))] = (where, field(obj, "ground_truth", where, list))

    cases: list[Case] = []
    schemas: dict[str, dict[str, Any]] = {}
    seen_ids: set[str] = set()
    schema_stems: set[str] = set()
    relaxations = relaxed_cases = no_answer = 0
    for lineno, obj in read_jsonl(path):
        if limit is not None and len(cases) >= limit:
            break
        where = f"{path}:{lineno}"
        case_id = str(field(obj, "id", where, (str, int)))
        if case_id in seen_ids:
            raise InputError(f"{where}: duplicate id {case_id!r}")
        seen_ids.add(case_id)
        if case_id not in truths:
            no_answer += 1
            continue
        twhere, truth = truths[case_id]

        messages = []
        for turn in field(obj, "question", where, list):
            for msg in turn if isinstance(turn, list) else [turn]:
                if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
                    raise InputError(f"{where}: question messages need a role of system, user or assistant")
                messages.append(Message(role=msg["role"], content=str(msg.get("content") or "")))
        if not messages:
            raise InputError(f"{where}: the question has no message")

        funcs = {}
        for func in field(obj, "function", where, list):
            if not isinstance(func, dict):
                raise InputError(f"{where}: each function must be an object")
            funcs[field(func, "name", where)] = _call_schema(func, where)

        calls = []
        changes = 0
        for call in truth:
            if not isinstance(call, dict) or len(call) != 1:
                raise InputError(f"{twhere}: each ground-truth call must be {{function name: {{argument: [values]}}}}")
            ((fname, args),) = call.items()
            if fname not in funcs or not isinstance(args, dict):
                raise InputError(f"{twhere}: ground truth calls {fname!r}, which the record does not offer")
            arg_schemas = funcs[fname]["properties"]["arguments"].get("properties") or {}
            arguments = {}
            for key, alts in args.items():
                ok, value = _pick(alts, arg_schemas.get(key) or {})
                if ok:
                    arguments[key] = value
            expected_call = {"name": fname, "arguments": arguments}
            try:
                changes += _relax(funcs[fname], expected_call)
            except ValueError as exc:
                raise InputError(f"{twhere}: {exc}") from None
            calls.append(expected_call)
        if not calls:
            raise InputError(f"{twhere}: empty ground truth")

        options = list(funcs.values())
        one = options[0] if len(options) == 1 else {"anyOf": options}
        if len(calls) == 1:
            schema, expected = {"$schema": DRAFT, **one}, calls[0]
        else:
            schema = {"$schema": DRAFT, "type": "array", "items": one, "minItems": len(calls), "maxItems": len(calls)}
            expected = calls
        schema_name = unique(re.sub(r"[^\w.-]", "_", case_id), schema_stems) + ".schema.json"
        schemas[schema_name] = schema
        relaxations += changes
        relaxed_cases += bool(changes)
        cases.append(
            Case(
                id=case_id,
                task_type="function_call",
                input=tuple(messages),
                expected=Expected(json_value=expected),
                schema_ref=schema_name,
                rubric="acceptable values: " + json.dumps(truth, ensure_ascii=False, separators=(", ", ": ")),
                tags=(category, "schema-relaxed") if changes else (category,),
            )
        )

    description = (
        f"BFCL category '{category}' ('{path.name}' with possible_answer/): {plural(len(cases), 'function-call case')}"
        + (f" (first {limit})" if limit is not None else "")
        + ". Each case's schema (schemas/<id>.schema.json) is generated from the BFCL function definitions"
        " (dict->object, float->number, tuple->array, any->unconstrained); expected.json is the first"
        " acceptable answer and the rubric lists every acceptable value. "
        f"{plural(relaxations, 'schema relaxation')} in {plural(relaxed_cases, 'case')} (tag schema-relaxed)"
        " let the expected answer validate despite BFCL data quirks"
        + (f"; {plural(no_answer, 'record')} without a possible answer skipped" if no_answer else "")
        + "."
    )
    return write_golden_set(
        dest, manifest=manifest(dest, name, description, "Apache-2.0"), cases=cases, schemas=schemas
    )
