"""``schema_errors`` agrees with the official JSON-Schema test suite (draft 7 and draft 2020-12).

The suite lives in ``../shared/datasets/json_schema_test_suite/tests/<draft>/``: the required tests are
run with ``format`` as an annotation (the default), ``optional/format/*`` with ``format_assertion=True``
and the rest of ``optional/`` with the default.  One pytest param per file; inside, every mismatch
(wrong verdict, or an exception) is collected and the list must be empty, apart from the
:data:`KNOWN_GAPS`, which must still fail so that the list stays honest.

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


@pytest.mark.datasets
@pytest.mark.parametrize("kind", ["optional", "optional/format"])
def test_optional_folders_present_or_skipped(kind: str):
    """The optional tests run when the shared copy carries them; say so plainly when it does not."""
    shared_dataset(*SUITE)
    if not any(_kind(rel) == kind for _, rel in FILES):
        pytest.skip(f"the shared copy of the suite has no {kind}/ folder for {', '.join(DRAFTS)}")


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
            print(
                f"\nJSON-Schema suite {draft}: files={c['files']} run={c['run']} skipped={c['skipped']} "
                f"known_gaps={c['known_gaps']} (required={c['run:required']}, optional={c['run:optional']}, "
                f"optional/format={c['run:optional/format']})"
            )
    for draft, c in counts.items():
        assert c["run"] > 500, (draft, c)  # the required tests alone are ~900 (draft 7) and ~1,300 (2020-12)
        assert c["skipped"] < c["run"] / 5, (draft, c)
