"""Structured output: extract_json, schema_errors (drafts, format annotation vs assertion), field_match,
and the json_valid / schema_valid / json_field_match / format_match metrics."""

from __future__ import annotations

import asyncio
import doctest
from pathlib import Path
from typing import Any

import pytest

from ragft_eval.golden import GoldenSet, Manifest
from ragft_eval.metrics import ScoreContext, extract_json, field_match, schema_errors
from ragft_eval.metrics.structured import FormatMatch, JSONFieldMatch, JSONValid, SchemaValid
from ragft_eval.records import Case, Expected, MetricResult, Response
from ragft_eval.registry import create

DRAFT7 = "http://json-schema.org/draft-07/schema#"
DRAFT2020 = "https://json-schema.org/draft/2020-12/schema"

PERSON = {
    "$schema": DRAFT2020,
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "email": {"type": "string", "format": "email"},
    },
    "required": ["name", "age"],
}
SCHEMAS = {
    "person.json": PERSON,
    "person7.json": {**PERSON, "$schema": DRAFT7},
    "unresolvable.json": {"$ref": "http://example.com/not-there.json"},
}
CTX = ScoreContext(
    golden_set=GoldenSet(path=Path("."), manifest=Manifest(name="structured", version="1"), cases=(), schemas=SCHEMAS)
)


def case(*, schema: str | None = None, json_value: Any = None, pattern: str | None = None, **kw) -> Case:
    fields: dict[str, Any] = {}
    if json_value is not None:
        fields["json"] = json_value
    if pattern is not None:
        fields["pattern"] = pattern
    expected = Expected.model_validate(fields) if fields else None
    return Case(id="c1", task_type="json", input="q?", expected=expected, schema=schema, **kw)


def response(answer: str | None = None, **kw) -> Response:
    return Response(case_id="c1", system="s", answer=answer, **kw)


def score(metric, c: Case, r: Response) -> MetricResult:
    return asyncio.run(metric.score(c, r, CTX))


# --- extract_json ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  [1, 2, {"b": null}]\n', [1, 2, {"b": None}]),
        ('"just a string"', "just a string"),
        ("42", 42),
        ('Here: ```json\n{"a": 1}\n```', {"a": 1}),
        ('```JSON\n{"a": [true, false]}\n```', {"a": [True, False]}),
        ('```\n{"a": 1}\n```', {"a": 1}),  # a fence without a language
        ('Result:\n```json\n{"a": 1,}\n```\nor rather\n```json\n{"a": 2}\n```', {"a": 2}),  # first that parses
        ('Sure! {"a": {"b": [1, 2]}} Hope this helps.', {"a": {"b": [1, 2]}}),
        ("The list is [1, 2, 3].", [1, 2, 3]),
        ('Prefix text\n{\n  "multi": "line"\n}\nsuffix', {"multi": "line"}),
    ],
)
def test_extract_json_finds_the_json(text, want):
    assert extract_json(text) == (want, None)


def test_extract_json_null_is_json_not_an_error():
    assert extract_json("null") == (None, None)


@pytest.mark.parametrize("text", [None, "", "   \n\t"])
def test_extract_json_empty(text):
    assert extract_json(text) == (None, "empty answer")


def test_extract_json_trailing_comma_reports_the_decoder_message():
    assert extract_json('{"a": 1,}') == (
        None,
        "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 9",
    )


@pytest.mark.parametrize(
    "text",
    [
        "no json at all",
        "{'a': 1}",  # Python, not JSON
        'Here: {"a": 1,} thanks',
        '```json\n{"a": }\n```',
        "{ unbalanced",
    ],
)
def test_extract_json_malformed(text):
    value, err = extract_json(text)
    assert value is None
    assert err is not None and err.startswith("malformed JSON: ")
    assert " at line " in err and " column " in err


def test_answer_reading_doctests_pass():
    from ragft_eval import answers

    result = doctest.testmod(answers, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# --- schema_errors ---------------------------------------------------------------------------------------


def test_schema_errors_valid_and_invalid():
    assert schema_errors({"name": "Ada", "age": 36}, PERSON) == []
    errors = schema_errors({"name": 1, "age": -1}, PERSON)
    assert len(errors) == 2 and all(isinstance(e, str) for e in errors)
    assert schema_errors({}, PERSON) == ["'name' is a required property", "'age' is a required property"]


def test_schema_errors_are_sorted_by_instance_path():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "array", "items": {"type": "string"}}},
    }
    errors = schema_errors({"b": ["x", 1, 2], "a": "no"}, schema)
    assert errors == ["'no' is not of type 'integer'", "1 is not of type 'string'", "2 is not of type 'string'"]


@pytest.mark.parametrize(("schema", "want"), [(True, []), (False, ["False schema does not allow 'x'"])])
def test_schema_errors_boolean_schemas(schema, want):
    assert schema_errors("x", schema) == want


def test_draft7_tuple_items_follow_the_declared_draft():
    tuple7 = {"$schema": DRAFT7, "items": [{"type": "integer"}, {"type": "string"}]}
    assert schema_errors([1, "a"], tuple7) == []
    assert schema_errors(["a", 1], tuple7) != []
    # prefixItems is not a draft 7 keyword: ignored there
    assert schema_errors(["a", 1], {"$schema": DRAFT7, "prefixItems": [{"type": "integer"}]}) == []


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "default"])
def test_draft2020_is_the_default(declared):
    schema = {"prefixItems": [{"type": "integer"}, {"type": "string"}], "dependentRequired": {"a": ["b"]}}
    if declared:
        schema["$schema"] = DRAFT2020
    assert schema_errors([1, "a"], schema) == []
    assert schema_errors(["a", 1], schema) != []
    assert schema_errors({"a": 1}, schema) == ["'b' is a dependency of 'a'"]


def test_draft7_ignores_2020_keywords():
    assert schema_errors({"a": 1}, {"$schema": DRAFT7, "dependentRequired": {"a": ["b"]}}) == []
    assert schema_errors({"a": 1}, {"$schema": DRAFT7, "dependencies": {"a": ["b"]}}) != []


@pytest.mark.parametrize("draft", [DRAFT7, DRAFT2020])
def test_format_is_an_annotation_unless_asserted(draft):
    schema = {"$schema": draft, "type": "string", "format": "email"}
    assert schema_errors("not-an-email", schema) == []
    assert schema_errors("not-an-email", schema, format_assertion=True) == ["'not-an-email' is not a 'email'"]
    assert schema_errors("ada@example.org", schema, format_assertion=True) == []


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date", "2024-02-29", "2023-02-29"),
        ("date-time", "2024-05-01T12:30:00Z", "2024-05-01 12:30"),
        ("time", "12:30:00+02:00", "25:00:00Z"),
        ("duration", "P1DT2H", "1 day"),
        ("ipv4", "192.168.0.1", "256.1.1.1"),
        ("ipv6", "::1", "12345::"),
        ("hostname", "example.org", "-bad-.org"),
        ("idn-hostname", "bücher.example", "-bad-.org"),
        ("uri", "https://example.org/a?b=1", "not a uri"),
        ("uri-reference", "../a/b", "\\\\bad"),
        ("iri", "https://例え.jp/パス", "no scheme"),
        ("uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380", "2eb8aa08-aa98-11ea-b4aa"),
        ("json-pointer", "/a/b~1c", "a/b"),
        ("relative-json-pointer", "1/a", "/a"),
        ("regex", "^a+$", "(unclosed"),
        ("uri-template", "https://example.org/{id}", "https://example.org/{id"),
    ],
)
def test_format_checkers_are_installed_for_assertion(fmt, good, bad):
    """``format_assertion`` only helps if jsonschema has a checker for the format (jsonschema[format-nongpl])."""
    schema = {"$schema": DRAFT2020, "type": "string", "format": fmt}
    assert schema_errors(good, schema, format_assertion=True) == []
    assert schema_errors(bad, schema, format_assertion=True) != []
    assert schema_errors(bad, schema) == []


# --- field_match -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "expected", "share", "missed"),
    [
        ({"a": 1}, {"a": 1}, 1.0, []),
        (  # nested objects; strings compared after trimming and case-folding
            {"name": " ada LOVELACE ", "address": {"city": "LONDON", "zip": "N2"}},
            {"name": "Ada Lovelace", "address": {"city": "London", "zip": "N1"}},
            2 / 3,
            ["/address/zip"],
        ),
        ({"street": "STRASSE"}, {"street": "Straße"}, 1.0, []),  # casefold, not lower
        ({"tags": ["A"]}, {"tags": ["a", "b"]}, 0.5, ["/tags/1"]),
        ({"tags": ["a", "b", "c"]}, {"tags": ["a", "b"]}, 1.0, []),  # extra list items are not penalised
        ({"tags": ["b", "a"]}, {"tags": ["a", "b"]}, 0.0, ["/tags/0", "/tags/1"]),  # lists are positional
        ({"items": [{"sku": "X", "qty": 2.0}]}, {"items": [{"sku": "x", "qty": 2}]}, 1.0, []),  # 2 == 2.0
        ({"ok": 1}, {"ok": True}, 0.0, ["/ok"]),  # bool vs int: not equal
        ({"n": True}, {"n": 1}, 0.0, ["/n"]),
        ({"n": False}, {"n": 0}, 0.0, ["/n"]),
        ({"ok": True}, {"ok": True}, 1.0, []),
        ({"a": 1}, {"a": "1"}, 0.0, ["/a"]),  # number vs string
        ({}, {"a": 1, "b": {"c": 2}}, 0.0, ["/a", "/b/c"]),  # missing fields
        ({"a": 1, "extra": 9}, {"a": 1}, 1.0, []),  # extra fields are not penalised
        ({"a": None}, {"a": None}, 1.0, []),
        ({}, {"a": None}, 0.0, ["/a"]),  # a missing field is not a null one
        ({"a": []}, {"a": []}, 1.0, []),  # empty containers are leaves
        ({"a": {}}, {"a": []}, 0.0, ["/a"]),
        ([1, {"x": "y"}], [1, {"x": "Y"}], 1.0, []),  # top-level list
        (5, 5, 1.0, []),  # top-level scalar
        ("str", {"a": 1}, 0.0, ["/a"]),
    ],
)
def test_field_match(predicted, expected, share, missed):
    got_share, got_missed = field_match(predicted, expected)
    assert got_share == pytest.approx(share)
    assert got_missed == missed


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [({"a": {"b": 1}}, {"a.b": 1}), ({"a": [1]}, {"a[0]": 1})],
    ids=["dot-in-key", "bracket-in-key"],
)
def test_field_match_keys_with_separators_are_not_confused(predicted, expected):
    assert field_match(predicted, expected)[0] == 0.0


# --- metric objects --------------------------------------------------------------------------------------


def test_registry_builds_the_structured_metrics():
    for name, cls in [
        ("json_valid", JSONValid),
        ("schema_valid", SchemaValid),
        ("json_field_match", JSONFieldMatch),
        ("format_match", FormatMatch),
    ]:
        metric = create("metric", name)
        assert isinstance(metric, cls)
        assert (metric.name, metric.unit, metric.higher_is_better) == (name, "ratio", True)
    assert create("metric", "schema_valid", format_assertion=True).format_assertion is True


@pytest.mark.parametrize(
    ("answer", "want"),
    [('{"name": "Ada", "age": 36}', 1.0), ("```json\n[]\n```", 1.0), ("I think it's Ada, 36.", 0.0), (None, 0.0)],
)
def test_json_valid(answer, want):
    result = score(JSONValid(), case(schema="person.json"), response(answer))
    assert (result.status, result.value) == ("scored", want)
    if want == 0.0:
        assert result.details["reason"]


def test_json_valid_needs_a_case_that_expects_json():
    c = Case(id="c1", task_type="factual", input="q?", expected=Expected(answer="x"))
    result = score(JSONValid(), c, response('{"a": 1}'))
    assert (result.status, result.reason) == ("unscored", "the case expects no JSON")
    assert score(JSONValid(), case(json_value={"a": 1}), response('{"a": 1}')).value == 1.0


@pytest.mark.parametrize("schema", ["person.json", "person7.json"])
def test_schema_valid_scores(schema):
    c = case(schema=schema)
    ok = score(SchemaValid(), c, response('Sure:\n```json\n{"name": "Ada", "age": 36}\n```'))
    assert (ok.status, ok.value, ok.details["errors"]) == ("scored", 1.0, [])
    bad = score(SchemaValid(), c, response('{"name": "Ada", "age": -1}'))
    assert (bad.status, bad.value) == ("scored", 0.0)
    assert bad.details["errors"] == ["-1 is less than the minimum of 0"]


def test_schema_valid_reports_at_most_five_errors():
    many = '{"name": 1, "age": "x", "email": 3}'
    result = score(SchemaValid(), case(schema="person.json"), response(many))
    assert result.value == 0.0 and 1 <= len(result.details["errors"]) <= 5


@pytest.mark.parametrize("schema", ["person.json", "person7.json"])
def test_schema_valid_format_annotation_vs_assertion(schema):
    c, r = case(schema=schema), response('{"name": "Ada", "age": 36, "email": "not-an-email"}')
    assert score(SchemaValid(), c, r).value == 1.0
    asserted = score(create("metric", "schema_valid", format_assertion=True), c, r)
    assert asserted.value == 0.0
    assert asserted.details["errors"] == ["'not-an-email' is not a 'email'"]


def test_schema_valid_unparseable_answer_scores_zero_with_the_reason():
    result = score(SchemaValid(), case(schema="person.json"), response('{"name": "Ada",}'))
    assert (result.status, result.value) == ("scored", 0.0)
    assert result.details["reason"].startswith("malformed JSON: ")


def test_schema_valid_unscored_without_a_schema():
    c = case(json_value={"a": 1})
    result = score(SchemaValid(), c, response('{"a": 1}'))
    assert (result.status, result.value, result.reason) == ("unscored", None, "the case names no schema")
    assert SchemaValid().undefined_reason(c) == result.reason


def test_schema_valid_unresolvable_ref_is_unscored():
    result = score(SchemaValid(), case(schema="unresolvable.json"), response('{"a": 1}'))
    assert result.status == "unscored"
    assert result.reason.startswith("schema cannot be applied: ")


def test_structured_metrics_use_the_systems_parsed_json_first():
    c = case(schema="person.json", json_value={"name": "Ada", "age": 36})
    parsed = response("not json at all", parsed_json={"name": "ada", "age": 36})
    assert score(JSONValid(), c, parsed).value == 1.0
    assert score(SchemaValid(), c, parsed).value == 1.0
    assert score(JSONFieldMatch(), c, parsed).value == 1.0
    failed = response('{"name": "Ada", "age": 36}', json_error="malformed JSON: recorded by the system")
    for metric in (JSONValid(), SchemaValid(), JSONFieldMatch()):
        result = score(metric, c, failed)
        assert (result.value, result.details["reason"]) == (0.0, "malformed JSON: recorded by the system")


def test_json_field_match_metric():
    c = case(json_value={"name": "Ada", "address": {"city": "London", "zip": "N1"}, "tags": ["a", "b"]})
    answer = 'Here you go: {"name": "ADA", "address": {"city": "London"}, "tags": ["a", "c"]} -- done'
    result = score(JSONFieldMatch(), c, response(answer))
    assert result.status == "scored"
    assert result.value == pytest.approx(3 / 5)  # name, address.city and tags[0] of five leaves
    assert result.details["missed"] == ["/address/zip", "/tags/1"]


def test_json_field_match_unparseable_answer_scores_zero_with_the_reason():
    result = score(JSONFieldMatch(), case(json_value={"a": 1}), response("The answer is a = 1."))
    assert (result.status, result.value) == ("scored", 0.0)
    assert result.details["reason"] == "malformed JSON: Expecting value at line 1 column 1"


def test_json_field_match_unscored_without_expected_json():
    for c in (case(schema="person.json"), Case(id="c1", task_type="f", input="q?", expected=Expected(answer="x"))):
        result = score(JSONFieldMatch(), c, response('{"a": 1}'))
        assert (result.status, result.reason) == ("unscored", "the case has no expected JSON")


@pytest.mark.parametrize(
    ("answer", "want"),
    [("2024-05", 1.0), ("  2024-05\n", 1.0), ("May 2024", 0.0), (None, 0.0), ("2024-05-01", 0.0)],
)
def test_format_match(answer, want):
    result = score(FormatMatch(), case(pattern=r"^\d{4}-\d{2}$"), response(answer))
    assert (result.status, result.value) == ("scored", want)


def test_format_match_unscored_without_a_pattern():
    result = score(FormatMatch(), case(json_value={"a": 1}), response("2024-05"))
    assert (result.status, result.reason) == ("unscored", "the case states no house format")


def test_a_raw_newline_in_a_string_is_invalid_json_for_a_system_but_readable_from_a_judge():
    text = '{"a": "x\ny"}'
    assert extract_json(text) == (None, "malformed JSON: Invalid control character at line 1 column 9")
    assert extract_json(text, strict=False) == ({"a": "x\ny"}, None)
