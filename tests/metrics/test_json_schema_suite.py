"""``schema_errors`` agrees with the official JSON-Schema test suite (draft 7 and draft 2020-12).

The suite lives in ``../shared/datasets/json_schema_test_suite/tests/<draft>/``: the required tests are
run with ``format`` as an annotation (the default), ``optional/format/*`` with ``format_assertion=True``
and the rest of ``optional/`` with the default.  One pytest param per file; inside, every mismatch
(wrong verdict, or an exception) is collected and the list must be empty, apart from the
:data:`KNOWN_GAPS`, which must still fail so that the list stays honest.

Format *assertion* is also checked on the required ``format.json`` of each draft, which does not depend on
``optional/`` (the shared copy has none): every format it names must have a checker (jsonschema[format-nongpl]),
its non-string instances stay valid with assertion on (format applies to strings only), its "invalid ...
string is only an annotation by default" instances (2020-12) become invalid, and hand-written valid and
invalid strings per format (:data:`FORMAT_STRINGS`) are accepted and rejected, and all accepted with
assertion off.

Groups that need remote documents (``http://localhost:1234/...``, served from the suite's ``remotes/``
folder, which the shared copy does not carry) are skipped, as is ``refRemote.json`` as a whole.  The
other absolute URIs in the suite are either ``$id``s declared inside the same schema or the draft
metaschemas, which jsonschema bundles (no network access happens: jsonschema's registry never
retrieves remote references by default, and an unresolvable one would show up as a mismatch here).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ragft_eval.golden import validator_for
from ragft_eval.metrics.structured import schema_errors
from tests.conftest import SHARED_DATASETS, shared_dataset

SUITE = ("json_schema_test_suite", "tests")
DRAFTS = {
    "draft7": "http://json-schema.org/draft-07/schema#",
    "draft2020-12": "https://json-schema.org/draft/2020-12/schema",
}
REMOTE_MARKER = "localhost:1234"
REMOTE_FILES = {"refRemote.json": "every group resolves $ref against remote documents (localhost:1234)"}

_PY_RE_NO_UNICODE_PROPERTIES = (
    "jsonschema evaluates `pattern`/`patternProperties` with Python's re, which has no \\p{...} Unicode "
    "property escapes: schema_errors raises re.error instead of validating (check_schema rejects such a "
    "schema, so a golden set cannot contain one)"
)

# (draft, path under the draft folder) -> {(group description, test description): why it fails}.
KNOWN_GAPS: dict[tuple[str, str], dict[tuple[str, str], str]] = {
    ("draft2020-12", "pattern.json"): {
        ("pattern with Unicode property escape requires unicode mode", "ASCII letters match"): (
            _PY_RE_NO_UNICODE_PROPERTIES
        ),
        ("pattern with Unicode property escape requires unicode mode", "Non-ASCII letters match"): (
            _PY_RE_NO_UNICODE_PROPERTIES
        ),
        ("pattern with Unicode property escape requires unicode mode", "Digits do not match"): (
            _PY_RE_NO_UNICODE_PROPERTIES
        ),
    },
    ("draft2020-12", "patternProperties.json"): {
        ("patternProperties with Unicode property escape", "Unicode letter property name matches"): (
            _PY_RE_NO_UNICODE_PROPERTIES
        ),
        ("patternProperties with Unicode property escape", "Non-letter property name does not match pattern"): (
            _PY_RE_NO_UNICODE_PROPERTIES
        ),
    },
}


@dataclass
class FileOutcome:
    run: int = 0
    skipped: int = 0
    skip_reasons: set[str] = field(default_factory=set)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)


def _kind(rel: str) -> str:
    if rel.startswith("optional/format/"):
        return "optional/format"
    return "optional" if rel.startswith("optional/") else "required"


def _discover() -> list[tuple[str, str]]:
    """(draft, path relative to the draft folder) for every test file; [] when the suite is absent."""
    root = SHARED_DATASETS.joinpath(*SUITE)
    out = []
    for draft in DRAFTS:
        folder = root / draft
        if folder.is_dir():
            out += [(draft, p.relative_to(folder).as_posix()) for p in sorted(folder.rglob("*.json"))]
    return out


FILES = _discover()


def _with_draft(schema: Any, draft: str) -> Any:
    """A copy of a dict schema naming the file's draft in ``$schema`` when it names none; bools as they are."""
    if isinstance(schema, dict) and "$schema" not in schema:
        return {**schema, "$schema": DRAFTS[draft]}
    return schema


def run_file(draft: str, rel: str) -> FileOutcome:
    path = shared_dataset(*SUITE, draft, *rel.split("/"))
    out = FileOutcome()
    groups = json.loads(path.read_text(encoding="utf-8"))
    format_assertion = _kind(rel) == "optional/format"
    for group in groups:
        n = len(group["tests"])
        if Path(rel).name in REMOTE_FILES and _kind(rel) == "required":
            out.skipped += n
            out.skip_reasons.add(REMOTE_FILES[Path(rel).name])
            continue
        if REMOTE_MARKER in json.dumps(group["schema"]):
            out.skipped += n
            out.skip_reasons.add("needs a remote document (localhost:1234)")
            continue
        schema = _with_draft(group["schema"], draft)
        for test in group["tests"]:
            out.run += 1
            key = (group["description"], test["description"])
            try:
                errors = schema_errors(test["data"], schema, format_assertion=format_assertion)
            except Exception as exc:  # a crash is a mismatch too, reported with its type
                out.failures[key] = f"raised {type(exc).__name__}: {exc}"
                continue
            if (not errors) != test["valid"]:
                want = "valid" if test["valid"] else "invalid"
                out.failures[key] = f"expected {want}, got errors={errors[:3]}"
    return out


def _params() -> list[Any]:
    if not FILES:
        return [pytest.param("draft7", "absent", id="suite-absent")]
    return [pytest.param(draft, rel, id=f"{draft}/{rel}") for draft, rel in FILES]


@pytest.mark.datasets
@pytest.mark.parametrize(("draft", "rel"), _params())
def test_file_agrees_with_the_suite(draft: str, rel: str):
    outcome = run_file(draft, rel)
    if outcome.run == 0:
        pytest.skip("; ".join(sorted(outcome.skip_reasons)) or "no tests in this file")
    gaps = KNOWN_GAPS.get((draft, rel), {})
    unexpected = {k: v for k, v in outcome.failures.items() if k not in gaps}
    assert not unexpected, "\n".join(f"{draft}/{rel}: {g} / {t}: {why}" for (g, t), why in unexpected.items())
    fixed = sorted(set(gaps) - set(outcome.failures))
    assert not fixed, f"known gaps that now pass (remove them from KNOWN_GAPS): {fixed}"


@pytest.mark.datasets
def test_known_gaps_name_real_files_and_tests():
    shared_dataset(*SUITE)
    for (draft, rel), gaps in KNOWN_GAPS.items():
        groups = json.loads(shared_dataset(*SUITE, draft, rel).read_text(encoding="utf-8"))
        present = {(g["description"], t["description"]) for g in groups for t in g["tests"]}
        assert set(gaps) <= present, (draft, rel, set(gaps) - present)


# Hand-written (valid, invalid) strings per format: the required format.json has no string instances for
# draft 7 and only one invalid one per format for 2020-12.  email/idn-email: jsonschema only asks for an "@".
FORMAT_STRINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "email": (("ada@example.org", "first.last+tag@sub.example.co.uk"), ("2962", "not-an-email")),
    "idn-email": (("실례@실례.테스트", "ada@example.org"), ("2962", "실례.테스트")),
    "regex": (("^[a-z]+$", "([abc])+\\s+$"), ("^(abc]", "[a-z")),
    "ipv4": (("192.168.0.1", "127.0.0.1"), ("127.0.0.0.1", "256.256.256.256", "1.2.3")),
    "ipv6": (("::1", "2001:db8::8a2e:370:7334"), ("12345::", "1:2:3:4:5:6:7:8:9", "::laptop")),
    "hostname": (
        ("www.example.com", "xn--4gbwdl.xn--wgbh1c"),
        ("-a-host-name-that-starts-with--", "not_a_valid_host_name", "a" * 64 + ".com"),
    ),
    "idn-hostname": (("실례.테스트", "example.com"), ("〮실례.테스트", "-hello.com")),
    "date": (("1963-06-19", "2020-02-29"), ("06/19/1963", "2021-02-29", "1998-1-20")),
    "date-time": (
        ("1963-06-19T08:30:06.283185Z", "1963-06-19T08:30:06+01:00"),
        ("1990-02-31T15:59:60.123-08:00", "06/19/1963 08:30:06 PST", "1963-06-19"),
    ),
    "time": (("08:30:06Z", "08:30:06.283185+01:00"), ("08:30:06 PST", "25:00:00Z", "8:30 AM")),
    "json-pointer": (("/foo/bar~0/baz~1/%a", ""), ("/foo/bar~", "#", "foo")),
    "relative-json-pointer": (("1", "0/foo/bar", "2#"), ("/foo/bar", "-1/foo")),
    "iri": (
        ("http://ƒøø.ßår/?∂éœ=πîx#πîüx", "http://[2001:0db8:85a3:0000:0000:8a2e:0370:7334]"),
        ("http://2001:0db8:85a3:0000:0000:8a2e:0370:7334", "/abc", "http:// space.example"),
    ),
    "iri-reference": (("//ƒøø.ßår/?∂éœ=πîx#πîüx", "#ƒrägmênt"), ("\\\\WINDOWS\\filëßåré", "#ƒräg\\mênt")),
    "uri": (
        ("http://foo.bar/?baz=qux#quux", "urn:isbn:0451450523"),
        ("//foo.bar/?baz=qux#quux", "abc", "http:// shouldfail.com"),
    ),
    "uri-reference": (("/abc", "#fragment", "http://foo.bar/"), ("\\\\WINDOWS\\fileshare", "#frag\\ment")),
    "uri-template": (
        ("http://example.com/dictionary/{term:1}/{term}", "http://example.com/dictionary"),
        ("http://example.com/dictionary/{term:1}/{term",),
    ),
    "uuid": (
        ("2EB8AA08-AA98-11EA-B4AA-73B441D16380", "00000000-0000-0000-0000-000000000000"),
        ("2eb8aa08-aa98-11ea-b4aa-73b441d1638", "2eb8aa08aa9811eab4aa73b441d16380"),
    ),
    "duration": (("P4DT12H30M5S", "PT1H", "P2W"), ("PT1D", "P", "4DT12H30M5S")),
}


@pytest.mark.datasets
@pytest.mark.parametrize("draft", list(DRAFTS))
def test_format_assertion_on_the_suites_format_file(draft: str):
    """With ``format_assertion=True`` every format of the draft's format.json is checked, strings only."""
    groups = json.loads(shared_dataset(*SUITE, draft, "format.json").read_text(encoding="utf-8"))
    formats = [g["schema"]["format"] for g in groups]
    assert len(formats) >= 17, formats  # draft 7 names 17 formats, 2020-12 adds uuid and duration
    checked = validator_for(_with_draft(groups[0]["schema"], draft)).FORMAT_CHECKER.checkers
    unchecked, unwritten = set(formats) - set(checked), set(formats) - set(FORMAT_STRINGS)
    assert not unchecked, f"no format checker installed for {unchecked} (jsonschema[format-nongpl])"
    assert not unwritten, f"write valid and invalid strings for {unwritten} in FORMAT_STRINGS"
    problems = []
    n_rejected = 0
    for group in groups:
        fmt, schema = group["schema"]["format"], _with_draft(group["schema"], draft)
        suite_strings = []
        for test in group["tests"]:
            assert test["valid"], (fmt, test["description"])  # required tests: format is only an annotation
            if isinstance(test["data"], str):  # "invalid <format> string is only an annotation by default"
                suite_strings.append(test["data"])
            elif schema_errors(test["data"], schema, format_assertion=True):
                problems.append(f"{fmt}: non-string {test['data']!r} rejected with assertion on")
        good, bad = FORMAT_STRINGS[fmt]
        for s in good:
            if errors := schema_errors(s, schema, format_assertion=True):
                problems.append(f"{fmt}: valid {s!r} rejected: {errors}")
        for s in (*suite_strings, *bad):
            if schema_errors(s, schema, format_assertion=True):
                n_rejected += 1
            else:
                problems.append(f"{fmt}: invalid {s!r} accepted with assertion on")
            if errors := schema_errors(s, schema):
                problems.append(f"{fmt}: {s!r} rejected with assertion off (format is an annotation): {errors}")
    assert not problems, "\n".join(f"{draft}: {p}" for p in problems)
    assert n_rejected >= 2 * len(formats)


@pytest.mark.datasets
def test_summary_counts_per_draft(capsys):
    """Counts of tests run, skipped and known gaps per draft, printed even without ``-s``."""
    shared_dataset(*SUITE)
    counts: dict[str, Counter[str]] = {d: Counter() for d in DRAFTS}
    for draft, rel in FILES:
        outcome = run_file(draft, rel)
        counts[draft]["files"] += 1
        counts[draft]["run"] += outcome.run
        counts[draft]["skipped"] += outcome.skipped
        counts[draft]["known_gaps"] += len(KNOWN_GAPS.get((draft, rel), {}))
        counts[draft][f"run:{_kind(rel)}"] += outcome.run
    with capsys.disabled():
        for draft, c in counts.items():
            # the shared copy may lack optional/: said here rather than by a test that always skips
            absent = [f"{k}/" for k in ("optional", "optional/format") if not c[f"run:{k}"]]
            note = f"; not in the shared copy: {', '.join(absent)} (see the format.json test)" if absent else ""
            print(
                f"\nJSON-Schema suite {draft}: files={c['files']} run={c['run']} skipped={c['skipped']} "
                f"known_gaps={c['known_gaps']} (required={c['run:required']}, optional={c['run:optional']}, "
                f"optional/format={c['run:optional/format']}){note}"
            )
    for draft, c in counts.items():
        assert c["run"] > 500, (draft, c)  # the required tests alone are ~900 (draft 7) and ~1,300 (2020-12)
        assert c["skipped"] < c["run"] / 5, (draft, c)
